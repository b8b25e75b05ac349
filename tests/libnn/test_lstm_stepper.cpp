// Tests of nn::LSTMStepper (libnn/modules/lstm_stepper.hpp) and its float16 conversions.
//
// Oracles: the LSTM module stepped with T = 1 (float32 weights: the same bits); the LSTM
// module whose weights were rounded to half by this file's own rounding (written with
// double arithmetic and std::nearbyint, independently of the library's bit manipulation,
// and itself checked against known values) for float16 weights; the stepper's step() fed
// the embedding rows for step_tokens().
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "cpu/lstm_gemv.hpp"
#include "libnn/autograd.hpp"
#include "libnn/cpu/gemm.hpp"
#include "libnn/error.hpp"
#include "libnn/modules/embedding.hpp"
#include "libnn/modules/lstm.hpp"
#include "libnn/modules/lstm_stepper.hpp"
#include "libnn/random.hpp"

#include "thread_scope.hpp"

namespace {

using nn::Tensor;
using nn::cpu::lstm_detail::float_to_half;
using nn::cpu::lstm_detail::half_to_float;

// --- the test's own rounding to half -----------------------------------------------------

// The value of x rounded to the nearest IEEE binary16 (ties to even), as a float: the
// quantum at x's binade is 2^(e-11) for normal halves (11 significant bits) and 2^-24 for
// subnormals; x / quantum is exact in double and std::nearbyint rounds ties to even (the
// default rounding mode). Overflow (|x| >= 65520, the midpoint above 65504) gives inf.
float round_half(float x) {
  if (std::isnan(x)) return x;
  const double a = std::fabs(static_cast<double>(x));
  if (a >= 65520.0) return std::copysign(std::numeric_limits<float>::infinity(), x);
  if (a == 0.0) return x;
  int e = 0;
  std::frexp(a, &e);  // a = f * 2^e, f in [0.5, 1)
  const double quantum = std::ldexp(1.0, std::max(e - 11, -24));
  const double r = std::nearbyint(a / quantum) * quantum;
  return static_cast<float>(std::copysign(r, static_cast<double>(x)));
}

Tensor round_half(const Tensor& t) {
  std::vector<float> v = t.to_vector<float>();
  for (float& x : v) x = round_half(x);
  return nn::from_vector(v, t.sizes());
}

float bits_to_float(std::uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

TEST(HalfConversion, KnownValues) {
  struct Known {
    float value;
    std::uint16_t half;
  };
  const Known known[] = {
      {0.0f, 0x0000},
      {-0.0f, 0x8000},
      {1.0f, 0x3C00},
      {-2.0f, 0xC000},
      {0.5f, 0x3800},
      {65504.0f, 0x7BFF},                     // the largest half
      {65519.99f, 0x7BFF},                    // just below the midpoint to infinity
      {65520.0f, 0x7C00},                     // the midpoint: ties to even = infinity
      {1e6f, 0x7C00},
      {std::ldexp(1.0f, -14), 0x0400},        // the smallest normal
      {std::ldexp(1.0f, -24), 0x0001},        // the smallest subnormal
      {std::ldexp(1.0f, -25), 0x0000},        // half of it: a tie, to even (zero)
      {std::ldexp(1.5f, -25), 0x0001},        // above the tie
      {std::ldexp(3.0f, -25), 0x0002},        // 1.5 * 2^-24: a tie, to even (2)
      {std::ldexp(1023.0f, -24), 0x03FF},     // the largest subnormal
      {std::ldexp(2047.0f, -25), 0x0400},     // rounds up into the smallest normal
      {1.0f + std::ldexp(1.0f, -11), 0x3C00}, // a tie between 1 and 1 + 2^-10: to even (1)
      {1.0f + 3 * std::ldexp(1.0f, -11), 0x3C02},  // a tie: to even (1 + 2^-9)
      {1.0f + std::ldexp(1.0f, -11) + std::ldexp(1.0f, -20), 0x3C01},  // above the tie
      {0.1f, 0x2E66},
      {1.0f / 3.0f, 0x3555},
      {std::numeric_limits<float>::infinity(), 0x7C00},
      {-std::numeric_limits<float>::infinity(), 0xFC00},
  };
  for (const Known& k : known) {
    EXPECT_EQ(float_to_half(k.value), k.half) << "float_to_half(" << k.value << ")";
    // The test's rounding agrees, and half_to_float gives back the rounded value.
    EXPECT_EQ(half_to_float(k.half), round_half(k.value)) << "value " << k.value;
  }
  EXPECT_EQ(half_to_float(0x3555), 0.333251953125f);
  EXPECT_EQ(half_to_float(0x0001), std::ldexp(1.0f, -24));
  const std::uint16_t nan = float_to_half(std::numeric_limits<float>::quiet_NaN());
  EXPECT_EQ(nan & 0x7C00, 0x7C00);
  EXPECT_NE(nan & 0x03FF, 0);
  EXPECT_TRUE(std::isnan(half_to_float(nan)));
}

// Every half converts to a float and back unchanged; random floats over the whole range
// (subnormal halves, overflow, ties) round as the test's rounding does.
TEST(HalfConversion, AgreesWithIndependentRounding) {
  for (std::uint32_t h = 0; h < 0x10000; ++h) {
    const float f = half_to_float(static_cast<std::uint16_t>(h));
    if (std::isnan(f)) continue;
    ASSERT_EQ(float_to_half(f), h) << "half 0x" << std::hex << h;
  }
  std::mt19937 rng(7);
  std::uniform_int_distribution<std::uint32_t> exponent(100, 145), mantissa(0, 0x7FFFFF), bit(0, 1);
  for (int i = 0; i < 200000; ++i) {
    std::uint32_t m = mantissa(rng);
    if (i % 4 == 0) m = (m & ~0x1FFFu) | 0x1000u;  // an exact tie at normal halves
    const std::uint32_t bits = (bit(rng) << 31) | (exponent(rng) << 23) | m;
    const float x = bits_to_float(bits);
    ASSERT_EQ(half_to_float(float_to_half(x)), round_half(x)) << "x = " << x;
  }
}

// --- the stepper against the LSTM module ---------------------------------------------------

class IsaScope {
 public:
  explicit IsaScope(nn::cpu::GemmIsa isa) { nn::cpu::set_gemm_isa(isa); }
  ~IsaScope() { nn::cpu::set_gemm_isa(nn::cpu::GemmIsa::Auto); }
  IsaScope(const IsaScope&) = delete;
  IsaScope& operator=(const IsaScope&) = delete;
};

struct Config {
  std::int64_t I, H, L, B;
  bool bias = true;
};

std::string describe(const Config& c) {
  return "I=" + std::to_string(c.I) + " H=" + std::to_string(c.H) + " L=" + std::to_string(c.L) +
         " B=" + std::to_string(c.B) + (c.bias ? "" : " no bias");
}

std::unique_ptr<nn::LSTM> make_lstm(const Config& c, std::uint64_t seed) {
  nn::Generator gen(seed);
  return std::make_unique<nn::LSTM>(
      nn::LSTMOptions(c.I, c.H).num_layers(c.L).bias(c.bias).generator(&gen));
}

// A copy of `lstm` whose weight matrices are rounded to half (the oracle of float16).
std::unique_ptr<nn::LSTM> rounded_copy(const nn::LSTM& lstm, std::uint64_t seed) {
  Config c{lstm.options.input_size(), lstm.options.hidden_size(), lstm.options.num_layers(), 1,
           lstm.options.bias()};
  std::unique_ptr<nn::LSTM> copy = make_lstm(c, seed);
  nn::NoGradGuard no_grad;
  for (std::size_t k = 0; k < lstm.weight_ih.size(); ++k) {
    copy->weight_ih[k].copy_(round_half(lstm.weight_ih[k]));
    copy->weight_hh[k].copy_(round_half(lstm.weight_hh[k]));
    if (c.bias) {
      copy->bias_ih[k].copy_(lstm.bias_ih[k]);
      copy->bias_hh[k].copy_(lstm.bias_hh[k]);
    }
  }
  return copy;
}

// The inputs of `steps` time steps, each (B,I).
std::vector<Tensor> inputs(const Config& c, int steps, std::uint64_t seed) {
  nn::Generator gen(seed);
  std::vector<Tensor> xs;
  for (int t = 0; t < steps; ++t) xs.push_back(nn::randn({c.B, c.I}, &gen));
  return xs;
}

// Steps `module` (T = 1, state carried) and `stepper` side by side; compares the output and
// both states after every step, exactly (tolerance 0) or within atol + rtol |want|.
void compare(nn::LSTM& module, const nn::LSTMStepper& stepper, const std::vector<Tensor>& xs,
             const std::string& what, double tolerance) {
  nn::NoGradGuard no_grad;
  std::optional<nn::LSTMState> module_state;
  nn::LSTMState state;
  for (std::size_t t = 0; t < xs.size(); ++t) {
    auto [y, next] = module.forward(xs[t].unsqueeze(0), module_state);
    module_state = next;
    const Tensor h = stepper.step(xs[t], state);
    const std::string at = what + ", step " + std::to_string(t);
    const std::pair<Tensor, Tensor> pairs[] = {{h, y.squeeze(0)},
                                               {std::get<0>(state), std::get<0>(next)},
                                               {std::get<1>(state), std::get<1>(next)}};
    for (const auto& [got, want] : pairs) {
      ASSERT_EQ(got.sizes(), want.sizes()) << at;
      const std::vector<float> g = got.to_vector<float>(), w = want.to_vector<float>();
      for (std::size_t i = 0; i < g.size(); ++i) {
        if (tolerance == 0.0) {
          ASSERT_EQ(g[i], w[i]) << at << ", element " << i << ": not bit-identical";
        } else {
          ASSERT_LE(std::abs(g[i] - w[i]), tolerance * (1.0 + std::abs(w[i])))
              << at << ", element " << i;
        }
      }
    }
  }
}

const Config kConfigs[] = {
    {7, 12, 3, 1},  {7, 12, 3, 3},        {20, 33, 2, 1}, {20, 33, 2, 3, false},
    {33, 17, 1, 4}, {96, 160, 2, 1}, {128, 256, 2, 3},  // the last two split between threads
};

TEST(LSTMStepper, Float32IsTheModuleBitForBit) {
  for (const Config& c : kConfigs) {
    const std::unique_ptr<nn::LSTM> lstm_ptr = make_lstm(c, 1);
    nn::LSTM& lstm = *lstm_ptr;
    const nn::LSTMStepper stepper(lstm);
    EXPECT_EQ(stepper.weight_dtype(), nn::DType::Float32);
    compare(lstm, stepper, inputs(c, 6, 2), "float32 " + describe(c), 0.0);
  }
}

// Above kGemvMaxBatch the module runs the GEMM path (another summation order), the stepper
// groups of 4 rows: equal up to float32 rounding.
TEST(LSTMStepper, Float32LargeBatch) {
  const Config c{20, 33, 2, 9};
  const std::unique_ptr<nn::LSTM> lstm_ptr = make_lstm(c, 3);
  nn::LSTM& lstm = *lstm_ptr;
  compare(lstm, nn::LSTMStepper(lstm), inputs(c, 5, 4), "float32 " + describe(c), 2e-6);
}

TEST(LSTMStepper, Float16IsTheRoundedModule) {
  for (const Config& c : kConfigs) {
    const std::unique_ptr<nn::LSTM> lstm_ptr = make_lstm(c, 5);
    nn::LSTM& lstm = *lstm_ptr;
    const std::unique_ptr<nn::LSTM> rounded = rounded_copy(lstm, 5);
    const nn::LSTMStepper stepper(lstm, nn::LSTMStepperOptions().weight_dtype(nn::DType::Float16));
    EXPECT_EQ(stepper.weight_dtype(), nn::DType::Float16);
    // The same float32 arithmetic on the same (rounded) values: the same bits.
    compare(*rounded, stepper, inputs(c, 6, 6), "float16 " + describe(c), 0.0);
  }
}

// The portable kernels (no AVX-512: the half conversion in C++) give the same results as
// the module on the same kernel set.
TEST(LSTMStepper, PortableKernels) {
  IsaScope generic(nn::cpu::GemmIsa::Generic);
  for (const Config& c : {kConfigs[1], kConfigs[3], kConfigs[5]}) {
    const std::unique_ptr<nn::LSTM> lstm_ptr = make_lstm(c, 7);
    nn::LSTM& lstm = *lstm_ptr;
    const std::unique_ptr<nn::LSTM> rounded = rounded_copy(lstm, 7);
    compare(lstm, nn::LSTMStepper(lstm), inputs(c, 4, 8), "generic float32 " + describe(c), 0.0);
    compare(*rounded, nn::LSTMStepper(lstm, nn::LSTMStepperOptions().weight_dtype(nn::DType::Float16)),
            inputs(c, 4, 8), "generic float16 " + describe(c), 0.0);
  }
}

TEST(LSTMStepper, Float16IsNotFloat32) {
  const Config c{20, 33, 2, 1};
  const std::unique_ptr<nn::LSTM> lstm_ptr = make_lstm(c, 9);
  nn::LSTM& lstm = *lstm_ptr;
  const Tensor x = inputs(c, 1, 10)[0];
  nn::LSTMState s32, s16;
  const std::vector<float> h32 = nn::LSTMStepper(lstm).step(x, s32).to_vector<float>();
  const std::vector<float> h16 =
      nn::LSTMStepper(lstm, nn::LSTMStepperOptions().weight_dtype(nn::DType::Float16))
          .step(x, s16).to_vector<float>();
  double worst = 0.0;
  for (std::size_t i = 0; i < h32.size(); ++i) worst = std::max(worst, double(std::abs(h32[i] - h16[i])));
  EXPECT_GT(worst, 0.0);   // the rounding took effect
  EXPECT_LT(worst, 1e-2);  // and is small (weights ~U(-0.17, 0.17), relative error 2^-11)
}

TEST(LSTMStepper, SameBitsWithOneAndTwoThreads) {
  const Config c{128, 256, 2, 3};
  const std::unique_ptr<nn::LSTM> lstm_ptr = make_lstm(c, 11);
  nn::LSTM& lstm = *lstm_ptr;
  for (nn::DType dtype : {nn::DType::Float32, nn::DType::Float16}) {
    const nn::LSTMStepper stepper(lstm, nn::LSTMStepperOptions().weight_dtype(dtype));
    std::vector<float> results[2];
    for (int threads : {1, 2}) {
      test_util::ThreadScope scope(threads);
      nn::LSTMState state;
      Tensor h;
      for (const Tensor& x : inputs(c, 3, 12)) h = stepper.step(x, state);
      results[threads - 1] = h.to_vector<float>();
    }
    EXPECT_EQ(results[0], results[1]) << nn::dtype_name(dtype);
  }
}

// The weights are copied at construction: changing the module afterwards changes nothing.
TEST(LSTMStepper, IsASnapshot) {
  const Config c{7, 12, 2, 1};
  const std::unique_ptr<nn::LSTM> lstm_ptr = make_lstm(c, 13);
  nn::LSTM& lstm = *lstm_ptr;
  const nn::LSTMStepper stepper(lstm);
  const Tensor x = inputs(c, 1, 14)[0];
  nn::LSTMState a, b;
  const std::vector<float> before = stepper.step(x, a).to_vector<float>();
  {
    nn::NoGradGuard no_grad;
    for (Tensor w : lstm.parameters()) w.fill_(0.5);
  }
  EXPECT_EQ(stepper.step(x, b).to_vector<float>(), before);
}

// step_tokens (the embedding folded into layer 0) against step on the embedding rows.
TEST(LSTMStepper, FoldedEmbedding) {
  const Config c{24, 40, 3, 3};
  nn::Generator gen(15);
  nn::Embedding embedding(nn::EmbeddingOptions(11, c.I).generator(&gen));
  const std::unique_ptr<nn::LSTM> lstm_ptr = make_lstm(c, 16);
  nn::LSTM& lstm = *lstm_ptr;
  for (nn::DType dtype : {nn::DType::Float32, nn::DType::Float16}) {
    const auto options = nn::LSTMStepperOptions().weight_dtype(dtype);
    const nn::LSTMStepper folded(embedding, lstm, options);
    const nn::LSTMStepper plain(lstm, options);
    EXPECT_EQ(folded.num_embeddings(), 11);
    EXPECT_EQ(plain.num_embeddings(), 0);
    nn::LSTMState s1, s2;
    for (const std::vector<std::int64_t>& ids :
         std::vector<std::vector<std::int64_t>>{{0, 5, 10}, {3, 3, 1}, {10, 0, 7}}) {
      const Tensor tokens = nn::from_vector(ids, {c.B});
      const Tensor h1 = folded.step_tokens(tokens, s1);
      const Tensor h2 = plain.step(embedding.forward(tokens), s2);
      const std::vector<float> a = h1.to_vector<float>(), b = h2.to_vector<float>();
      for (std::size_t i = 0; i < a.size(); ++i)
        ASSERT_NEAR(a[i], b[i], 2e-6) << nn::dtype_name(dtype) << " element " << i;
    }
  }
}

void expect_error(const std::function<void()>& f, const std::string& needle) {
  try {
    f();
    ADD_FAILURE() << "expected an error containing '" << needle << "'";
  } catch (const nn::Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(LSTMStepper, Errors) {
  const Config c{7, 12, 2, 1};
  const std::unique_ptr<nn::LSTM> lstm_ptr = make_lstm(c, 17);
  nn::LSTM& lstm = *lstm_ptr;
  nn::Embedding embedding(11, 7), wrong_embedding(11, 8);
  const nn::LSTMStepper stepper(lstm), folded(embedding, lstm);
  nn::LSTMState state;
  expect_error([&] { stepper.step(nn::zeros({1, 8}), state); }, "expected x of shape (B,7), got (1,8)");
  expect_error([&] { stepper.step(nn::zeros({7}), state); }, "expected x of shape (B,7), got (7)");
  expect_error([&] { stepper.step(nn::from_vector(std::vector<std::int64_t>(7, 0), {1, 7}), state); },
               "expected x of dtype float32");
  nn::LSTMState bad{nn::zeros({2, 2, 12}), nn::zeros({2, 1, 12})};
  expect_error([&] { stepper.step(nn::zeros({1, 7}), bad); },
               "expected state h of shape (num_layers,B,H) = (2,1,12), got (2,2,12)");
  nn::LSTMState half_state{nn::zeros({2, 1, 12}), Tensor()};
  expect_error([&] { stepper.step(nn::zeros({1, 7}), half_state); }, "expected state c");
  expect_error([&] { stepper.step_tokens(nn::from_vector(std::vector<std::int64_t>{1}, {1}), state); },
               "this stepper has no embedding");
  expect_error([&] { folded.step_tokens(nn::zeros({1}), state); }, "expected tokens of shape (B) and dtype int64");
  expect_error([&] { folded.step_tokens(nn::from_vector(std::vector<std::int64_t>{3, 11}, {2}), state); },
               "expected every index in [0, V) with V = 11, got 11");
  expect_error([&] { nn::LSTMStepper(wrong_embedding, lstm); },
               "expected an embedding of shape (V,7) (the LSTM's input_size), got (11,8)");
  expect_error([&] { nn::LSTMStepper(lstm, nn::LSTMStepperOptions().weight_dtype(nn::DType::Int64)); },
               "expected weight_dtype float32 or float16, got int64");
  // A failed step leaves a good state usable.
  EXPECT_EQ(stepper.step(nn::zeros({1, 7}), state).sizes(), (nn::Shape{1, 12}));
}

// A bidirectional LSTM's reverse direction reads the sequence from its end: it has no
// step-by-step form, so the stepper refuses it, whichever constructor.
TEST(LSTMStepper, RefusesABidirectionalLstm) {
  nn::LSTM bidirectional(nn::LSTMOptions(7, 12).bidirectional(true));
  nn::Embedding embedding(11, 7);
  const std::string needle = "LSTMStepper: expected a unidirectional LSTM, got a bidirectional one";
  expect_error([&] { (void)nn::LSTMStepper(bidirectional); }, needle);
  expect_error([&] { nn::LSTMStepper(embedding, bidirectional); }, needle);
}

}  // namespace
