// Tests of the vectorized transcendentals (src/cpu/vec_math.hpp) for every implementation
// the CPU can run (the others are skipped with a message): errors in ulp against the double
// result of std:: over every 97th float bit pattern of the range where the function is not
// constant (with both signs), special values exactly as std::, the edges of the exp range
// (overflow at 88.72, subnormal results down to -103.97), arrays of 0..40 elements (the
// remainder path), and in-place calls.
#include "cpu/vec_math.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using nn::cpu::VecIsa;
using ArrayFn = void (*)(const float*, float*, std::int64_t);

constexpr VecIsa kIsas[] = {VecIsa::Avx512, VecIsa::Avx2, VecIsa::Generic};
constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
// Every 97th bit pattern: about 90 million values per implementation, 2 s in a release
// build. Unoptimized (debug, sanitizer) builds take every 997th.
#if defined(__OPTIMIZE__)
constexpr std::uint32_t kSweepStep = 97;
#else
constexpr std::uint32_t kSweepStep = 997;
#endif

double ref_exp(double x) { return std::exp(x); }
double ref_log(double x) { return std::log(x); }
double ref_tanh(double x) { return std::tanh(x); }
double ref_sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

struct Function {
  const char* name;
  ArrayFn fn;
  double (*ref)(double);
  std::uint32_t max_bits;  // sweep |x| from 0 up to the float with these bits
  bool negative;           // and the negative values too
  double max_ulp;          // the accuracy promised in vec_math.hpp
};

// Beyond the swept range the function is constant in float (exp: 0 or inf, tanh: +-1,
// sigmoid: 0 or 1); log's whole positive range is swept.
const Function kFunctions[] = {
    {"exp", nn::cpu::vexp, ref_exp, std::bit_cast<std::uint32_t>(105.0f), true, 2.0},
    {"log", nn::cpu::vlog, ref_log, std::bit_cast<std::uint32_t>(std::numeric_limits<float>::max()), false, 2.0},
    {"tanh", nn::cpu::vtanh, ref_tanh, std::bit_cast<std::uint32_t>(10.0f), true, 3.0},
    {"sigmoid", nn::cpu::vsigmoid, ref_sigmoid, std::bit_cast<std::uint32_t>(105.0f), true, 3.0},
};

// |got - want| in units of the last place of the float nearest to want (subnormal spacing
// 2^-149 at the bottom). NaN must meet NaN and an infinite result must be exact.
double ulp_error(float got, double want) {
  if (std::isnan(want)) return std::isnan(got) ? 0.0 : kInf;
  const float want_f = static_cast<float>(want);
  if (std::isnan(got)) return kInf;
  if (std::isinf(want_f) || std::isinf(got)) return got == want_f ? 0.0 : kInf;
  int exponent = 0;
  std::frexp(want_f, &exponent);
  const double ulp = want_f == 0.0f ? std::ldexp(1.0, -149)
                                    : std::max(std::ldexp(1.0, exponent - 24), std::ldexp(1.0, -149));
  return std::fabs(static_cast<double>(got) - want) / ulp;
}

struct Worst {
  double ulp = 0.0;
  float x = 0.0f, got = 0.0f;
  double want = 0.0;
  std::int64_t count = 0;
};

// Runs fn over xs in blocks and keeps the largest error against ref.
class ErrorMeter {
 public:
  ErrorMeter(ArrayFn fn, double (*ref)(double)) : fn_(fn), ref_(ref) { xs_.reserve(kBlock); }
  void add(float x) {
    xs_.push_back(x);
    if (xs_.size() == kBlock) flush();
  }
  Worst finish() {
    flush();
    return worst_;
  }

 private:
  static constexpr std::size_t kBlock = 1 << 16;
  void flush() {
    ys_.resize(xs_.size());
    fn_(xs_.data(), ys_.data(), static_cast<std::int64_t>(xs_.size()));
    for (std::size_t i = 0; i < xs_.size(); ++i) {
      const double want = ref_(xs_[i]);
      const double e = ulp_error(ys_[i], want);
      if (e > worst_.ulp) worst_ = {e, xs_[i], ys_[i], want, worst_.count};
    }
    worst_.count += static_cast<std::int64_t>(xs_.size());
    xs_.clear();
  }
  ArrayFn fn_;
  double (*ref_)(double);
  std::vector<float> xs_, ys_;
  Worst worst_;
};

std::string describe(const Worst& w) {
  char text[200];
  std::snprintf(text, sizeof text, "max %.3f ulp at x = %.9g (bits 0x%08x): got %.9g, want %.17g",
                w.ulp, static_cast<double>(w.x), std::bit_cast<std::uint32_t>(w.x),
                static_cast<double>(w.got), w.want);
  return text;
}

