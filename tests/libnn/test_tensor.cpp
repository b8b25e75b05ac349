// Tensors, views, factories, errors and the random generator (libnn/tensor.hpp, random.hpp).
#include <gtest/gtest.h>

#include <cmath>

#include "libnn/autograd.hpp"
#include "libnn/cuda.hpp"
#include "libnn/ops.hpp"
#include "libnn/random.hpp"

namespace {

using nn::Shape;
using nn::Tensor;

TEST(Tensor, FactoriesAndAccessors) {
  Tensor t = nn::full({2, 3}, 1.5);
  EXPECT_EQ(t.sizes(), (Shape{2, 3}));
  EXPECT_EQ(t.numel(), 6);
  EXPECT_EQ(t.dim(), 2);
  EXPECT_EQ(t.size(-1), 3);
  EXPECT_EQ(t.dtype(), nn::DType::Float32);
  EXPECT_TRUE(t.device().is_cpu());
  EXPECT_EQ(t.to_vector<float>(), std::vector<float>(6, 1.5f));
  EXPECT_EQ(nn::scalar_tensor(4.0).item<float>(), 4.0f);
  EXPECT_EQ(nn::arange(4, nn::DType::Int64).to_vector<std::int64_t>(), (std::vector<std::int64_t>{0, 1, 2, 3}));
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(t.raw_data()) % 64, 0u) << "storage is 64-byte aligned";
}

