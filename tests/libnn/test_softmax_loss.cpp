// Unit tests of softmax, log_softmax, cross_entropy and binary_cross_entropy_with_logits:
// hand-computed values, invariants (rows sum to 1, log_softmax == log(softmax)), logits of
// +-1000 staying finite, every ignore_index x label_smoothing x reduction combination against
// a double-precision reference written here (its gradients by central differences, so they
// do not share a formula with the kernels), bit-identical results with 1 and 2 threads, and
// the error messages. The PyTorch golden replay and the gradchecks live in other files.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "libnn/autograd.hpp"
#include "libnn/error.hpp"
#include "libnn/ops.hpp"
#include "libnn/tensor.hpp"
#include "thread_scope.hpp"

namespace {

using nn::Reduction;
using nn::Tensor;

constexpr std::int64_t kIgnore = -100;
constexpr float kInf = std::numeric_limits<float>::infinity();

std::vector<float> random_floats(std::size_t n, std::uint32_t seed, float scale = 2.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-scale, scale);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

// Expects nn::Error whose message contains every one of `parts`.
void expect_error(const std::function<void()>& fn, const std::vector<std::string>& parts) {
  try {
    fn();
    ADD_FAILURE() << "expected nn::Error";
  } catch (const nn::Error& e) {
    const std::string message = e.what();
    for (const std::string& part : parts) {
      EXPECT_NE(message.find(part), std::string::npos)
          << "message \"" << message << "\" lacks \"" << part << "\"";
    }
  }
}

void expect_near_all(const std::vector<float>& got, const std::vector<double>& want,
                     double rtol, double atol, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (std::size_t i = 0; i < got.size(); ++i) {
    EXPECT_NEAR(got[i], want[i], atol + rtol * std::fabs(want[i])) << what << " at " << i;
  }
}

// --- double references -----------------------------------------------------------------------

// softmax / log_softmax of x (outer, C, inner) over C, in double.
std::vector<double> softmax_ref(const std::vector<float>& x, std::int64_t outer, std::int64_t c,
                                std::int64_t inner, bool log) {
  std::vector<double> y(x.size());
  for (std::int64_t o = 0; o < outer; ++o) {
    for (std::int64_t i = 0; i < inner; ++i) {
      auto at = [&](std::int64_t k) { return (o * c + k) * inner + i; };
      double m = -INFINITY;
      for (std::int64_t k = 0; k < c; ++k) m = std::max(m, static_cast<double>(x[at(k)]));
      double sum = 0.0;
      for (std::int64_t k = 0; k < c; ++k) sum += std::exp(x[at(k)] - m);
      for (std::int64_t k = 0; k < c; ++k) {
        y[at(k)] = log ? x[at(k)] - m - std::log(sum) : std::exp(x[at(k)] - m) / sum;
      }
    }
  }
  return y;
}

// Per-row cross-entropy with label smoothing, straight from the definition:
// (1-eps) * (-log p_y) + (eps/C) * sum_c (-log p_c), 0 for ignored rows.
std::vector<double> cross_entropy_rows_ref(const std::vector<double>& x, std::int64_t n,
                                           std::int64_t c, const std::vector<std::int64_t>& y,
                                           std::int64_t ignore_index, double eps) {
  std::vector<double> rows(n, 0.0);
  for (std::int64_t r = 0; r < n; ++r) {
    if (y[r] == ignore_index) continue;
    double sum = 0.0;
    for (std::int64_t k = 0; k < c; ++k) sum += std::exp(x[r * c + k]);
    double smooth = 0.0;
    for (std::int64_t k = 0; k < c; ++k) smooth += -std::log(std::exp(x[r * c + k]) / sum);
    rows[r] = (1.0 - eps) * -std::log(std::exp(x[r * c + y[r]]) / sum) + eps / c * smooth;
  }
  return rows;
}

// The loss (one value) or the rows (None), in double.
std::vector<double> cross_entropy_ref(const std::vector<double>& x, std::int64_t n,
                                      std::int64_t c, const std::vector<std::int64_t>& y,
                                      std::int64_t ignore_index, double eps,
                                      Reduction reduction) {
  std::vector<double> rows = cross_entropy_rows_ref(x, n, c, y, ignore_index, eps);
  if (reduction == Reduction::None) return rows;
  double total = 0.0;
  std::int64_t kept = 0;
  for (std::int64_t r = 0; r < n; ++r) {
    total += rows[r];
    kept += y[r] != ignore_index;
  }
  return {reduction == Reduction::Sum ? total : total / static_cast<double>(kept)};
}

double bce_ref_element(double x, double t, double pw) {
  const double s = 1.0 / (1.0 + std::exp(-x));
  return -(pw * t * std::log(s) + (1.0 - t) * std::log(1.0 - s));
}

// Gradient of sum_j(f(x)_j * gout_j) by central differences in double.
std::vector<double> numeric_grad(const std::function<std::vector<double>(const std::vector<double>&)>& f,
                                 const std::vector<float>& x, const std::vector<double>& gout) {
  std::vector<double> xd(x.begin(), x.end()), grad(x.size());
  const double h = 1e-5;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double saved = xd[i];
    xd[i] = saved + h;
    const std::vector<double> plus = f(xd);
    xd[i] = saved - h;
    const std::vector<double> minus = f(xd);
    xd[i] = saved;
    double g = 0.0;
    for (std::size_t j = 0; j < plus.size(); ++j) g += (plus[j] - minus[j]) / (2 * h) * gout[j];
    grad[i] = g;
  }
  return grad;
}

