// Tests of nn::LSTMTokenLoop (libnn/modules/lstm_stepper.hpp) on the CPU: the sampling rule
// (src/kernels/token_loop.hpp) against the exact distribution (chi-square over many draws)
// and its uniform against nn::philox4x32; the loop against a hand-written one made of the
// stepper, the head module and the rule; two calls continuing one another; the argument
// checks. The CUDA backend against this one: tests/libnn/cuda/test_cuda_lstm_stepper.cpp.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "kernels/token_loop.hpp"
#include "libnn/autograd.hpp"
#include "libnn/error.hpp"
#include "libnn/modules/embedding.hpp"
#include "libnn/modules/linear.hpp"
#include "libnn/modules/lstm.hpp"
#include "libnn/modules/lstm_stepper.hpp"
#include "libnn/ops.hpp"
#include "libnn/random.hpp"

namespace {

using nn::Tensor;

// softmax(logits / temperature) in long double, independently of the rule's code.
std::vector<double> softmax(const std::vector<float>& logits, double temperature) {
  long double max = logits[0], total = 0;
  for (float v : logits) max = std::max(max, static_cast<long double>(v));
  std::vector<long double> e;
  for (float v : logits) {
    e.push_back(std::exp((static_cast<long double>(v) - max) / temperature));
    total += e.back();
  }
  std::vector<double> p;
  for (long double v : e) p.push_back(static_cast<double>(v / total));
  return p;
}

// Pearson's chi-square of `counts` against `p` (every expected count >= 5 here).
double chi_square(const std::vector<std::int64_t>& counts, const std::vector<double>& p,
                  std::int64_t draws) {
  double chi2 = 0;
  for (std::size_t i = 0; i < p.size(); ++i) {
    const double expected = p[i] * static_cast<double>(draws);
    chi2 += (counts[i] - expected) * (counts[i] - expected) / expected;
  }
  return chi2;
}

// The 99.9% quantile of chi-square with 9 degrees of freedom: a correct sampler fails with
// probability 0.001 at a given seed (and the seeds are fixed, so it either always passes or
// never does); a sampler off by a few percent on one token fails.
constexpr double kChi2Df9 = 27.88;

TEST(TokenLoopRule, UniformIsPhiloxsFirstTwoWords) {
  for (std::uint64_t seed : {1ULL, 12345ULL}) {
    for (std::uint64_t draw : {0ULL, 1ULL, 999ULL}) {
      const auto r = nn::philox4x32(seed, draw, 0);
      const std::uint64_t bits =
          ((static_cast<std::uint64_t>(r[0]) << 21) ^ (r[1] >> 11)) & ((1ULL << 53) - 1);
      EXPECT_EQ(nn::kernels::token_uniform(seed, draw), std::ldexp(static_cast<double>(bits), -53));
    }
  }
}

TEST(TokenLoopRule, DrawsFollowTheSoftmax) {
  const std::vector<float> logits = {0.3f, -1.2f, 2.0f, 0.0f, 0.7f, -0.4f, 1.1f, -2.0f, 0.5f, 1.6f};
  for (double temperature : {1.0, 0.6, 2.5}) {
    const std::vector<double> p = softmax(logits, temperature);
    const std::int64_t draws = 20000;
    std::vector<std::int64_t> counts(logits.size(), 0);
    for (std::int64_t d = 0; d < draws; ++d) {
      const std::int64_t i =
          nn::kernels::sample_index(logits.data(), 10, temperature, 0, 1.0,
                                    nn::kernels::token_uniform(7, static_cast<std::uint64_t>(d)));
      ASSERT_GE(i, 0);
      ASSERT_LT(i, 10);
      ++counts[static_cast<std::size_t>(i)];
    }
    EXPECT_LT(chi_square(counts, p, draws), kChi2Df9) << "temperature " << temperature;
  }
}

// Top-k then top-p: the kept tokens (by decreasing probability) renormalized, computed here
// from the exact softmax; the rest never drawn.
TEST(TokenLoopRule, TopKAndTopPKeepTheMostLikely) {
  const std::vector<float> logits = {0.3f, -1.2f, 2.0f, 0.0f, 0.7f, -0.4f, 1.1f, -2.0f, 0.5f, 1.6f};
  const std::vector<double> p = softmax(logits, 1.0);
  std::vector<std::size_t> order(p.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return p[a] > p[b]; });
  struct Case {
    std::int64_t top_k;
    double top_p;
    std::size_t keep;  // how many of `order` stay
  };
  // p sorted: 2 (2.0), 9 (1.6), 6 (1.1), 4 (0.7), 8 (0.5), ...: the top 3 hold ~0.62 of the mass
  double top3 = p[order[0]] + p[order[1]] + p[order[2]], top2 = p[order[0]] + p[order[1]];
  ASSERT_GT(top3, 0.6);
  ASSERT_LT(top2, 0.6);
  for (const Case& c : {Case{3, 1.0, 3}, Case{0, 0.6, 3}, Case{2, 0.6, 2}, Case{5, 0.999, 5}}) {
    std::vector<double> want(p.size(), 0.0);
    double mass = 0;
    for (std::size_t r = 0; r < c.keep; ++r) mass += p[order[r]];
    for (std::size_t r = 0; r < c.keep; ++r) want[order[r]] = p[order[r]] / mass;
    const std::int64_t draws = 20000;
    std::vector<std::int64_t> counts(p.size(), 0);
    for (std::int64_t d = 0; d < draws; ++d) {
      ++counts[static_cast<std::size_t>(nn::kernels::sample_index(
          logits.data(), 10, 1.0, c.top_k, c.top_p,
          nn::kernels::token_uniform(11, static_cast<std::uint64_t>(d))))];
    }
    std::vector<std::int64_t> kept_counts;
    std::vector<double> kept_p;
    for (std::size_t i = 0; i < p.size(); ++i) {
      if (want[i] == 0) {
        EXPECT_EQ(counts[i], 0) << "token " << i << " is not kept (top_k " << c.top_k << ")";
      } else {
        kept_counts.push_back(counts[i]);
        kept_p.push_back(want[i]);
      }
    }
    ASSERT_EQ(kept_p.size(), c.keep);
    // 99.9% quantiles of chi-square with keep - 1 = 1, 2, 4 degrees of freedom.
    const double limit = c.keep == 2 ? 10.83 : c.keep == 3 ? 13.82 : 18.47;
    EXPECT_LT(chi_square(kept_counts, kept_p, draws), limit)
        << "top_k " << c.top_k << " top_p " << c.top_p;
  }
}

