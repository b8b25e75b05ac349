// The persistent CUDA LSTM's plan (src/kernels/lstm_plan.hpp, pure host code) and the LSTM
// algorithm setting (nn::cuda::set_lstm_algorithm), both without a GPU. The plan is checked
// against a brute-force search over the units per block, and against the limits of real GPUs
// (H100 / H200: 132 multiprocessors, 227 KiB of opt-in shared memory per block; A100: 108,
// 163 KiB).
#include <gtest/gtest.h>

#include <string>

#include "kernels/lstm_plan.hpp"
#include "libnn/cuda.hpp"
#include "libnn/error.hpp"

namespace {

using nn::kernels::LstmGpuLimits;
using nn::kernels::plan_lstm_persistent;

constexpr LstmGpuLimits kHopper{132, 232448, 1};
constexpr LstmGpuLimits kA100{108, 166912, 1};

// The fewest units per block for which at most sm_count blocks cover H, by trying them all.
std::int64_t fewest_units(std::int64_t H, int sms) {
  for (std::int64_t u = 1;; ++u) {
    if ((H + u - 1) / u <= sms) return u;
  }
}

TEST(LstmPlan, AgreesWithBruteForce) {
  for (const LstmGpuLimits& gpu : {kHopper, kA100, LstmGpuLimits{4, 48 * 1024, 2}}) {
    for (std::int64_t H = 1; H <= 2600; H += (H < 300 ? 1 : 37)) {
      SCOPED_TRACE("H " + std::to_string(H) + " on " + std::to_string(gpu.sm_count) + " SMs");
      const auto plan = plan_lstm_persistent(16, H, gpu);
      const std::int64_t units = fewest_units(H, gpu.sm_count);
      const std::int64_t bytes = units * 4 * H * 4;
      EXPECT_EQ(plan.fits, bytes <= gpu.smem_per_block) << plan.reason;
      EXPECT_EQ(plan.units, units);
      EXPECT_EQ(plan.smem_bytes, bytes);
      // the blocks cover H, none is empty, and the grid is co-resident (<= one per SM)
      EXPECT_GE(plan.blocks * plan.units, H);
      EXPECT_LT((plan.blocks - 1) * plan.units, H);
      EXPECT_LE(plan.blocks, gpu.sm_count);
      EXPECT_EQ(plan.threads % 32, 0);
      if (!plan.fits) {
        EXPECT_NE(plan.reason.find("does not fit on chip"), std::string::npos);
      }
    }
  }
}

// bf16 on chip: half the bytes per unit, the same cut, and the hidden sizes up to about
// 1900 fit a Hopper GPU (float32: about 1320).
TEST(LstmPlan, Bf16HalvesTheBytesPerUnit) {
  for (std::int64_t H = 1; H <= 2600; H += (H < 300 ? 1 : 37)) {
    SCOPED_TRACE("H " + std::to_string(H));
    const auto f32 = plan_lstm_persistent(16, H, kHopper);
    const auto bf16 = plan_lstm_persistent(16, H, kHopper, 2);
    const std::int64_t units = fewest_units(H, kHopper.sm_count);
    EXPECT_EQ(f32.weight_bytes, 4);
    EXPECT_EQ(bf16.weight_bytes, 2);
    EXPECT_EQ(bf16.units, units);
    EXPECT_EQ(bf16.blocks, f32.blocks);
    EXPECT_EQ(bf16.smem_bytes, units * 4 * H * 2);
    EXPECT_EQ(bf16.fits, units * 4 * H * 2 <= kHopper.smem_per_block) << bf16.reason;
    if (f32.fits) {
      EXPECT_TRUE(bf16.fits) << "whatever fits in float32 fits in bf16";
    }
    if (!bf16.fits) {
      EXPECT_NE(bf16.reason.find("4H bf16 values"), std::string::npos) << bf16.reason;
    }
  }
  EXPECT_FALSE(plan_lstm_persistent(1, 1500, kHopper).fits);
  EXPECT_TRUE(plan_lstm_persistent(1, 1500, kHopper, 2).fits);   // 12 units x 12000 bytes
  EXPECT_TRUE(plan_lstm_persistent(1, 1900, kHopper, 2).fits);   // 15 x 15200 = 228000
  EXPECT_FALSE(plan_lstm_persistent(1, 2048, kHopper, 2).fits);  // 16 x 16384 = 262144
}

// The bench's hidden sizes fit a Hopper GPU; twice the largest does not.
TEST(LstmPlan, HopperHolds256To1024) {
  for (const std::int64_t H : {256, 512, 1024}) {
    for (const std::int64_t B : {1, 16, 64, 256}) {
      const auto plan = plan_lstm_persistent(B, H, kHopper);
      EXPECT_TRUE(plan.fits) << "H " << H << " B " << B << ": " << plan.reason;
    }
  }
  const auto h1024 = plan_lstm_persistent(1, 1024, kHopper);
  EXPECT_EQ(h1024.units, 8);     // ceil(1024 / 132)
  EXPECT_EQ(h1024.blocks, 128);  // ceil(1024 / 8)
  EXPECT_EQ(h1024.smem_bytes, 8 * 4 * 1024 * 4);
  const auto h2048 = plan_lstm_persistent(1, 2048, kHopper);
  EXPECT_FALSE(h2048.fits);
  EXPECT_NE(h2048.reason.find("524288 bytes"), std::string::npos) << h2048.reason;
  // An A100 has less shared memory and fewer multiprocessors: H = 1024 needs 10 units x 16 KiB.
  EXPECT_TRUE(plan_lstm_persistent(1, 1024, kA100).fits);
  EXPECT_FALSE(plan_lstm_persistent(1, 1200, kA100).fits);
}

TEST(LstmPlan, RefusesWhatCannotRun) {
  EXPECT_FALSE(plan_lstm_persistent(0, 256, kHopper).fits);
  EXPECT_FALSE(plan_lstm_persistent(4, 0, kHopper).fits);
  EXPECT_FALSE(plan_lstm_persistent(4, 256, LstmGpuLimits{}).fits);
  const auto zero_occupancy = plan_lstm_persistent(4, 256, LstmGpuLimits{132, 232448, 0});
  EXPECT_FALSE(zero_occupancy.fits);
  EXPECT_NE(zero_occupancy.reason.find("occupancy 0"), std::string::npos);
  // not asked yet (-1): planned as if one block fits per multiprocessor
  EXPECT_TRUE(plan_lstm_persistent(4, 256, LstmGpuLimits{132, 232448, -1}).fits);
}

TEST(LstmAlgorithmSetting, ParsesNamesAndRefusesOthers) {
  using nn::cuda::LstmAlgorithm;
  for (const LstmAlgorithm a : {LstmAlgorithm::Stepwise, LstmAlgorithm::Persistent,
                                LstmAlgorithm::Cudnn, LstmAlgorithm::Auto}) {
    nn::cuda::set_lstm_algorithm(nn::cuda::lstm_algorithm_name(a));
    EXPECT_EQ(nn::cuda::lstm_algorithm(), a);
  }
  EXPECT_EQ(nn::cuda::lstm_algorithm(), LstmAlgorithm::Auto);
  try {
    nn::cuda::set_lstm_algorithm("fused");
    FAIL() << "no error for an unknown algorithm";
  } catch (const nn::Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("expected auto, stepwise, persistent or cudnn, got 'fused'"),
              std::string::npos)
        << message;
  }
  EXPECT_EQ(nn::cuda::lstm_algorithm(), LstmAlgorithm::Auto);  // unchanged by the refusal
}

}  // namespace
