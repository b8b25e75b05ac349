// Unit tests of embedding, dropout, layer_norm and batch_norm (src/ops/{embedding,dropout,
// norm}.cpp). Expected values are computed here, in double, independently of the kernels:
// forwards from their definitions, gradients by central differences of those double
// definitions (so the hand-derived backwards are checked against something that shares no
// formula with them). Dropout is random: these property tests are its only check besides the
// gradient check. Also: determinism across thread counts, batch_norm's running statistics,
// and the error messages.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <libnn/autograd.hpp>
#include <libnn/ops.hpp>
#include <libnn/random.hpp>
#include <libnn/tensor.hpp>
#include <string>
#include <vector>

#include "thread_scope.hpp"

namespace {

using nn::Shape;
using nn::Tensor;

std::vector<float> random_values(std::int64_t n, std::uint64_t seed, double mean = 0.0,
                                 double stddev = 1.0) {
  nn::Generator gen(seed);
  return nn::affine(nn::randn({n}, &gen), stddev, mean).to_vector<float>();
}

std::vector<double> to_double(const std::vector<float>& v) { return {v.begin(), v.end()}; }

// |got - want| <= atol + rtol * |want| everywhere; reports the worst element.
void expect_close(const std::vector<float>& got, const std::vector<double>& want, double rtol,
                  double atol, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  double worst = 0.0;
  std::size_t worst_i = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    const double ratio = std::abs(got[i] - want[i]) / (atol + rtol * std::abs(want[i]));
    if (!(ratio <= worst)) {
      worst = ratio;
      worst_i = i;
    }
  }
  EXPECT_LE(worst, 1.0) << what << ": worst element " << worst_i << " got " << got[worst_i]
                        << ", want " << want[worst_i] << " (" << worst * 100
                        << "% of the allowed error)";
}

// d/dp of sum(g * f(p)) by central differences, in double.
std::vector<double> numeric_grad(
    const std::function<std::vector<double>(const std::vector<double>&)>& f, std::vector<double> p,
    const std::vector<double>& g) {
  const double h = 1e-6;
  std::vector<double> out(p.size());
  auto dot = [&](const std::vector<double>& y) {
    double s = 0.0;
    for (std::size_t i = 0; i < y.size(); ++i) s += g[i] * y[i];
    return s;
  };
  for (std::size_t i = 0; i < p.size(); ++i) {
    const double saved = p[i];
    p[i] = saved + h;
    const double plus = dot(f(p));
    p[i] = saved - h;
    const double minus = dot(f(p));
    p[i] = saved;
    out[i] = (plus - minus) / (2 * h);
  }
  return out;
}

template <class Fn>
std::string error_message(Fn&& fn) {
  try {
    fn();
  } catch (const nn::Error& e) {
    return e.what();
  }
  return "<no nn::Error thrown>";
}

// --- embedding --------------------------------------------------------------------------

TEST(Embedding, GathersRowsForAnyIndexShape) {
  const std::int64_t V = 5, D = 3;
  const std::vector<float> w = random_values(V * D, 1);
  Tensor weight = nn::from_vector(w, {V, D});
  const std::vector<std::int64_t> idx = {4, 0, 2, 2, 1, 4};
  Tensor out = nn::embedding(weight, nn::from_vector(idx, {2, 3}));
  EXPECT_EQ(out.sizes(), (Shape{2, 3, D}));
  const std::vector<float> got = out.to_vector<float>();
  for (std::size_t n = 0; n < idx.size(); ++n) {
    for (std::int64_t d = 0; d < D; ++d) EXPECT_EQ(got[n * D + d], w[idx[n] * D + d]);
  }

  Tensor scalar = nn::embedding(weight, nn::from_vector(std::vector<std::int64_t>{3}, {}));
  EXPECT_EQ(scalar.sizes(), (Shape{D}));
  EXPECT_EQ(scalar.to_vector<float>(), std::vector<float>(w.begin() + 3 * D, w.begin() + 4 * D));

  Tensor none = nn::embedding(weight, nn::from_vector(std::vector<std::int64_t>{}, {0, 2}));
  EXPECT_EQ(none.sizes(), (Shape{0, 2, D}));
}