// --- softmax ------------------------------------------------------------------------------

TEST(Softmax, HandComputedRow) {
  Tensor x = nn::from_vector({1.0f, 2.0f, 3.0f}, {3});
  // e^1, e^2, e^3 over their sum 30.19287485...
  const std::vector<double> want = {0.09003057317038046, 0.24472847105479764, 0.6652409557748219};
  expect_near_all(nn::softmax(x, 0).to_vector<float>(), want, 1e-6, 0, "softmax");
  const std::vector<double> want_log = {-2.4076059644443806, -1.4076059644443806, -0.4076059644443806};
  expect_near_all(nn::log_softmax(x, -1).to_vector<float>(), want_log, 1e-6, 0, "log_softmax");
}

TEST(Softmax, EveryDimMatchesDoubleReferenceAndSumsToOne) {
  const nn::Shape shape = {3, 4, 5};
  const std::vector<float> v = random_floats(60, 1);
  Tensor x = nn::from_vector(v, shape);
  for (int d = 0; d < 3; ++d) {
    std::int64_t outer = 1, inner = 1;
    for (int i = 0; i < d; ++i) outer *= shape[i];
    for (int i = d + 1; i < 3; ++i) inner *= shape[i];
    const std::vector<float> y = nn::softmax(x, d).to_vector<float>();
    expect_near_all(y, softmax_ref(v, outer, shape[d], inner, false), 1e-6, 1e-7,
                    "softmax dim " + std::to_string(d));
    expect_near_all(nn::log_softmax(x, d - 3).to_vector<float>(),
                    softmax_ref(v, outer, shape[d], inner, true), 1e-6, 1e-6,
                    "log_softmax dim " + std::to_string(d));
    const std::vector<float> sums = nn::sum(nn::softmax(x, d), {d}).to_vector<float>();
    for (float s : sums) EXPECT_NEAR(s, 1.0f, 1e-6f) << "dim " << d;
  }
}

TEST(Softmax, LogSoftmaxIsLogOfSoftmax) {
  const std::vector<float> v = random_floats(7 * 33, 2, 5.0f);
  Tensor x = nn::from_vector(v, {7, 33});
  const std::vector<float> a = nn::log_softmax(x, 1).to_vector<float>();
  const std::vector<float> b = nn::log(nn::softmax(x, 1)).to_vector<float>();
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 2e-6f * (1 + std::fabs(a[i])));
}

