#include "generate.hpp"

#include <algorithm>
#include <chrono>
#include <optional>
#include <stdexcept>

namespace musegen {

GenerateResult generate(MusicModel& model, const Sequence& primer, const GenerateOptions& options) {
  const StepFormat format = model.config().step();
  const bool roll = format.kind == StepKind::frame;  // frames in, `K` sigmoids out
  const std::int64_t K = format.size;
  if (primer.steps() > 0 && !primer.matches(format)) {
    throw std::invalid_argument(std::string("generate: the primer has ") +
                                (primer.is_frames() ? "frames of " + std::to_string(primer.width) : "tokens") +
                                ", the model takes " + (roll ? "frames of " + std::to_string(K) : "tokens"));
  }
  if (!roll && primer.tokens.empty()) {
    throw std::invalid_argument("generate: token encodings need a primer of at least one token");
  }
  for (std::int32_t t : primer.tokens) {
    if (t < 0 || t >= K) {
      throw std::invalid_argument("generate: primer token " + std::to_string(t) +
                                  " is outside the model's vocabulary of " + std::to_string(K));
    }
  }
  if (options.rule && roll) throw std::invalid_argument("generate: a token rule needs a token model");
  if (model.is_training()) model.eval();  // in eval mode already: only read (threads, generate.hpp)
  nn::NoGradGuard no_grad;

  // Everything the model reads goes where it is; the logits come back to the host every step
  // (the sampling is there), which on a GPU is the one synchronization per step.
  const nn::Device device = model.device();
  GenerateResult result;
  result.primer_steps = primer.steps();
  Sequence& out = result.sequence;
  out = Sequence::empty_of(format, primer.source);
  if (options.keep_primer && primer.steps() > 0) out.append(primer);

  // Feed the primer (all but what predicts the first new step) in one call.
  std::optional<nn::LSTMState> state;
  nn::Tensor next_input;
  if (roll) {
    const std::int64_t n = primer.steps();
    std::vector<float> frames(static_cast<std::size_t>((n + 1) * K), 0.0f);  // zero frame first
    for (std::size_t i = 0; i < primer.frames.size(); ++i) frames[static_cast<std::size_t>(K) + i] = primer.frames[i];
    nn::Tensor all = nn::from_vector(frames, {n + 1, 1, K}, nn::TensorOptions().device(device));
    if (n > 0) {
      auto [logits, s] = model.forward(all.slice(0, 0, n));
      state = s;
    }
    next_input = all.slice(0, n, n + 1);
  } else {
    const std::int64_t n = primer.steps();
    std::vector<std::int64_t> tokens(primer.tokens.begin(), primer.tokens.end());
    nn::Tensor all =
        nn::from_vector(tokens, {n, 1}, nn::TensorOptions(nn::DType::Int64).device(device));
    if (n > 1) {
      auto [logits, s] = model.forward(all.slice(0, 0, n - 1));
      state = s;
    }
    next_input = all.slice(0, n - 1, n);
  }

  // The sampling loop: one LSTM step per new token or frame, on a snapshot of the weights.
  const nn::LSTMStepperOptions stepper_options = nn::LSTMStepperOptions().weight_dtype(options.weights);
  const nn::LSTMStepper stepper = roll ? nn::LSTMStepper(model.lstm(), stepper_options)
                                       : nn::LSTMStepper(*model.embedding(), model.lstm(), stepper_options);
  nn::LSTMState carried = state ? *state : nn::LSTMState{};
  std::vector<std::int32_t> so_far;  // for the rule: the primer's tokens, then the new ones
  std::vector<float> ruled;          // the logits the rule may change
  if (options.rule) so_far.assign(primer.tokens.begin(), primer.tokens.end());

  const auto start = std::chrono::steady_clock::now();
  // On a GPU, plain sampling (no rule, no top-k / top-p) runs whole on the device
  // (nn::LSTMTokenLoop: the same Philox draws, a CUDA graph per 16 tokens), kChunk tokens
  // per trip to the host, where the stop token and the progress are looked at.
  if (!roll && !device.is_cpu() && options.device_sampling && !options.rule &&
      options.sample.top_k == 0 && options.sample.top_p >= 1) {
    if (!(options.sample.temperature > 0))
      throw std::invalid_argument("temperature must be positive");
    constexpr std::int64_t kChunk = 64;
    nn::LSTMTokenLoop loop(
        stepper, model.head(),
        nn::TokenLoopOptions().temperature(options.sample.temperature).seed(options.sample.seed));
    std::int64_t token = primer.tokens.back();
    for (std::int64_t done = 0; done < options.steps;) {
      if (options.stop.stop_requested()) {
        result.stopped = true;
        break;
      }
      const std::int64_t n = std::min(kChunk, options.steps - done);
      const std::vector<std::int64_t> tokens =
          loop.generate(token, carried, n, static_cast<std::uint64_t>(done));
      for (std::int64_t t : tokens) out.tokens.push_back(static_cast<std::int32_t>(t));
      token = tokens.back();
      done += n;
      result.generated = done;
      if (options.progress) options.progress({"generate", done, options.steps});
    }
    result.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return result;
  }
  for (std::int64_t step = 0; step < options.steps; ++step) {
    if (options.stop.stop_requested()) {
      result.stopped = true;
      break;
    }
    nn::Tensor h;
    if (roll) {
      h = stepper.step(model.projection()->forward(next_input.reshape({1, K})), carried);
    } else {
      h = stepper.step_tokens(next_input.reshape({1}), carried);
    }
    nn::Tensor logits = model.head().forward(h);  // (1,K)
    if (!device.is_cpu()) logits = logits.to(nn::Device::cpu());
    const float* data = logits.data_ptr<float>();
    const std::span<const float> row(data, static_cast<std::size_t>(K));
    const auto draw = static_cast<std::uint64_t>(step);
    if (roll) {
      auto frame = sample_frame(row, options.sample, draw);
      out.frames.insert(out.frames.end(), frame.begin(), frame.end());
      std::vector<float> f(frame.begin(), frame.end());
      next_input = nn::from_vector(f, {1, 1, K}, nn::TensorOptions().device(device));
    } else {
      std::int32_t token = TokenRule::kSample;
      if (options.rule) {
        ruled.assign(row.begin(), row.end());
        token = options.rule->next(so_far, ruled);
        if (token == TokenRule::kEnd) {
          result.ended = true;
          break;
        }
        if (token != TokenRule::kSample && (token < 0 || token >= K))
          throw std::logic_error("generate: the rule forced token " + std::to_string(token) + " outside 0.." +
                                 std::to_string(K - 1));
      }
      if (token == TokenRule::kSample) token = sample_token(options.rule ? std::span<const float>(ruled) : row, options.sample, draw);
      if (options.rule) so_far.push_back(token);
      out.tokens.push_back(token);
      next_input = nn::from_vector(std::vector<std::int64_t>{token}, {1, 1},
                                   nn::TensorOptions(nn::DType::Int64).device(device));
    }
    result.generated = step + 1;
    if (options.progress) options.progress({"generate", step + 1, options.steps});
  }
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

}  // namespace musegen