TEST(Embedding, BackwardAccumulatesRepeatedRowsAndZeroesTheRest) {
  const std::int64_t V = 6, D = 4;
  Tensor weight = nn::from_vector(random_values(V * D, 2), {V, D});
  weight.set_requires_grad();
  const std::vector<std::int64_t> idx = {1, 3, 1, 1, 5, 3, 0};  // rows 2 and 4 never used
  const auto N = static_cast<std::int64_t>(idx.size());
  const std::vector<float> g = random_values(N * D, 3);
  nn::embedding(weight, nn::from_vector(idx, {N})).backward(nn::from_vector(g, {N, D}));
  std::vector<double> want(V * D, 0.0);
  for (std::int64_t n = 0; n < N; ++n) {
    for (std::int64_t d = 0; d < D; ++d) want[idx[n] * D + d] += g[n * D + d];
  }
  expect_close(weight.grad().to_vector<float>(), want, 1e-6, 1e-7, "embedding dweight");
  const std::vector<float> got = weight.grad().to_vector<float>();
  for (std::int64_t d = 0; d < D; ++d) {
    EXPECT_EQ(got[2 * D + d], 0.0f);
    EXPECT_EQ(got[4 * D + d], 0.0f);
  }
}

TEST(Embedding, BackwardIsBitIdenticalAcrossThreadCounts) {
  const std::int64_t V = 37, D = 129, N = 5000;
  nn::Generator gen(4);
  Tensor indices = nn::randint(0, V, {N}, &gen);
  Tensor g = nn::randn({N, D}, &gen);
  auto run = [&](int threads) {
    test_util::ThreadScope scope(threads);
    Tensor weight = nn::zeros({V, D});
    weight.set_requires_grad();
    nn::embedding(weight, indices).backward(g);
    return weight.grad().to_vector<float>();
  };
  const std::vector<float> one = run(1);
  EXPECT_EQ(one, run(2));
  // And equal to the sum in double, rounded once.
  std::vector<double> want(V * D, 0.0);
  const auto idx = indices.to_vector<std::int64_t>();
  const auto gv = g.to_vector<float>();
  for (std::int64_t n = 0; n < N; ++n) {
    for (std::int64_t d = 0; d < D; ++d) want[idx[n] * D + d] += gv[n * D + d];
  }
  expect_close(one, want, 1e-7, 1e-7, "embedding dweight, large");
}

TEST(Embedding, ErrorsNamePositionValueAndVocabulary) {
  Tensor weight = nn::zeros({7, 3});
  const std::string msg = error_message([&] {
    nn::embedding(weight, nn::from_vector(std::vector<std::int64_t>{0, 6, 2, 1, 9, 3}, {2, 3}));
  });
  EXPECT_NE(msg.find("[0, V) with V = 7"), std::string::npos) << msg;
  EXPECT_NE(msg.find("got 9"), std::string::npos) << msg;
  EXPECT_NE(msg.find("(1,1)"), std::string::npos) << msg;

  const std::string negative = error_message(
      [&] { nn::embedding(weight, nn::from_vector(std::vector<std::int64_t>{-1}, {1})); });
  EXPECT_NE(negative.find("got -1 at position (0)"), std::string::npos) << negative;

  const std::string wrong_weight =
      error_message([&] { nn::embedding(nn::zeros({7}), nn::zeros({2}, nn::DType::Int64)); });
  EXPECT_NE(wrong_weight.find("expected weight of shape (V,D), got (7)"), std::string::npos)
      << wrong_weight;
  const std::string wrong_dtype = error_message([&] { nn::embedding(weight, nn::zeros({2})); });
  EXPECT_NE(wrong_dtype.find("expected indices of dtype int64, got float32"), std::string::npos)
      << wrong_dtype;
}

// --- dropout ----------------------------------------------------------------------------