TEST(TokenLoopRule, Boundaries) {
  const std::vector<float> logits = {0.0f, 0.0f, 0.0f, 0.0f};  // p = 1/4 each
  EXPECT_EQ(nn::kernels::sample_index(logits.data(), 4, 1.0, 0, 1.0, 0.0), 0);
  EXPECT_EQ(nn::kernels::sample_index(logits.data(), 4, 1.0, 0, 1.0, 0.2499), 0);
  EXPECT_EQ(nn::kernels::sample_index(logits.data(), 4, 1.0, 0, 1.0, 0.25),
            1);  // u * total = 1 = cum_0
  EXPECT_EQ(nn::kernels::sample_index(logits.data(), 4, 1.0, 0, 1.0, 0.999), 3);
  // A token whose probability underflows to 0 is never drawn, even at u -> 1.
  const std::vector<float> skewed = {0.0f, -1e4f};
  EXPECT_EQ(nn::kernels::sample_index(skewed.data(), 2, 1.0, 0, 1.0, 1.0 - 0x1.0p-53), 0);
}

struct Model {
  nn::Embedding embedding;
  nn::LSTM lstm;
  nn::Linear head;
};

Model make_model(std::int64_t V, std::int64_t I, std::int64_t H, std::int64_t L, std::int64_t K,
                 std::uint64_t seed) {
  nn::Generator gen(seed);
  return Model{nn::Embedding(nn::EmbeddingOptions(V, I).generator(&gen)),
               nn::LSTM(nn::LSTMOptions(I, H).num_layers(L).generator(&gen)),
               nn::Linear(nn::LinearOptions(H, K).generator(&gen))};
}

// The loop written out with the modules: step_tokens, head.forward, the rule.
std::vector<std::int64_t> by_hand(const nn::LSTMStepper& stepper, const nn::Linear& head,
                                  std::int64_t token, nn::LSTMState& state, std::int64_t n,
                                  double temperature, std::uint64_t seed) {
  nn::NoGradGuard no_grad;
  std::vector<std::int64_t> out;
  for (std::int64_t s = 0; s < n; ++s) {
    const Tensor h = stepper.step_tokens(
        nn::from_vector(std::vector<std::int64_t>{token}, {1}, nn::TensorOptions(nn::DType::Int64)),
        state);
    const std::vector<float> logits = head.forward(h).to_vector<float>();
    token = nn::kernels::sample_index(
        logits.data(), static_cast<std::int64_t>(logits.size()), temperature, 0, 1.0,
        nn::kernels::token_uniform(seed, static_cast<std::uint64_t>(s)));
    out.push_back(token);
  }
  return out;
}

TEST(LSTMTokenLoop, IsTheStepperHeadAndRule) {
  for (nn::DType dtype : {nn::DType::Float32, nn::DType::Float16}) {
    Model m = make_model(20, 8, 16, 2, 20, 31);
    const nn::LSTMStepper stepper(m.embedding, m.lstm,
                                  nn::LSTMStepperOptions().weight_dtype(dtype));
    nn::LSTMTokenLoop loop(stepper, m.head, nn::TokenLoopOptions().temperature(0.8).seed(5));
    EXPECT_EQ(loop.device(), nn::Device::cpu());
    nn::LSTMState s_loop, s_hand;
    const std::vector<std::int64_t> got = loop.generate(3, s_loop, 40);
    EXPECT_EQ(loop.how(), "cpu");
    const std::vector<std::int64_t> want = by_hand(stepper, m.head, 3, s_hand, 40, 0.8, 5);
    EXPECT_EQ(got, want);
    // Same kernels, same order: the same state bits.
    EXPECT_EQ(std::get<0>(s_loop).to_vector<float>(), std::get<0>(s_hand).to_vector<float>());
    EXPECT_EQ(std::get<1>(s_loop).to_vector<float>(), std::get<1>(s_hand).to_vector<float>());
  }
}