TEST(Softmax, LargeAndInfiniteLogitsStayFinite) {
  Tensor x = nn::from_vector({1000.0f, -1000.0f, 0.0f, 1000.0f, 1000.0f, -1000.0f}, {2, 3});
  expect_near_all(nn::softmax(x, 1).to_vector<float>(), {1, 0, 0, 0.5, 0.5, 0}, 0, 1e-7, "softmax");
  expect_near_all(nn::log_softmax(x, 1).to_vector<float>(),
                  {0, -2000, -1000, -std::log(2.0), -std::log(2.0), -2000 - std::log(2.0)}, 1e-6, 1e-6,
                  "log_softmax");
  // Over dim 0 (the strided path) too.
  expect_near_all(nn::softmax(x, 0).to_vector<float>(), {0.5, 0, 1, 0.5, 1, 0}, 0, 1e-7, "dim 0");
  // A masked (-inf) entry gets exactly 0.
  Tensor masked = nn::from_vector({0.5f, -kInf, 0.5f}, {3});
  EXPECT_EQ(nn::softmax(masked, 0).to_vector<float>(), (std::vector<float>{0.5f, 0.0f, 0.5f}));
}

TEST(Softmax, ZeroDimAndOneElement) {
  Tensor s = nn::scalar_tensor(3.0);
  EXPECT_EQ(nn::softmax(s, 0).item<float>(), 1.0f);
  EXPECT_EQ(nn::softmax(s, -1).item<float>(), 1.0f);
  EXPECT_EQ(nn::log_softmax(s, 0).item<float>(), 0.0f);
  EXPECT_EQ(nn::softmax(s, 0).dim(), 0);
}

TEST(Softmax, BackwardMatchesDoubleReference) {
  const nn::Shape shape = {3, 4, 5};
  const std::vector<float> v = random_floats(60, 3);
  const std::vector<float> gout_f = random_floats(60, 4);
  const std::vector<double> gout(gout_f.begin(), gout_f.end());
  for (bool log : {false, true}) {
    for (int d = 0; d < 3; ++d) {
      std::int64_t outer = 1, inner = 1;
      for (int i = 0; i < d; ++i) outer *= shape[i];
      for (int i = d + 1; i < 3; ++i) inner *= shape[i];
      Tensor x = nn::from_vector(v, shape);
      x.set_requires_grad(true);
      Tensor y = log ? nn::log_softmax(x, d) : nn::softmax(x, d);
      y.backward(nn::from_vector(gout_f, shape));
      // The reference gradient, from the double softmax (the same formula as the kernel's
      // comment, which the golden replay and gradcheck verify independently).
      std::vector<double> want(60);
      const std::vector<double> y_ref = softmax_ref(v, outer, shape[d], inner, false);
      for (std::int64_t o = 0; o < outer; ++o) {
        for (std::int64_t i = 0; i < inner; ++i) {
          auto at = [&](std::int64_t k) { return (o * shape[d] + k) * inner + i; };
          double dot = 0.0, gsum = 0.0;
          for (std::int64_t k = 0; k < shape[d]; ++k) {
            dot += gout[at(k)] * y_ref[at(k)];
            gsum += gout[at(k)];
          }
          for (std::int64_t k = 0; k < shape[d]; ++k) {
            want[at(k)] = log ? gout[at(k)] - y_ref[at(k)] * gsum : y_ref[at(k)] * (gout[at(k)] - dot);
          }
        }
      }
      expect_near_all(x.grad().to_vector<float>(), want, 1e-5, 1e-6,
                      std::string(log ? "log_softmax" : "softmax") + " grad dim " + std::to_string(d));
    }
  }
}

TEST(Softmax, BitIdenticalWithOneAndTwoThreads) {
  // Large enough to fork: contiguous rows, and a strided softmax over dim 1 of (4,300,300).
  const std::vector<float> v = random_floats(4 * 300 * 300, 5, 8.0f);
  std::vector<std::vector<float>> results[2];
  for (int threads : {1, 2}) {
    test_util::ThreadScope scope(threads);
    Tensor x = nn::from_vector(v, {4, 300, 300});
    x.set_requires_grad(true);
    Tensor a = nn::softmax(x, -1), b = nn::log_softmax(x, 1);
    nn::backward({a, b}, {nn::from_vector(v, a.sizes()), nn::from_vector(v, b.sizes())});
    results[threads - 1] = {a.to_vector<float>(), b.to_vector<float>(), x.grad().to_vector<float>()};
  }
  EXPECT_TRUE(results[0] == results[1]);
}