TEST(Dropout, FractionOfZerosIsCloseToPAndKeptValuesAreScaled) {
  const std::int64_t n = 100000;
  for (double p : {0.1, 0.3, 0.5, 0.9}) {
    nn::Generator gen(11);
    Tensor x = nn::affine(nn::rand({n}, &gen), 1.0, 0.5);  // in [0.5, 1.5): never 0
    nn::Generator mask_gen(12);
    const std::vector<float> xv = x.to_vector<float>();
    const std::vector<float> y = nn::dropout(x, p, true, &mask_gen).to_vector<float>();
    std::int64_t zeros = 0;
    for (std::int64_t i = 0; i < n; ++i) {
      if (y[i] == 0.0f) {
        ++zeros;
      } else {
        const double want = xv[i] / (1.0 - p);
        ASSERT_NEAR(y[i], want, 2e-7 * want) << "p=" << p << " element " << i;
      }
    }
    const double sigma = std::sqrt(p * (1 - p) / static_cast<double>(n));
    EXPECT_NEAR(static_cast<double>(zeros) / n, p, 5 * sigma) << "p=" << p;
  }
}

TEST(Dropout, SameSeedSameMaskDifferentSeedDifferentMask) {
  Tensor x = nn::ones({4096});
  nn::Generator a(7), b(7), c(8);
  const auto ya = nn::dropout(x, 0.5, true, &a).to_vector<float>();
  EXPECT_EQ(ya, nn::dropout(x, 0.5, true, &b).to_vector<float>());
  EXPECT_NE(ya, nn::dropout(x, 0.5, true, &c).to_vector<float>());
  // The generator advances: the next call on `a` draws a new mask.
  EXPECT_NE(ya, nn::dropout(x, 0.5, true, &a).to_vector<float>());
  // The default generator is used when none is given, and follows manual_seed.
  nn::manual_seed(99);
  const auto d1 = nn::dropout(x, 0.5, true).to_vector<float>();
  nn::manual_seed(99);
  EXPECT_EQ(d1, nn::dropout(x, 0.5, true).to_vector<float>());
}

TEST(Dropout, EvalModeAndZeroPAreTheIdentity) {
  Tensor x = nn::randn({3, 5});
  x.set_requires_grad();
  EXPECT_TRUE(nn::dropout(x, 0.5, /*training=*/false).is_same(x));
  EXPECT_TRUE(nn::dropout(x, 0.0, /*training=*/true).is_same(x));
}

TEST(Dropout, POneGivesZerosAndZeroGradient) {
  Tensor x = nn::randn({3, 5});
  x.set_requires_grad();
  Tensor y = nn::dropout(x, 1.0, true);
  EXPECT_EQ(y.to_vector<float>(), std::vector<float>(15, 0.0f));
  y.backward(nn::ones({3, 5}));
  EXPECT_EQ(x.grad().to_vector<float>(), std::vector<float>(15, 0.0f));
}

TEST(Dropout, BackwardUsesTheSameMask) {
  const std::int64_t n = 1000;
  const double p = 0.4;
  nn::Generator gen(21);
  Tensor x = nn::affine(nn::rand({n}, &gen), 1.0, 0.5);
  x.set_requires_grad();
  Tensor g = nn::randn({n}, &gen);
  Tensor y = nn::dropout(x, p, true, &gen);
  y.backward(g);
  const auto xv = x.to_vector<float>(), yv = y.to_vector<float>();
  const auto gv = g.to_vector<float>(), gx = x.grad().to_vector<float>();
  for (std::int64_t i = 0; i < n; ++i) {
    // y = x * mask, mask in {0, 1/(1-p)}: recover the mask from y and x.
    const double mask = yv[i] == 0.0f ? 0.0 : 1.0 / (1.0 - p);
    EXPECT_NEAR(gx[i], gv[i] * mask, 1e-6 * std::abs(gv[i] * mask)) << i;
    EXPECT_NEAR(yv[i], xv[i] * mask, 1e-6 * std::abs(xv[i] * mask)) << i;
  }
}

TEST(Dropout, RejectsPOutsideZeroOne) {
  Tensor x = nn::ones({4});
  for (double p : {-0.1, 1.5}) {
    for (bool training : {true, false}) {
      const std::string msg = error_message([&] { nn::dropout(x, p, training); });
      EXPECT_NE(msg.find("dropout: expected p in [0, 1]"), std::string::npos) << msg;
    }
  }
}

// --- layer_norm -------------------------------------------------------------------------

