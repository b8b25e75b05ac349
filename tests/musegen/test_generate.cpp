// Generation: the sampling loop (an nn::LSTMStepper snapshot, one step at a time) produces
// the same piece as a loop written from the definition on the model's own forward (the
// whole history re-run at every step, no state carried), and the same seed gives the same
// piece.
#include <gtest/gtest.h>

#include <libnn/libnn.hpp>

#include "generate.hpp"
#include "model.hpp"
#include "sampling.hpp"

namespace {

using namespace musegen;

MusicModel make_model(Encoding encoding, nn::Generator& g) {
  ModelConfig config;
  config.encoding = encoding;
  config.vocab = encoding == Encoding::roll ? kRollKeys : 23;
  config.embed = 10;
  config.hidden = 16;
  config.layers = 2;
  return MusicModel(config, &g);
}

// The definition: at every step, run the model over the whole sequence so far from a zero
// state and sample from the last position's logits.
Sequence reference_generate(MusicModel& model, const Sequence& primer, std::int64_t steps,
                            const SampleOptions& sample) {
  model.eval();
  nn::NoGradGuard guard;
  const bool roll = model.config().frames();
  const std::int64_t K = model.config().vocab;
  Sequence out = primer;
  for (std::int64_t step = 0; step < steps; ++step) {
    nn::Tensor input;
    std::int64_t T = 0;
    if (roll) {
      T = out.steps() + 1;  // a zero frame first
      std::vector<float> frames(static_cast<std::size_t>(T * K), 0.0f);
      for (std::size_t i = 0; i < out.frames.size(); ++i) frames[static_cast<std::size_t>(K) + i] = out.frames[i];
      input = nn::from_vector(frames, {T, 1, K});
    } else {
      T = out.steps();
      input = nn::from_vector(std::vector<std::int64_t>(out.tokens.begin(), out.tokens.end()), {T, 1});
    }
    auto [logits, state] = model.forward(input);
    auto all = logits.to_vector<float>();
    std::span<const float> last(all.data() + (T - 1) * K, static_cast<std::size_t>(K));
    if (roll) {
      auto frame = sample_frame(last, sample, static_cast<std::uint64_t>(step));
      out.frames.insert(out.frames.end(), frame.begin(), frame.end());
    } else {
      out.tokens.push_back(sample_token(last, sample, static_cast<std::uint64_t>(step)));
    }
  }
  return out;
}

TEST(Generate, StepperLoopMatchesTheDefinition) {
  for (Encoding encoding : {Encoding::events, Encoding::roll}) {
    nn::Generator g(5);
    MusicModel model = make_model(encoding, g);
    Sequence primer = Sequence::empty_of(model.config().step());
    if (encoding == Encoding::roll) {
      primer.frames.assign(3 * kRollKeys, 0);
      primer.frames[40] = primer.frames[88 + 44] = primer.frames[176 + 47] = 1;
    } else {
      primer.tokens = {3, 7, 1};
    }
    GenerateOptions options;
    options.steps = 30;
    options.sample.seed = 17;
    options.sample.temperature = 1.5;  // spread out: many different tokens and keys
    const Sequence want = reference_generate(model, primer, options.steps, options.sample);
    const GenerateResult got = generate(model, primer, options);
    EXPECT_EQ(got.primer_steps, 3);
    EXPECT_EQ(got.sequence.tokens, want.tokens) << encoding_name(encoding);
    EXPECT_EQ(got.sequence.frames, want.frames) << encoding_name(encoding);

    // The same seed again: the same piece; float16 weights: a piece of the right length.
    EXPECT_EQ(generate(model, primer, options).sequence.tokens, got.sequence.tokens);
    options.weights = nn::DType::Float16;
    const GenerateResult half = generate(model, primer, options);
    EXPECT_EQ(half.sequence.steps(), 33);
    EXPECT_EQ(generate(model, primer, options).sequence.frames, half.sequence.frames);
  }
}

TEST(Generate, RollStartsFromSilenceAndTokensNeedAPrimer) {
  nn::Generator g(6);
  MusicModel roll = make_model(Encoding::roll, g);
  GenerateOptions options;
  options.steps = 5;
  EXPECT_EQ(generate(roll, Sequence{}, options).sequence.steps(), 5);
  MusicModel tokens = make_model(Encoding::events, g);
  EXPECT_THROW(generate(tokens, Sequence{}, options), std::invalid_argument);
  Sequence bad;
  bad.tokens = {23};
  EXPECT_THROW(generate(tokens, bad, options), std::invalid_argument);
}

// The rule of nn::LSTMTokenLoop (libnn's batch-1 loop that generate() runs on a GPU) is
// sample_token's, temperature, top-k and top-p: run on the CPU, where the logits are the same
// bits and its sampler does musegen's steps in musegen's order, it draws generate()'s tokens.
TEST(Generate, DeviceLoopsRuleIsTheHostSamplers) {
  nn::Generator g(8);
  MusicModel model = make_model(Encoding::events, g);
  model.eval();
  Sequence primer = Sequence::empty_of(model.config().step());
  primer.tokens = {4};  // one token: no primer forward, the loop starts from zeros
  struct Case {
    std::int64_t top_k;
    double top_p;
  };
  for (const Case c : {Case{0, 1.0}, Case{5, 1.0}, Case{0, 0.8}, Case{8, 0.9}}) {
    GenerateOptions options;
    options.steps = 200;
    options.sample.seed = 23;
    options.sample.temperature = 1.3;
    options.sample.top_k = c.top_k;
    options.sample.top_p = c.top_p;
    const GenerateResult host = generate(model, primer, options);
    nn::LSTMTokenLoop loop(
        nn::LSTMStepper(*model.embedding(), model.lstm()), model.head(),
        nn::TokenLoopOptions().temperature(1.3).seed(23).top_k(c.top_k).top_p(c.top_p));
    nn::LSTMState state;
    const std::vector<std::int64_t> tokens = loop.generate(4, state, 200);
    ASSERT_EQ(host.sequence.tokens.size(), 201u);
    for (std::size_t i = 0; i < tokens.size(); ++i)
      ASSERT_EQ(tokens[i], host.sequence.tokens[i + 1])
          << "token " << i << ", top_k " << c.top_k << " top_p " << c.top_p;
  }
}

}  // namespace