TEST(LSTMTokenLoop, CallsContinueOneAnother) {
  Model m = make_model(12, 6, 10, 1, 12, 32);
  const nn::LSTMStepper stepper(m.embedding, m.lstm);
  nn::LSTMTokenLoop loop(stepper, m.head, nn::TokenLoopOptions().seed(9));
  nn::LSTMState whole, parts;
  const std::vector<std::int64_t> all = loop.generate(4, whole, 25);
  std::vector<std::int64_t> joined = loop.generate(4, parts, 10);
  const std::vector<std::int64_t> rest = loop.generate(joined.back(), parts, 15, 10);
  joined.insert(joined.end(), rest.begin(), rest.end());
  EXPECT_EQ(joined, all);
  EXPECT_EQ(std::get<1>(parts).to_vector<float>(), std::get<1>(whole).to_vector<float>());
  EXPECT_TRUE(loop.generate(4, parts, 0).empty());
}

// One step from the same state, many draws: the tokens follow softmax(head(h) / T).
TEST(LSTMTokenLoop, OneStepDrawsFollowTheModel) {
  Model m = make_model(10, 6, 8, 2, 10, 33);
  const nn::LSTMStepper stepper(m.embedding, m.lstm);
  const double temperature = 1.5;
  nn::LSTMTokenLoop loop(stepper, m.head, nn::TokenLoopOptions().temperature(temperature).seed(3));
  nn::LSTMState s;
  nn::NoGradGuard no_grad;
  const Tensor h = stepper.step_tokens(
      nn::from_vector(std::vector<std::int64_t>{2}, {1}, nn::TensorOptions(nn::DType::Int64)), s);
  const std::vector<double> p = softmax(m.head.forward(h).to_vector<float>(), temperature);
  const std::int64_t draws = 5000;
  std::vector<std::int64_t> counts(10, 0);
  for (std::int64_t d = 0; d < draws; ++d) {
    nn::LSTMState fresh;
    ++counts[static_cast<std::size_t>(
        loop.generate(2, fresh, 1, static_cast<std::uint64_t>(d))[0])];
  }
  EXPECT_LT(chi_square(counts, p, draws), kChi2Df9);
}

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const nn::Error& e) {
    return e.what();
  }
  return "<no error>";
}

TEST(LSTMTokenLoop, ArgumentErrors) {
  Model m = make_model(12, 6, 10, 2, 12, 34);
  const nn::LSTMStepper with(m.embedding, m.lstm), without(m.lstm);
  auto has = [](const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
  };
  EXPECT_TRUE(has(error_of([&] { nn::LSTMTokenLoop(without, m.head); }), "with an Embedding"));
  nn::Linear wrong(nn::LinearOptions(7, 12));
  EXPECT_TRUE(has(error_of([&] { nn::LSTMTokenLoop(with, wrong); }), "Linear(10, K)"));
  EXPECT_TRUE(
      has(error_of([&] { nn::LSTMTokenLoop(with, m.head, nn::TokenLoopOptions().temperature(0)); }),
          "positive finite temperature"));
  EXPECT_TRUE(has(
      error_of([&] { nn::LSTMTokenLoop(with, m.head, nn::TokenLoopOptions().graph_tokens(-1)); }),
      "graph_tokens >= 0"));
  EXPECT_TRUE(
      has(error_of([&] { nn::LSTMTokenLoop(with, m.head, nn::TokenLoopOptions().top_k(-1)); }),
          "top_k >= 0"));
  EXPECT_TRUE(
      has(error_of([&] { nn::LSTMTokenLoop(with, m.head, nn::TokenLoopOptions().top_p(0)); }),
          "top_p in (0, 1]"));
  EXPECT_TRUE(
      has(error_of([&] { nn::LSTMTokenLoop(with, m.head, nn::TokenLoopOptions().top_p(1.5)); }),
          "top_p in (0, 1]"));
  nn::LSTMTokenLoop loop(with, m.head);
  nn::LSTMState s;
  EXPECT_TRUE(has(error_of([&] { loop.generate(12, s, 1); }), "token in [0,12)"));
  EXPECT_TRUE(has(error_of([&] { loop.generate(-1, s, 1); }), "got -1"));
  EXPECT_TRUE(has(error_of([&] { loop.generate(0, s, -2); }), "n >= 0"));
  nn::LSTMState bad{nn::zeros({2, 2, 10}), nn::zeros({2, 2, 10})};
  EXPECT_TRUE(has(error_of([&] { loop.generate(0, bad, 1); }), "(num_layers,1,H) = (2,1,10)"));
}

}  // namespace