// x viewed (N,C); w, b empty = no affine
std::vector<double> layer_norm_ref(const std::vector<double>& x, const std::vector<double>& w,
                                   const std::vector<double>& b, std::int64_t N, std::int64_t C,
                                   double eps) {
  std::vector<double> y(x.size());
  for (std::int64_t n = 0; n < N; ++n) {
    double mean = 0.0, var = 0.0;
    for (std::int64_t c = 0; c < C; ++c) mean += x[n * C + c];
    mean /= C;
    for (std::int64_t c = 0; c < C; ++c) var += (x[n * C + c] - mean) * (x[n * C + c] - mean);
    var /= C;
    for (std::int64_t c = 0; c < C; ++c) {
      double v = (x[n * C + c] - mean) / std::sqrt(var + eps);
      if (!w.empty()) v *= w[c];
      if (!b.empty()) v += b[c];
      y[n * C + c] = v;
    }
  }
  return y;
}

void check_layer_norm(const Shape& x_shape, const Shape& normalized_shape, bool affine, double mean,
                      double stddev, std::uint64_t seed) {
  const std::int64_t C = nn::numel(normalized_shape), N = nn::numel(x_shape) / C;
  const std::vector<float> xv = random_values(N * C, seed, mean, stddev);
  const std::vector<float> wv = random_values(C, seed + 1, 1.0, 0.5);
  const std::vector<float> bv = random_values(C, seed + 2);
  const std::vector<float> gv = random_values(N * C, seed + 3);
  Tensor x = nn::from_vector(xv, x_shape).set_requires_grad();
  Tensor w = affine ? nn::from_vector(wv, normalized_shape).set_requires_grad() : Tensor();
  Tensor b = affine ? nn::from_vector(bv, normalized_shape).set_requires_grad() : Tensor();
  Tensor y = nn::layer_norm(x, normalized_shape, w, b, 1e-5);
  ASSERT_EQ(y.sizes(), x_shape);
  y.backward(nn::from_vector(gv, x_shape));

  const auto xd = to_double(xv), gd = to_double(gv);
  const auto wd = affine ? to_double(wv) : std::vector<double>{};
  const auto bd = affine ? to_double(bv) : std::vector<double>{};
  const std::string what = "layer_norm " + nn::shape_str(x_shape) + (affine ? " affine" : "");
  expect_close(y.to_vector<float>(), layer_norm_ref(xd, wd, bd, N, C, 1e-5), 1e-5, 1e-5,
               what + " out");
  expect_close(
      x.grad().to_vector<float>(),
      numeric_grad([&](const auto& p) { return layer_norm_ref(p, wd, bd, N, C, 1e-5); }, xd, gd),
      1e-4, 1e-5, what + " dx");
  if (affine) {
    expect_close(
        w.grad().to_vector<float>(),
        numeric_grad([&](const auto& p) { return layer_norm_ref(xd, p, bd, N, C, 1e-5); }, wd, gd),
        1e-4, 1e-5, what + " dweight");
    expect_close(
        b.grad().to_vector<float>(),
        numeric_grad([&](const auto& p) { return layer_norm_ref(xd, wd, p, N, C, 1e-5); }, bd, gd),
        1e-4, 1e-5, what + " dbias");
  }
}

TEST(LayerNorm, ForwardAndBackwardMatchDoubleReference) {
  check_layer_norm({2, 3, 4}, {4}, true, 0.5, 2.0, 31);
  check_layer_norm({2, 3, 4}, {4}, false, 0.5, 2.0, 32);
  check_layer_norm({2, 3, 4}, {3, 4}, true, 0.0, 1.0, 33);
  check_layer_norm({5, 33}, {33}, true, 0.0, 1.0, 34);
}

TEST(LayerNorm, LargeOffsetKeepsPrecision) {
  // mean 1000, std 0.01: E[x^2] - E[x]^2 in float would lose every digit.
  const std::int64_t N = 4, C = 64;
  const std::vector<float> xv = random_values(N * C, 41, 1000.0, 0.01);
  Tensor y = nn::layer_norm(nn::from_vector(xv, {N, C}), {C});
  expect_close(y.to_vector<float>(), layer_norm_ref(to_double(xv), {}, {}, N, C, 1e-5), 1e-4, 1e-4,
               "layer_norm offset 1000");
}