class VecMathTest : public ::testing::TestWithParam<VecIsa> {
 protected:
  void SetUp() override {
    if (!nn::cpu::vec_isa_available(GetParam()))
      GTEST_SKIP() << "vec_math " << nn::cpu::vec_isa_name(GetParam())
                   << " is not supported by this CPU/build";
    nn::cpu::set_vec_isa(GetParam());
    ASSERT_EQ(nn::cpu::vec_isa(), GetParam());
  }
  void TearDown() override { nn::cpu::set_vec_isa(VecIsa::Auto); }
};

TEST_P(VecMathTest, SweepWithinUlpBound) {
  for (const Function& f : kFunctions) {
    ErrorMeter meter(f.fn, f.ref);
    for (std::uint64_t bits = 0; bits <= f.max_bits; bits += kSweepStep) {
      meter.add(std::bit_cast<float>(static_cast<std::uint32_t>(bits)));
      if (f.negative) meter.add(std::bit_cast<float>(static_cast<std::uint32_t>(bits) | 0x80000000u));
    }
    const Worst w = meter.finish();
    // The figure quoted in docs/perf.md.
    std::printf("[ ulp      ] %-8s %-7s %lld values, %s\n", nn::cpu::vec_isa_name(GetParam()),
                f.name, static_cast<long long>(w.count), describe(w).c_str());
    EXPECT_LE(w.ulp, f.max_ulp) << f.name << ": " << describe(w);
  }
}

// The places where the method changes or the result leaves the normal range, with a few
// hundred neighbours on each side.
TEST_P(VecMathTest, EdgesWithinUlpBound) {
  struct Edge {
    const Function* f;
    float x;
  };
  const Function& exp = kFunctions[0];
  const Function& log = kFunctions[1];
  const Function& tanh = kFunctions[2];
  const Function& sigmoid = kFunctions[3];
  const Edge edges[] = {
      {&exp, 88.7228394f},    // largest x with a finite exp(x) is just below
      {&exp, -87.3365479f},   // exp(x) = FLT_MIN: the normal range ends
      {&exp, -103.972076f},   // exp(x) = the smallest subnormal
      {&exp, -104.0f},        {&exp, 0.346573591f}, {&exp, -0.346573591f},  // n changes
      {&exp, 0.0f},           {&log, 1.0f},         {&log, 0.707106769f},   {&log, 1.41421354f},
      {&log, std::numeric_limits<float>::min()},    {&log, std::numeric_limits<float>::denorm_min()},
      {&tanh, 0.625f},        {&tanh, -0.625f},     {&tanh, 0.0f},          {&tanh, 9.0f},
      {&sigmoid, 0.0f},       {&sigmoid, -88.0f},   {&sigmoid, -103.0f},    {&sigmoid, 17.0f},
  };
  for (const Edge& edge : edges) {
    ErrorMeter meter(edge.f->fn, edge.f->ref);
    const auto center = static_cast<std::int64_t>(std::bit_cast<std::uint32_t>(edge.x));
    for (std::int64_t d = -300; d <= 300; ++d) {
      const std::int64_t bits = center + d;
      if (bits < 0 || (bits & 0x7f800000) == 0x7f800000) continue;  // no NaN from bit walking
      meter.add(std::bit_cast<float>(static_cast<std::uint32_t>(bits)));
    }
    const Worst w = meter.finish();
    EXPECT_LE(w.ulp, edge.f->max_ulp) << edge.f->name << " near " << edge.x << ": " << describe(w);
  }
}