TEST(Softmax, Errors) {
  Tensor ints = nn::from_vector(std::vector<std::int64_t>{1, 2, 3}, {3});
  expect_error([&] { nn::softmax(ints, 0); }, {"softmax", "float32", "int64"});
  expect_error([&] { nn::log_softmax(ints, 0); }, {"log_softmax", "float32", "int64"});
  Tensor x = nn::zeros({2, 3});
  expect_error([&] { nn::softmax(x, 2); }, {"softmax", "[-2, 1]", "got 2"});
  expect_error([&] { nn::log_softmax(x, -3); }, {"log_softmax", "got -3"});
}

// --- cross_entropy -----------------------------------------------------------------------------

TEST(CrossEntropy, HandComputed) {
  // Row 0: logits (0, ln 3) -> p = (1/4, 3/4); target 1 -> -ln(3/4).
  Tensor logits = nn::from_vector({0.0f, static_cast<float>(std::log(3.0))}, {1, 2});
  Tensor target = nn::from_vector(std::vector<std::int64_t>{1}, {1});
  EXPECT_NEAR(nn::cross_entropy(logits, target).item<float>(), -std::log(0.75), 1e-7);
  // eps = 0.2: 0.8 * -ln(3/4) + 0.1 * (-ln(1/4) - ln(3/4))
  const double smoothed = 0.8 * -std::log(0.75) + 0.1 * (-std::log(0.25) - std::log(0.75));
  EXPECT_NEAR(nn::cross_entropy(logits, target, nn::CrossEntropyOptions().label_smoothing(0.2)).item<float>(),
              smoothed, 1e-7);
  // Uniform logits over C classes: ln C whatever the target and smoothing.
  Tensor uniform = nn::zeros({3, 5});
  Tensor targets = nn::from_vector(std::vector<std::int64_t>{0, 4, 2}, {3});
  EXPECT_NEAR(nn::cross_entropy(uniform, targets, nn::CrossEntropyOptions().label_smoothing(0.3)).item<float>(),
              std::log(5.0), 1e-6);
}

struct IgnoreCase {
  const char* name;
  std::int64_t ignore_index;
  std::vector<std::int64_t> target;
};

TEST(CrossEntropy, EveryIgnoreSmoothingReductionCombination) {
  const std::int64_t n = 5, c = 4;
  const std::vector<float> x = random_floats(n * c, 6, 3.0f);
  const std::vector<IgnoreCase> ignore_cases = {
      {"none ignored", kIgnore, {1, 0, 3, 2, 3}},
      {"rows 1 and 3 ignored (-100)", kIgnore, {1, -100, 3, -100, 0}},
      {"ignore_index 2 inside [0,C)", 2, {2, 0, 2, 1, 3}},
      {"ignore_index 7 past C", 7, {7, 1, 0, 7, 2}},
  };
  for (const IgnoreCase& ic : ignore_cases) {
    for (double eps : {0.0, 0.1, 1.0}) {
      for (Reduction reduction : {Reduction::None, Reduction::Mean, Reduction::Sum}) {
        const std::string what = std::string(ic.name) + ", eps " + std::to_string(eps) +
                                 ", reduction " + std::to_string(static_cast<int>(reduction));
        auto f = [&](const std::vector<double>& xd) {
          return cross_entropy_ref(xd, n, c, ic.target, ic.ignore_index, eps, reduction);
        };
        const std::vector<double> want = f(std::vector<double>(x.begin(), x.end()));
        const std::vector<float> gout_f =
            reduction == Reduction::None ? random_floats(n, 7) : std::vector<float>{0.75f};
        const std::vector<double> gout(gout_f.begin(), gout_f.end());

        Tensor logits = nn::from_vector(x, {n, c});
        logits.set_requires_grad(true);
        Tensor target = nn::from_vector(ic.target, {n});
        nn::CrossEntropyOptions options;
        options.ignore_index(ic.ignore_index).label_smoothing(eps).reduction(reduction);
        Tensor loss = nn::cross_entropy(logits, target, options);
        EXPECT_EQ(loss.sizes(), reduction == Reduction::None ? nn::Shape{n} : nn::Shape{}) << what;
        expect_near_all(loss.to_vector<float>(), want, 1e-6, 1e-6, what + " loss");
        loss.backward(nn::from_vector(gout_f, loss.sizes()));
        expect_near_all(logits.grad().to_vector<float>(), numeric_grad(f, x, gout), 1e-5, 1e-6,
                        what + " grad");
        // Ignored rows get exactly zero gradient.
        const std::vector<float> grad = logits.grad().to_vector<float>();
        for (std::int64_t r = 0; r < n; ++r) {
          if (ic.target[r] != ic.ignore_index) continue;
          for (std::int64_t k = 0; k < c; ++k) EXPECT_EQ(grad[r * c + k], 0.0f) << what;
        }
      }
    }
  }
}