TEST(Tensor, ErrorsSayWhatWasExpectedAndFound) {
  try {
    nn::from_vector(std::vector<float>{1, 2, 3}, {2, 2});
    FAIL();
  } catch (const nn::Error& e) {
    EXPECT_NE(std::string(e.what()).find("expected 4 values for shape (2,2), got 3"), std::string::npos) << e.what();
  }
  try {
    nn::matmul(nn::zeros({2, 3}), nn::zeros({4, 5}));
    FAIL();
  } catch (const nn::Error& e) {
    EXPECT_NE(std::string(e.what()).find("(3,M)"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("(4,5)"), std::string::npos) << e.what();
  }
  EXPECT_THROW(nn::add(nn::zeros({2, 3}), nn::zeros({4})), nn::Error);
  EXPECT_THROW(nn::zeros({2}).data_ptr<std::int64_t>(), nn::Error);
  EXPECT_THROW(Tensor().sizes(), nn::Error);
  EXPECT_THROW(nn::zeros({2, 3}).size(2), nn::Error);
  if (!nn::cuda::is_available()) {
    EXPECT_THROW(nn::zeros({2}, nn::Device::cuda()), nn::Error);
  }
}

TEST(Tensor, ReshapeIsAViewSliceIsAViewOnlyWhenContiguous) {
  Tensor t = nn::from_vector(std::vector<float>{0, 1, 2, 3, 4, 5}, {2, 3});
  Tensor r = t.reshape({3, -1});
  EXPECT_EQ(r.sizes(), (Shape{3, 2}));
  EXPECT_EQ(r.raw_data(), t.raw_data());
  Tensor rows = t.slice(0, 1, 2);  // contiguous: shares storage
  EXPECT_EQ(rows.raw_data(), static_cast<float*>(t.raw_data()) + 3);
  EXPECT_EQ(rows.to_vector<float>(), (std::vector<float>{3, 4, 5}));
  Tensor cols = t.slice(1, 1, 3);  // not contiguous: a copy
  EXPECT_EQ(cols.to_vector<float>(), (std::vector<float>{1, 2, 4, 5}));
  EXPECT_EQ(t.slice(1, -2, 100).to_vector<float>(), (std::vector<float>{1, 2, 4, 5}));  // Python's clamping
  EXPECT_EQ(t.t().to_vector<float>(), (std::vector<float>{0, 3, 1, 4, 2, 5}));
  EXPECT_EQ(t.unsqueeze(0).sizes(), (Shape{1, 2, 3}));
  EXPECT_EQ(t.flatten().sizes(), (Shape{6}));
  EXPECT_THROW(t.reshape({4, -1}), nn::Error);
}

TEST(Tensor, InPlaceUpdatesAndClone) {
  Tensor a = nn::ones({3});
  Tensor b = a.clone();
  b.add_(nn::full({3}, 2.0), 0.5);
  EXPECT_EQ(a.to_vector<float>(), std::vector<float>(3, 1.0f));
  EXPECT_EQ(b.to_vector<float>(), std::vector<float>(3, 2.0f));
  b.mul_(3.0);
  EXPECT_EQ(b.to_vector<float>(), std::vector<float>(3, 6.0f));
  Tensor c = nn::zeros({2, 3});
  c.copy_(nn::from_vector(std::vector<float>{1, 2, 3}, {3}));  // broadcast
  EXPECT_EQ(c.to_vector<float>(), (std::vector<float>{1, 2, 3, 1, 2, 3}));
  Tensor leaf = nn::ones({2}).set_requires_grad();
  EXPECT_THROW(leaf.fill_(0.0), nn::Error) << "in-place on a leaf requiring grad, grad mode on";
  nn::NoGradGuard no_grad;
  EXPECT_NO_THROW(leaf.fill_(0.0));
}

// Known-answer vectors of Philox4x32-10 from the Random123 distribution (kat_vectors).
TEST(Random, PhiloxKnownAnswers) {
  EXPECT_EQ(nn::philox4x32(0, 0, 0), (std::array<std::uint32_t, 4>{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}));
  EXPECT_EQ(nn::philox4x32(~0ULL, ~0ULL, ~0ULL),
            (std::array<std::uint32_t, 4>{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}));
  EXPECT_EQ(nn::philox4x32(0x299f31d0a4093822ULL, 0x85a308d3243f6a88ULL, 0x0370734413198a2eULL),
            (std::array<std::uint32_t, 4>{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}));
}

TEST(Random, SameSeedSameValuesAndStateRestores) {
  nn::Generator a(42), b(42), c(43);
  const auto x = nn::randn({1000}, &a).to_vector<float>();
  EXPECT_EQ(x, nn::randn({1000}, &b).to_vector<float>());
  EXPECT_NE(x, nn::randn({1000}, &c).to_vector<float>());
  const nn::Generator::State saved = a.state();
  const auto next = nn::rand({77}, &a).to_vector<float>();
  a.set_state(saved);
  EXPECT_EQ(next, nn::rand({77}, &a).to_vector<float>());
  nn::manual_seed(5);
  const auto g1 = nn::randn({10}).to_vector<float>();
  nn::manual_seed(5);
  EXPECT_EQ(g1, nn::randn({10}).to_vector<float>());
}

TEST(Random, DistributionsHaveTheRightMoments) {
  nn::Generator gen(1);
  const int n = 200000;
  auto moments = [](const std::vector<float>& v) {
    double s = 0, s2 = 0;
    for (float x : v) { s += x; s2 += double(x) * x; }
    const double mean = s / v.size();
    return std::pair{mean, s2 / v.size() - mean * mean};
  };
  // Standard errors: normal mean 1/sqrt(n) ~ 0.0022, var ~ sqrt(2/n) ~ 0.0032.
  auto [m, v] = moments(nn::randn({n}, &gen).to_vector<float>());
  EXPECT_NEAR(m, 0.0, 0.012);
  EXPECT_NEAR(v, 1.0, 0.016);
  auto [mu, vu] = moments(nn::rand({n}, &gen).to_vector<float>());
  EXPECT_NEAR(mu, 0.5, 0.004);
  EXPECT_NEAR(vu, 1.0 / 12, 0.002);
  auto [mb, vb] = moments(nn::bernoulli({n}, 0.3, &gen).to_vector<float>());
  EXPECT_NEAR(mb, 0.3, 0.006);
  for (float u : nn::rand({4096}, &gen).to_vector<float>()) {
    ASSERT_GE(u, 0.0f);
    ASSERT_LT(u, 1.0f);
  }
  for (auto k : nn::randint(3, 7, {4096}, &gen).to_vector<std::int64_t>()) {
    ASSERT_GE(k, 3);
    ASSERT_LT(k, 7);
  }
}

}  // namespace