TEST(LayerNorm, BitIdenticalAcrossThreadCounts) {
  const std::int64_t N = 300, C = 257;
  nn::Generator gen(5);
  Tensor xv = nn::randn({N, C}, &gen), wv = nn::randn({C}, &gen), bv = nn::randn({C}, &gen);
  Tensor g = nn::randn({N, C}, &gen);
  auto run = [&](int threads) {
    test_util::ThreadScope scope(threads);
    Tensor x = xv.clone().set_requires_grad(), w = wv.clone().set_requires_grad();
    Tensor b = bv.clone().set_requires_grad();
    Tensor y = nn::layer_norm(x, {C}, w, b);
    y.backward(g);
    return std::vector<std::vector<float>>{y.to_vector<float>(), x.grad().to_vector<float>(),
                                           w.grad().to_vector<float>(),
                                           b.grad().to_vector<float>()};
  };
  EXPECT_EQ(run(1), run(2));
}

TEST(LayerNorm, ErrorsSayWhatWasExpected) {
  Tensor x = nn::zeros({2, 3, 4});
  std::string msg = error_message([&] { nn::layer_norm(x, {3}); });
  EXPECT_NE(msg.find("normalized_shape (3), got (2,3,4)"), std::string::npos) << msg;
  msg = error_message([&] { nn::layer_norm(x, {4}, nn::ones({3})); });
  EXPECT_NE(msg.find("expected weight of shape (4), got (3)"), std::string::npos) << msg;
  msg = error_message([&] { nn::layer_norm(x, {4}, Tensor(), nn::ones({4, 1})); });
  EXPECT_NE(msg.find("expected bias of shape (4), got (4,1)"), std::string::npos) << msg;
  msg = error_message([&] { nn::layer_norm(x, {}); });
  EXPECT_NE(msg.find("at least one dim"), std::string::npos) << msg;
}

// --- batch_norm -------------------------------------------------------------------------

struct BatchNormRef {
  std::vector<double> y, batch_mean, batch_var_unbiased;
};

// x viewed (N,C,L); rm, rv used in evaluation; w, b empty = no affine
BatchNormRef batch_norm_ref(const std::vector<double>& x, const std::vector<double>& rm,
                            const std::vector<double>& rv, const std::vector<double>& w,
                            const std::vector<double>& b, bool training, std::int64_t N,
                            std::int64_t C, std::int64_t L, double eps) {
  BatchNormRef r{std::vector<double>(x.size()), std::vector<double>(C), std::vector<double>(C)};
  const double M = static_cast<double>(N * L);
  for (std::int64_t c = 0; c < C; ++c) {
    double mean = 0.0, ss = 0.0;
    for (std::int64_t n = 0; n < N; ++n)
      for (std::int64_t l = 0; l < L; ++l) mean += x[(n * C + c) * L + l];
    mean /= M;
    for (std::int64_t n = 0; n < N; ++n)
      for (std::int64_t l = 0; l < L; ++l) {
        const double d = x[(n * C + c) * L + l] - mean;
        ss += d * d;
      }
    r.batch_mean[c] = mean;
    r.batch_var_unbiased[c] = ss / (M - 1);
    const double m = training ? mean : rm[c];
    const double var = training ? ss / M : rv[c];
    for (std::int64_t n = 0; n < N; ++n)
      for (std::int64_t l = 0; l < L; ++l) {
        const std::int64_t i = (n * C + c) * L + l;
        double v = (x[i] - m) / std::sqrt(var + eps);
        if (!w.empty()) v *= w[c];
        if (!b.empty()) v += b[c];
        r.y[i] = v;
      }
  }
  return r;
}