TEST(CrossEntropy, EveryRowIgnored) {
  Tensor logits = nn::from_vector(random_floats(6, 8), {2, 3});
  logits.set_requires_grad(true);
  Tensor target = nn::from_vector(std::vector<std::int64_t>{-100, -100}, {2});
  const auto options = nn::CrossEntropyOptions().label_smoothing(0.1);
  // Mean over no rows is 0/0, as in PyTorch; the gradient is zero.
  Tensor mean = nn::cross_entropy(logits, target, options);
  EXPECT_TRUE(std::isnan(mean.item<float>()));
  mean.backward();
  for (float g : logits.grad().to_vector<float>()) EXPECT_EQ(g, 0.0f);
  EXPECT_EQ(nn::cross_entropy(logits, target, nn::CrossEntropyOptions(options).reduction(Reduction::Sum))
                .item<float>(),
            0.0f);
}

TEST(CrossEntropy, LargeLogitsStayFinite) {
  Tensor logits = nn::from_vector({1000.0f, -1000.0f, 0.0f, -1000.0f, 1000.0f, 1000.0f}, {2, 3});
  logits.set_requires_grad(true);
  Tensor target = nn::from_vector(std::vector<std::int64_t>{1, 2}, {2});
  // Row 0: lse = 1000, loss 2000; row 1: lse = 1000 + ln 2, loss ln 2.
  Tensor loss = nn::cross_entropy(logits, target, nn::CrossEntropyOptions().reduction(Reduction::None));
  expect_near_all(loss.to_vector<float>(), {2000.0, std::log(2.0)}, 1e-6, 1e-4, "loss");
  loss.backward(nn::ones({2}));
  expect_near_all(logits.grad().to_vector<float>(), {1, -1, 0, 0, 0.5, -0.5}, 0, 1e-6, "grad");
  Tensor smoothed = nn::cross_entropy(logits.detach(), target, nn::CrossEntropyOptions().label_smoothing(0.5));
  EXPECT_TRUE(std::isfinite(smoothed.item<float>()));
}

TEST(CrossEntropy, BitIdenticalWithOneAndTwoThreads) {
  const std::int64_t n = 256, c = 517;
  const std::vector<float> x = random_floats(n * c, 9, 6.0f);
  std::vector<std::int64_t> y(n);
  for (std::int64_t r = 0; r < n; ++r) y[r] = r % 7 == 3 ? kIgnore : (r * 31) % c;
  std::vector<float> loss[2], grad[2];
  for (int threads : {1, 2}) {
    test_util::ThreadScope scope(threads);
    Tensor logits = nn::from_vector(x, {n, c});
    logits.set_requires_grad(true);
    Tensor l = nn::cross_entropy(logits, nn::from_vector(y, {n}), nn::CrossEntropyOptions().label_smoothing(0.1));
    l.backward();
    loss[threads - 1] = l.to_vector<float>();
    grad[threads - 1] = logits.grad().to_vector<float>();
  }
  EXPECT_EQ(loss[0], loss[1]);
  EXPECT_TRUE(grad[0] == grad[1]);
}