// Special values give exactly what std:: gives (NaN: any NaN).
TEST_P(VecMathTest, SpecialValuesAsStd) {
  const float dmin = std::numeric_limits<float>::denorm_min();
  const float fmax = std::numeric_limits<float>::max();
  const std::vector<float> inputs = {0.0f, -0.0f, kInf, -kInf, kNaN, -kNaN, 1.0f, -1.0f, dmin, -dmin,
                                     fmax, -fmax, 88.7228394f, 88.7228317f, 89.0f, 1000.0f,
                                     -103.972084f, -104.0f, -1000.0f, 20.0f, -20.0f};
  struct Case {
    const char* name;
    ArrayFn fn;
    float (*ref)(float);
  };
  const Case cases[] = {
      {"exp", nn::cpu::vexp, [](float x) { return std::exp(x); }},
      {"log", nn::cpu::vlog, [](float x) { return std::log(x); }},
      {"tanh", nn::cpu::vtanh, [](float x) { return std::tanh(x); }},
      {"sigmoid", nn::cpu::vsigmoid,
       [](float x) { return static_cast<float>(1.0 / (1.0 + std::exp(-static_cast<double>(x)))); }},
  };
  for (const Case& c : cases) {
    std::vector<float> out(inputs.size());
    c.fn(inputs.data(), out.data(), static_cast<std::int64_t>(inputs.size()));
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      const float want = c.ref(inputs[i]);
      const float got = out[i];
      if (std::isnan(want)) {
        EXPECT_TRUE(std::isnan(got)) << c.name << "(" << inputs[i] << ") = " << got;
      } else if (std::isinf(want) || want == 0.0f || std::fabs(want) == 1.0f) {
        EXPECT_EQ(std::bit_cast<std::uint32_t>(got), std::bit_cast<std::uint32_t>(want))
            << c.name << "(" << inputs[i] << ") = " << got << ", want " << want;
      } else {
        EXPECT_LE(ulp_error(got, want), 3.0)
            << c.name << "(" << inputs[i] << ") = " << got << ", want " << want;
      }
    }
  }
  // The ones spelled out in vec_math.hpp.
  const float x[] = {-kInf, kInf, 0.0f, -1.0f, 100.0f};
  float y[5];
  nn::cpu::vexp(x, y, 2);
  EXPECT_EQ(y[0], 0.0f);
  EXPECT_EQ(y[1], kInf);
  nn::cpu::vlog(x + 2, y, 2);
  EXPECT_EQ(y[0], -kInf);
  EXPECT_TRUE(std::isnan(y[1]));
  nn::cpu::vtanh(x, y, 2);
  EXPECT_EQ(y[0], -1.0f);
  EXPECT_EQ(y[1], 1.0f);
  nn::cpu::vsigmoid(x, y, 2);
  EXPECT_EQ(y[0], 0.0f);
  EXPECT_EQ(y[1], 1.0f);
  const float minus_100 = -100.0f;
  nn::cpu::vsigmoid(&minus_100, y, 1);
  EXPECT_GT(y[0], 0.0f) << "sigmoid(-100) = 3.7e-44 (a subnormal), not 0";
  nn::cpu::vexp(&minus_100, y, 1);
  EXPECT_GT(y[0], 0.0f) << "exp(-100) = 3.7e-44 (a subnormal), not 0";
}

// n = 0..40 covers empty arrays, arrays shorter than one vector and every remainder after
// whole vectors, for all three widths; nothing outside [0, n) may be read or written.
TEST_P(VecMathTest, TailsAndInPlace) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> dist(-6.0f, 6.0f);
  constexpr std::int64_t kGuard = 16;
  constexpr float kSentinel = -12345.0f;
  for (const Function& f : kFunctions) {
    std::vector<float> whole(64);
    for (float& v : whole) v = f.negative ? dist(rng) : std::fabs(dist(rng));
    std::vector<float> reference(whole.size());
    f.fn(whole.data(), reference.data(), static_cast<std::int64_t>(whole.size()));
    for (std::int64_t n = 0; n <= 40; ++n) {
      // Take elements [24 - n/2, ...) of `whole` so that they sit at other lane positions
      // than in the reference call: a lane-independent result must not care.
      const std::int64_t offset = 24 - n / 2;
      std::vector<float> in(n + 2 * kGuard, kSentinel), out(n + 2 * kGuard, kSentinel);
      for (std::int64_t i = 0; i < n; ++i) in[kGuard + i] = whole[offset + i];
      f.fn(in.data() + kGuard, out.data() + kGuard, n);
      for (std::int64_t i = 0; i < n + 2 * kGuard; ++i) {
        const bool inside = i >= kGuard && i < kGuard + n;
        const float want = inside ? reference[offset + i - kGuard] : kSentinel;
        ASSERT_EQ(std::bit_cast<std::uint32_t>(out[i]), std::bit_cast<std::uint32_t>(want))
            << f.name << " n = " << n << " index " << i - kGuard;
      }
      f.fn(in.data() + kGuard, in.data() + kGuard, n);  // in place
      for (std::int64_t i = 0; i < n + 2 * kGuard; ++i)
        ASSERT_EQ(std::bit_cast<std::uint32_t>(in[i]), std::bit_cast<std::uint32_t>(out[i]))
            << f.name << " in place, n = " << n << " index " << i - kGuard;
    }
  }
}

TEST(VecMath, AutoPicksTheBestAvailable) {
  nn::cpu::set_vec_isa(VecIsa::Auto);
  const VecIsa chosen = nn::cpu::vec_isa();
  for (VecIsa isa : kIsas) {
    if (nn::cpu::vec_isa_available(isa)) {
      EXPECT_EQ(chosen, isa);
      break;
    }
  }
  for (VecIsa isa : kIsas) {
    if (!nn::cpu::vec_isa_available(isa)) {
      EXPECT_THROW(nn::cpu::set_vec_isa(isa), std::invalid_argument);
    }
  }
  EXPECT_EQ(nn::cpu::vec_isa(), chosen);
}

INSTANTIATE_TEST_SUITE_P(EveryIsa, VecMathTest, ::testing::ValuesIn(kIsas),
                         [](const ::testing::TestParamInfo<VecIsa>& info) {
                           return std::string(nn::cpu::vec_isa_name(info.param));
                         });

}  // namespace