void check_batch_norm(const Shape& x_shape, bool training, bool affine, std::uint64_t seed) {
  const std::int64_t N = x_shape[0], C = x_shape[1], L = x_shape.size() == 3 ? x_shape[2] : 1;
  const double momentum = 0.1, eps = 1e-5;
  const std::vector<float> xv = random_values(N * C * L, seed, 0.3, 1.5);
  const std::vector<float> rmv = random_values(C, seed + 1, 0.0, 0.5);
  std::vector<float> rvv = random_values(C, seed + 2);
  for (float& v : rvv) v = 0.5f + std::abs(v);
  const std::vector<float> wv = random_values(C, seed + 3, 1.0, 0.5);
  const std::vector<float> bv = random_values(C, seed + 4);
  const std::vector<float> gv = random_values(N * C * L, seed + 5);

  Tensor x = nn::from_vector(xv, x_shape).set_requires_grad();
  Tensor rm = nn::from_vector(rmv, {C}), rv = nn::from_vector(rvv, {C});
  Tensor w = affine ? nn::from_vector(wv, {C}).set_requires_grad() : Tensor();
  Tensor b = affine ? nn::from_vector(bv, {C}).set_requires_grad() : Tensor();
  Tensor y = nn::batch_norm(x, rm, rv, w, b, training, momentum, eps);
  y.backward(nn::from_vector(gv, x_shape));

  const auto xd = to_double(xv), rmd = to_double(rmv), rvd = to_double(rvv), gd = to_double(gv);
  const auto wd = affine ? to_double(wv) : std::vector<double>{};
  const auto bd = affine ? to_double(bv) : std::vector<double>{};
  const std::string what = std::string("batch_norm ") + nn::shape_str(x_shape) +
                           (training ? " train" : " eval") + (affine ? " affine" : "");
  const BatchNormRef ref = batch_norm_ref(xd, rmd, rvd, wd, bd, training, N, C, L, eps);
  expect_close(y.to_vector<float>(), ref.y, 1e-5, 1e-5, what + " out");

  // Running statistics: updated in training (unbiased variance), untouched in evaluation.
  std::vector<double> want_rm = rmd, want_rv = rvd;
  if (training) {
    for (std::int64_t c = 0; c < C; ++c) {
      want_rm[c] = (1 - momentum) * rmd[c] + momentum * ref.batch_mean[c];
      want_rv[c] = (1 - momentum) * rvd[c] + momentum * ref.batch_var_unbiased[c];
    }
  }
  expect_close(rm.to_vector<float>(), want_rm, 1e-6, 1e-7, what + " running_mean");
  expect_close(rv.to_vector<float>(), want_rv, 1e-6, 1e-7, what + " running_var");

  auto f = [&](const std::vector<double>& px, const std::vector<double>& pw,
               const std::vector<double>& pb) {
    return batch_norm_ref(px, rmd, rvd, pw, pb, training, N, C, L, eps).y;
  };
  expect_close(x.grad().to_vector<float>(),
               numeric_grad([&](const auto& p) { return f(p, wd, bd); }, xd, gd), 1e-4, 1e-5,
               what + " dx");
  if (affine) {
    expect_close(w.grad().to_vector<float>(),
                 numeric_grad([&](const auto& p) { return f(xd, p, bd); }, wd, gd), 1e-4, 1e-5,
                 what + " dweight");
    expect_close(b.grad().to_vector<float>(),
                 numeric_grad([&](const auto& p) { return f(xd, wd, p); }, bd, gd), 1e-4, 1e-5,
                 what + " dbias");
  }
}

TEST(BatchNorm, TrainingMatchesDoubleReferenceAndUpdatesRunningStats) {
  check_batch_norm({6, 4}, true, true, 51);
  check_batch_norm({3, 4, 5}, true, true, 52);
  check_batch_norm({3, 4, 5}, true, false, 53);
}

TEST(BatchNorm, EvalUsesRunningStatsAndLeavesThemAlone) {
  check_batch_norm({6, 4}, false, true, 61);
  check_batch_norm({3, 4, 5}, false, true, 62);
  check_batch_norm({3, 4, 5}, false, false, 63);
}

TEST(BatchNorm, EvalBackwardIsTheAffineScale) {
  const std::int64_t N = 5, C = 3;
  Tensor x = nn::randn({N, C}).set_requires_grad();
  const std::vector<float> rv = {0.5f, 1.0f, 2.0f}, w = {2.0f, -1.0f, 0.25f};
  Tensor y = nn::batch_norm(x, nn::from_vector(std::vector<float>{0.1f, 0.2f, 0.3f}, {C}),
                            nn::from_vector(rv, {C}), nn::from_vector(w, {C}), Tensor(), false);
  const std::vector<float> g = random_values(N * C, 64);
  y.backward(nn::from_vector(g, {N, C}));
  std::vector<double> want(N * C);
  for (std::int64_t n = 0; n < N; ++n)
    for (std::int64_t c = 0; c < C; ++c)
      want[n * C + c] = g[n * C + c] * w[c] / std::sqrt(rv[c] + 1e-5);
  expect_close(x.grad().to_vector<float>(), want, 1e-6, 1e-7, "batch_norm eval dx");
}