TEST(CrossEntropy, Errors) {
  Tensor logits = nn::zeros({3, 4});
  Tensor target = nn::from_vector(std::vector<std::int64_t>{0, 1, 2}, {3});
  // Out-of-range targets name the row, the value and C; the first bad row is reported.
  expect_error([&] { nn::cross_entropy(logits, nn::from_vector(std::vector<std::int64_t>{0, 4, 9}, {3})); },
               {"cross_entropy", "row 1", "got 4", "C = 4"});
  expect_error([&] { nn::cross_entropy(logits, nn::from_vector(std::vector<std::int64_t>{0, 1, -1}, {3})); },
               {"row 2", "got -1", "ignore_index -100"});
  // -100 is fine by default, but not when ignore_index is something else.
  expect_error([&] {
    nn::cross_entropy(logits, nn::from_vector(std::vector<std::int64_t>{-100, 1, 2}, {3}),
                      nn::CrossEntropyOptions().ignore_index(-1));
  }, {"row 0", "got -100", "ignore_index -1"});
  expect_error([&] { nn::cross_entropy(nn::zeros({3}), target); }, {"(N,C)", "got (3)"});
  expect_error([&] { nn::cross_entropy(nn::zeros({2, 3, 4}), target); }, {"(N,C)", "(2,3,4)"});
  expect_error([&] { nn::cross_entropy(logits, nn::zeros({3})); }, {"int64", "float32"});
  expect_error([&] { nn::cross_entropy(logits.to(nn::DType::Int64), target); }, {"float32", "int64"});
  expect_error([&] { nn::cross_entropy(logits, nn::from_vector(std::vector<std::int64_t>{0, 1}, {2})); },
               {"target of shape (3)", "(3,4)", "got (2)"});
  expect_error([&] { nn::cross_entropy(logits, target, nn::CrossEntropyOptions().label_smoothing(1.5)); },
               {"label_smoothing", "[0,1]", "1.5"});
}

// --- binary_cross_entropy_with_logits ----------------------------------------------------------

TEST(BceWithLogits, HandComputed) {
  // x = 0: sigmoid = 1/2, loss = ln 2 for any t in {0,1}; with pos_weight 3 and t = 1: 3 ln 2.
  Tensor x = nn::zeros({2, 2});
  Tensor t = nn::from_vector({1.0f, 0.0f, 1.0f, 0.0f}, {2, 2});
  EXPECT_NEAR(nn::binary_cross_entropy_with_logits(x, t).item<float>(), std::log(2.0), 1e-7);
  Tensor pw = nn::from_vector({3.0f, 5.0f}, {2});
  Tensor none = nn::binary_cross_entropy_with_logits(
      x, t, nn::BCEWithLogitsOptions().pos_weight(pw).reduction(Reduction::None));
  expect_near_all(none.to_vector<float>(), {3 * std::log(2.0), std::log(2.0), 3 * std::log(2.0), std::log(2.0)},
                  1e-6, 0, "pos_weight");
  // x = ln 3: sigmoid = 3/4; t = 0.5 -> -(0.5 ln 3/4 + 0.5 ln 1/4)
  Tensor y = nn::binary_cross_entropy_with_logits(nn::full({1}, std::log(3.0)), nn::full({1}, 0.5),
                                                  nn::BCEWithLogitsOptions().reduction(Reduction::Sum));
  EXPECT_NEAR(y.item<float>(), -(0.5 * std::log(0.75) + 0.5 * std::log(0.25)), 1e-6);
}

