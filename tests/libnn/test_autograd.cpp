// The autograd engine: accumulation, graph freeing, retain_graph, detach, NoGradGuard (per
// thread), multiple roots, shared subexpressions, determinism, and its error messages.
#include <gtest/gtest.h>

#include <cmath>
#include <future>
#include <thread>

#include "libnn/random.hpp"

#include "libnn/autograd.hpp"
#include "libnn/ops.hpp"

namespace {

using nn::Tensor;

Tensor vec(std::vector<float> v) {
  const auto n = static_cast<std::int64_t>(v.size());
  return nn::from_vector(v, {n});
}

TEST(Autograd, ChainRuleThroughASharedSubexpression) {
  // y = sum(a*b + a*a); dy/da = b + 2a, dy/db = a
  Tensor a = vec({1, 2, 3}).set_requires_grad();
  Tensor b = vec({4, 5, 6}).set_requires_grad();
  Tensor y = nn::sum(a * b + a * a);
  y.backward();
  EXPECT_EQ(a.grad().to_vector<float>(), (std::vector<float>{6, 9, 12}));
  EXPECT_EQ(b.grad().to_vector<float>(), (std::vector<float>{1, 2, 3}));
}

TEST(Autograd, GradientsAccumulateAcrossCallsUntilZeroed) {
  Tensor a = vec({1, 2}).set_requires_grad();
  nn::sum(a * 3.0).backward();
  nn::sum(a * 3.0).backward();
  EXPECT_EQ(a.grad().to_vector<float>(), (std::vector<float>{6, 6}));
  a.zero_grad(/*set_to_none=*/false);
  EXPECT_EQ(a.grad().to_vector<float>(), (std::vector<float>{0, 0}));
  a.zero_grad();
  EXPECT_FALSE(a.grad().defined());
}

TEST(Autograd, GraphIsFreedUnlessRetained) {
  Tensor a = vec({1, 2}).set_requires_grad();
  Tensor y = nn::sum(nn::exp(a));
  y.backward(Tensor(), /*retain_graph=*/true);
  y.backward();  // allowed: the graph was kept
  EXPECT_NEAR(a.grad().to_vector<float>()[0], 2 * std::exp(1.0f), 1e-5);
  try {
    y.backward();
    FAIL() << "a freed graph must refuse a second backward";
  } catch (const nn::Error& e) {
    EXPECT_NE(std::string(e.what()).find("retain_graph"), std::string::npos) << e.what();
  }
}

TEST(Autograd, ExplicitGradientForNonScalarRoots) {
  Tensor a = vec({1, 2, 3}).set_requires_grad();
  Tensor y = a * 2.0;
  EXPECT_THROW(y.backward(), nn::Error) << "non-scalar without a gradient";
  y.backward(vec({1, 10, 100}));
  EXPECT_EQ(a.grad().to_vector<float>(), (std::vector<float>{2, 20, 200}));
  EXPECT_THROW(nn::sum(vec({1, 2})).backward(), nn::Error) << "no history: nothing requires grad";
}

TEST(Autograd, DetachAndNoGradCutTheGraph) {
  Tensor a = vec({1, 2}).set_requires_grad();
  Tensor d = a.detach();
  EXPECT_FALSE(d.requires_grad());
  EXPECT_EQ(d.raw_data(), a.raw_data());
  {
    nn::NoGradGuard guard;
    Tensor y = a * 2.0;
    EXPECT_FALSE(y.requires_grad());
  }
}

// Grad mode is per thread: a thread inside a NoGradGuard (a generation) does not stop another
// thread from recording (a training step), and leaves the mode as it found it.
TEST(Autograd, NoGradGuardIsPerThread) {
  Tensor a = vec({1, 2}).set_requires_grad();
  std::promise<void> guard_held, recorded;
  bool recorded_inside = true, recorded_after = false;
  std::thread inference([&] {
    nn::NoGradGuard guard;
    guard_held.set_value();
    recorded.get_future().wait();
    recorded_inside = (a * 2.0).requires_grad();
  });
  guard_held.get_future().wait();
  const bool training_records = (a * 3.0).requires_grad();  // while the other holds its guard
  recorded.set_value();
  inference.join();
  std::thread([&] { recorded_after = (a * 2.0).requires_grad(); }).join();
  EXPECT_TRUE(training_records);
  EXPECT_FALSE(recorded_inside);
  EXPECT_TRUE(recorded_after) << "a new thread starts recording";
  EXPECT_TRUE(nn::grad_mode_enabled());
}

}  // namespace

namespace {

TEST(Autograd, MultipleRootsAndBroadcastGradients) {
  // y1 = sum(a + b) with b broadcast over rows, y2 = sum(a * 2): da = 1 + 2, db = rows
  Tensor a = nn::ones({3, 2}).set_requires_grad();
  Tensor b = nn::ones({2}).set_requires_grad();
  nn::backward({nn::sum(a + b), nn::sum(a * 2.0)});
  EXPECT_EQ(a.grad().to_vector<float>(), std::vector<float>(6, 3.0f));
  EXPECT_EQ(b.grad().to_vector<float>(), std::vector<float>(2, 3.0f));
}

TEST(Autograd, IntegerOutputsCarryNoGradient) {
  Tensor x = nn::from_vector(std::vector<float>{1, 5, 2, 7}, {2, 2}).set_requires_grad();
  nn::MaxResult r = nn::max(x, 1);
  EXPECT_TRUE(r.values.requires_grad());
  EXPECT_FALSE(r.indices.requires_grad());
  EXPECT_EQ(r.indices.to_vector<std::int64_t>(), (std::vector<std::int64_t>{1, 1}));
  nn::sum(r.values).backward();
  EXPECT_EQ(x.grad().to_vector<float>(), (std::vector<float>{0, 1, 0, 1}));
}

TEST(Autograd, SameProgramGivesBitIdenticalGradients) {
  auto run = [] {
    nn::Generator gen(3);
    Tensor w = nn::randn({64, 32}, &gen).set_requires_grad();
    Tensor x = nn::randn({16, 32}, &gen);
    Tensor h = nn::tanh(nn::linear(x, w));
    nn::sum(h * h + nn::sigmoid(h)).backward();
    return w.grad().to_vector<float>();
  };
  EXPECT_EQ(run(), run());
}

TEST(Autograd, LongChainsDoNotOverflowTheStack) {
  Tensor a = vec({1}).set_requires_grad();
  Tensor y = a;
  for (int i = 0; i < 20000; ++i) y = y * 1.0;
  nn::sum(y).backward();
  EXPECT_EQ(a.grad().to_vector<float>(), std::vector<float>{1});
}

}  // namespace

namespace {

TEST(Autograd, MisuseIsReportedNotCrashed) {
  Tensor undefined;
  EXPECT_THROW(undefined.set_requires_grad(), nn::Error);
  EXPECT_THROW(undefined.zero_grad(), nn::Error);
  Tensor a = vec({1, 2}).set_requires_grad();
  Tensor b = a * 2.0;
  try {
    b.set_requires_grad(false);
    FAIL() << "only leaves can change requires_grad";
  } catch (const nn::Error& e) {
    EXPECT_NE(std::string(e.what()).find("'affine'"), std::string::npos) << e.what();
  }
  EXPECT_THROW(nn::arange(3, nn::DType::Int64).set_requires_grad(), nn::Error) << "integer tensors";
}

}  // namespace