TEST(BatchNorm, TrainingWithoutRunningStats) {
  const std::vector<float> xv = random_values(12, 71);
  Tensor y =
      nn::batch_norm(nn::from_vector(xv, {4, 3}), Tensor(), Tensor(), Tensor(), Tensor(), true);
  expect_close(y.to_vector<float>(),
               batch_norm_ref(to_double(xv), {}, {}, {}, {}, true, 4, 3, 1, 1e-5).y, 1e-5, 1e-5,
               "batch_norm no running stats");
}

TEST(BatchNorm, RunningStatsThatRequireGradAreUpdatedWithoutHistory) {
  Tensor rm = nn::zeros({2}).set_requires_grad(), rv = nn::ones({2}).set_requires_grad();
  Tensor x = nn::from_vector(std::vector<float>{1, 2, 3, 6}, {2, 2});
  nn::batch_norm(x, rm, rv, Tensor(), Tensor(), true, 0.5);
  // mean (2, 4), unbiased var (2, 8)
  EXPECT_EQ(rm.to_vector<float>(), (std::vector<float>{1.0f, 2.0f}));
  EXPECT_EQ(rv.to_vector<float>(), (std::vector<float>{1.5f, 4.5f}));
  EXPECT_TRUE(rm.is_leaf());
}

TEST(BatchNorm, BitIdenticalAcrossThreadCounts) {
  const std::int64_t N = 16, C = 8, L = 300;
  nn::Generator gen(6);
  Tensor xv = nn::randn({N, C, L}, &gen), g = nn::randn({N, C, L}, &gen);
  auto run = [&](int threads) {
    test_util::ThreadScope scope(threads);
    Tensor x = xv.clone().set_requires_grad(), w = nn::ones({C}).set_requires_grad();
    Tensor b = nn::zeros({C}).set_requires_grad();
    Tensor rm = nn::zeros({C}), rv = nn::ones({C});
    Tensor y = nn::batch_norm(x, rm, rv, w, b, true);
    y.backward(g);
    return std::vector<std::vector<float>>{y.to_vector<float>(),        x.grad().to_vector<float>(),
                                           w.grad().to_vector<float>(), b.grad().to_vector<float>(),
                                           rm.to_vector<float>(),       rv.to_vector<float>()};
  };
  EXPECT_EQ(run(1), run(2));
}

TEST(BatchNorm, ErrorsSayWhatWasExpected) {
  Tensor c4 = nn::ones({4});
  std::string msg = error_message([&] {
    nn::batch_norm(nn::zeros({2, 4, 3, 3}), c4, c4, c4, c4, true);
  });
  EXPECT_NE(msg.find("expected x of shape (N,C) or (N,C,L), got (2,4,3,3)"), std::string::npos)
      << msg;
  msg = error_message([&] { nn::batch_norm(nn::zeros({2, 4}), c4, c4, nn::ones({3}), c4, true); });
  EXPECT_NE(msg.find("expected weight of shape (4), got (3)"), std::string::npos) << msg;
  msg = error_message([&] { nn::batch_norm(nn::zeros({1, 4}), c4, c4, c4, c4, true); });
  EXPECT_NE(msg.find("more than 1 value per channel"), std::string::npos) << msg;
  msg = error_message([&] {
    nn::batch_norm(nn::zeros({2, 4}), Tensor(), Tensor(), c4, c4, false);
  });
  EXPECT_NE(msg.find("evaluation mode"), std::string::npos) << msg;
  msg = error_message([&] { nn::batch_norm(nn::zeros({2, 4}), c4, Tensor(), c4, c4, true); });
  EXPECT_NE(msg.find("both given or both undefined"), std::string::npos) << msg;
}

}  // namespace