TEST(BceWithLogits, EveryPosWeightAndReductionCombination) {
  const nn::Shape shape = {2, 3, 4};
  const std::vector<float> x = random_floats(24, 10, 4.0f);
  std::vector<float> t = random_floats(24, 11, 0.5f);
  for (float& v : t) v += 0.5f;  // soft targets in [0,1]
  t[0] = 0.0f;
  t[1] = 1.0f;
  const std::vector<float> pw = {0.5f, 1.0f, 2.0f, 4.0f};
  for (int pw_kind = 0; pw_kind < 4; ++pw_kind) {  // none, (4), (1,4), one 0-dim value
    for (Reduction reduction : {Reduction::None, Reduction::Mean, Reduction::Sum}) {
      const std::string what = "pos_weight kind " + std::to_string(pw_kind) + ", reduction " +
                               std::to_string(static_cast<int>(reduction));
      auto weight_at = [&](std::size_t i) {
        return pw_kind == 0 ? 1.0 : pw_kind == 3 ? 2.5 : pw[i % 4];
      };
      auto f = [&](const std::vector<double>& xd) {
        std::vector<double> rows(xd.size());
        double total = 0.0;
        for (std::size_t i = 0; i < xd.size(); ++i) {
          rows[i] = bce_ref_element(xd[i], t[i], weight_at(i));
          total += rows[i];
        }
        if (reduction == Reduction::None) return rows;
        return std::vector<double>{reduction == Reduction::Sum ? total : total / xd.size()};
      };
      nn::BCEWithLogitsOptions options;
      options.reduction(reduction);
      if (pw_kind == 1) options.pos_weight(nn::from_vector(pw, {4}));
      if (pw_kind == 2) options.pos_weight(nn::from_vector(pw, {1, 4}));
      if (pw_kind == 3) options.pos_weight(nn::scalar_tensor(2.5));
      Tensor logits = nn::from_vector(x, shape);
      logits.set_requires_grad(true);
      Tensor target = nn::from_vector(t, shape);
      target.set_requires_grad(true);
      if (options.pos_weight_.defined()) options.pos_weight_.set_requires_grad(true);
      Tensor loss = nn::binary_cross_entropy_with_logits(logits, target, options);
      EXPECT_EQ(loss.sizes(), reduction == Reduction::None ? shape : nn::Shape{}) << what;
      expect_near_all(loss.to_vector<float>(), f(std::vector<double>(x.begin(), x.end())), 1e-6,
                      1e-6, what + " loss");
      const std::vector<float> gout_f =
          reduction == Reduction::None ? random_floats(24, 12) : std::vector<float>{1.5f};
      loss.backward(nn::from_vector(gout_f, loss.sizes()));
      expect_near_all(logits.grad().to_vector<float>(),
                      numeric_grad(f, x, std::vector<double>(gout_f.begin(), gout_f.end())), 1e-5,
                      1e-6, what + " grad");
      // No gradient flows to target or pos_weight.
      EXPECT_FALSE(target.grad().defined()) << what;
      if (options.pos_weight_.defined()) {
        EXPECT_FALSE(options.pos_weight_.grad().defined()) << what;
      }
    }
  }
}

TEST(BceWithLogits, LargeLogitsStayFinite) {
  Tensor x = nn::from_vector({1000.0f, -1000.0f, 1000.0f, -1000.0f, -30.0f}, {5});
  x.set_requires_grad(true);
  Tensor t = nn::from_vector({1.0f, 1.0f, 0.0f, 0.0f, 0.0f}, {5});
  Tensor loss = nn::binary_cross_entropy_with_logits(x, t, nn::BCEWithLogitsOptions().reduction(Reduction::None));
  // softplus(-30) = 9.357622968839e-14: no cancellation against 30.
  expect_near_all(loss.to_vector<float>(), {0, 1000, 1000, 0, 9.357622968839e-14}, 1e-6, 0, "loss");
  loss.backward(nn::ones({5}));
  expect_near_all(x.grad().to_vector<float>(), {0, -1, 1, 0, 9.357622968839e-14}, 1e-6, 0, "grad");
}

TEST(BceWithLogits, Errors) {
  Tensor x = nn::zeros({2, 3});
  expect_error([&] { nn::binary_cross_entropy_with_logits(x, nn::zeros({3, 2})); },
               {"binary_cross_entropy_with_logits", "(2,3)", "got (3,2)"});
  expect_error([&] { nn::binary_cross_entropy_with_logits(x, x.to(nn::DType::Int64)); },
               {"float32", "int64"});
  expect_error([&] {
    nn::binary_cross_entropy_with_logits(x, x, nn::BCEWithLogitsOptions().pos_weight(nn::ones({2})));
  }, {"pos_weight of shape (3)", "got (2)"});
  expect_error([&] {
    nn::binary_cross_entropy_with_logits(x, x, nn::BCEWithLogitsOptions().pos_weight(nn::ones({2, 3})));
  }, {"pos_weight", "got (2,3)"});
}

}  // namespace
