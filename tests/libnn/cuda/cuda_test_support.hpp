// Shared by the CUDA backend's tests (tests/libnn/cuda/test_*.cpp, the libnn_cuda_tests
// executable, ctest label "cuda"): skipping without a GPU, the error measure every CPU-vs-CUDA
// comparison uses, fresh random inputs, and guards for the allocator's poisoning and the
// matmul precision and the LSTM algorithm.
//
// Every test that needs a GPU starts with NN_REQUIRE_CUDA(): on a machine without one (or a
// build without the backend) it skips, saying why. The comparisons are CUDA against libnn's
// CPU kernels (the reference, themselves checked against PyTorch by tests/libnn/) on inputs
// that are not the fixtures' exact values, with every CUDA allocation poisoned (filled with
// NaN / -1) so that an output element a kernel forgets to write fails the comparison.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "libnn/cuda.hpp"
#include "libnn/error.hpp"
#include "libnn/random.hpp"
#include "libnn/tensor.hpp"

// Skips the current test, with the reason, when no CUDA device can be used.
#define NN_REQUIRE_CUDA()                               \
  do {                                                  \
    if (!::nn::cuda::is_available()) {                  \
      GTEST_SKIP() << ::nn::cuda::unavailable_reason(); \
    }                                                   \
  } while (false)

namespace cuda_test {

inline constexpr nn::Device kCpu = nn::Device::cpu();
inline constexpr nn::Device kCuda = nn::Device::cuda(0);

// A float rounded to fewer mantissa bits, as a tensor core's operand conversion does:
// bf16 keeps 7 stored bits (drop 16), TF32 10 (drop 13). `nearest`: round to nearest, ties
// to even; otherwise toward zero (truncation). NaN and infinity pass through.
inline float round_mantissa(float x, int drop_bits, bool nearest = true) {
  if (!std::isfinite(x)) return x;
  std::uint32_t u = 0;
  std::memcpy(&u, &x, sizeof u);
  const std::uint32_t mask = ~((std::uint32_t{1} << drop_bits) - 1);
  if (nearest) {
    const std::uint32_t half = (std::uint32_t{1} << (drop_bits - 1)) - 1;
    u += half + ((u >> drop_bits) & 1u);
  }
  u &= mask;
  std::memcpy(&x, &u, sizeof x);
  return x;
}
inline constexpr int kBf16Drop = 16, kTf32Drop = 13;

// A float32 tensor's values rounded (round_mantissa), as a new tensor on the same device.
inline nn::Tensor rounded(const nn::Tensor& t, int drop_bits, bool nearest = true) {
  std::vector<float> v = t.to(kCpu).to_vector<float>();
  for (float& x : v) x = round_mantissa(x, drop_bits, nearest);
  return nn::from_vector(v, t.sizes()).to(t.device());
}

// ||a - b|| / max(||b||, tiny) over all elements (float32 tensors on any device), in double.
// A NaN anywhere (in either tensor, or from inf - inf) or a shape / dtype mismatch gives
// infinity, so it never passes a `<= tolerance` check.
inline double rel_error(const nn::Tensor& a, const nn::Tensor& b) {
  constexpr double kInf = std::numeric_limits<double>::infinity();
  if (!a.defined() || !b.defined()) return kInf;
  if (a.sizes() != b.sizes() || a.dtype() != nn::DType::Float32 ||
      b.dtype() != nn::DType::Float32) {
    return kInf;
  }
  const std::vector<float> va = a.to_vector<float>();
  const std::vector<float> vb = b.to_vector<float>();
  double diff = 0.0, ref = 0.0;
  for (std::size_t i = 0; i < va.size(); ++i) {
    const double x = va[i], y = vb[i];
    if (std::isnan(x) || std::isnan(y)) return kInf;
    diff += (x - y) * (x - y);
    ref += y * y;
  }
  if (std::isnan(diff)) return kInf;
  return std::sqrt(diff) / std::max(std::sqrt(ref), 1e-30);
}

// The largest |a - b| over the elements (float32), infinity on NaN or a shape mismatch.
inline double max_abs_diff(const nn::Tensor& a, const nn::Tensor& b) {
  constexpr double kInf = std::numeric_limits<double>::infinity();
  if (a.sizes() != b.sizes()) return kInf;
  const std::vector<float> va = a.to_vector<float>();
  const std::vector<float> vb = b.to_vector<float>();
  double worst = 0.0;
  for (std::size_t i = 0; i < va.size(); ++i) {
    const double d = std::fabs(static_cast<double>(va[i]) - vb[i]);
    if (!(d <= worst)) worst = std::isnan(d) ? kInf : d;
  }
  return worst;
}

// True when both tensors have the same shape, dtype and bytes (float32 or int64; NaNs with
// the same bits compare equal, +0 and -0 do not).
inline bool same_bits(const nn::Tensor& a, const nn::Tensor& b) {
  if (a.sizes() != b.sizes() || a.dtype() != b.dtype()) return false;
  if (a.dtype() == nn::DType::Int64)
    return a.to_vector<std::int64_t>() == b.to_vector<std::int64_t>();
  const std::vector<float> va = a.to_vector<float>();
  const std::vector<float> vb = b.to_vector<float>();
  return va.empty() || std::memcmp(va.data(), vb.data(), va.size() * sizeof(float)) == 0;
}

// The index of the first element whose bits differ (for messages), or -1.
inline std::int64_t first_difference(const nn::Tensor& a, const nn::Tensor& b) {
  const std::vector<float> va = a.to_vector<float>();
  const std::vector<float> vb = b.to_vector<float>();
  for (std::size_t i = 0; i < std::min(va.size(), vb.size()); ++i) {
    if (std::memcmp(&va[i], &vb[i], sizeof(float)) != 0) return static_cast<std::int64_t>(i);
  }
  return va.size() == vb.size() ? -1 : static_cast<std::int64_t>(std::min(va.size(), vb.size()));
}

// --- fresh random inputs ---------------------------------------------------------------------

// The seed of the current test: a hash of its full name (so each test and each parameter of a
// parameterised one draws different values, the same on every run, and a failure can be
// replayed), mixed with the environment variable NN_TEST_SEED when set (to try other draws:
// NN_TEST_SEED=$RANDOM libnn_cuda_tests). Tests print it in their failure messages.
inline std::uint64_t test_seed() {
  std::uint64_t h = 14695981039346656037ULL;  // FNV-1a
  auto mix = [&h](const std::string& s) {
    for (unsigned char ch : s) {
      h ^= ch;
      h *= 1099511628211ULL;
    }
  };
  if (const auto* info = ::testing::UnitTest::GetInstance()->current_test_info()) {
    mix(info->test_suite_name());
    mix(".");
    mix(info->name());
  }
  if (const char* env = std::getenv("NN_TEST_SEED")) mix(env);
  return h;
}

// A generator seeded from the test's seed and a counter (each call in a test gets another
// stream of values).
inline nn::Generator test_generator() {
  static std::string last_test;
  static std::uint64_t counter = 0;
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const std::string name =
      info ? std::string(info->test_suite_name()) + "." + info->name() : std::string();
  if (name != last_test) {
    last_test = name;
    counter = 0;
  }
  return nn::Generator(test_seed() + 0x9E3779B97F4A7C15ULL * ++counter);
}

// A CPU tensor near `x` with the same signs: x * (1 + 0.2 u), u uniform in [-1, 1) drawn from
// `gen`, so the values are not a fixture's exact ones but stay in each op's domain (positive
// inputs of log / sqrt stay positive, zeros stay zero). int64 tensors (class targets, indices)
// are returned unchanged (as a CPU copy).
inline nn::Tensor perturb(const nn::Tensor& x, nn::Generator& gen) {
  const nn::Tensor host = x.to(nn::Device::cpu()).detach();
  if (host.dtype() != nn::DType::Float32) return host.clone();
  std::vector<float> v = host.to_vector<float>();
  const std::vector<float> u = nn::rand(host.sizes(), &gen).to_vector<float>();
  for (std::size_t i = 0; i < v.size(); ++i) v[i] *= 1.0f + 0.2f * (2.0f * u[i] - 1.0f);
  return nn::from_vector(v, host.sizes());
}

// --- guards ------------------------------------------------------------------------------------

// Turns the CUDA allocator's poisoning on for its lifetime: every block handed out is filled
// with 0xFF bytes (NaN as float32, -1 as int64), so an unwritten output element shows.
class PoisonGuard {
 public:
  PoisonGuard() { nn::cuda::set_poison_allocations(true); }
  ~PoisonGuard() { nn::cuda::set_poison_allocations(false); }
  PoisonGuard(const PoisonGuard&) = delete;
  PoisonGuard& operator=(const PoisonGuard&) = delete;
};

// Sets the float32 matmul precision for its lifetime ("highest" unless told: float32 GEMMs, the
// precision every comparison with the CPU assumes), then restores the previous one.
class MatmulPrecisionGuard {
 public:
  explicit MatmulPrecisionGuard(nn::MatmulPrecision precision = nn::MatmulPrecision::Highest)
      : previous_(nn::float32_matmul_precision()) {
    nn::set_float32_matmul_precision(precision);
  }
  ~MatmulPrecisionGuard() { nn::set_float32_matmul_precision(previous_); }
  MatmulPrecisionGuard(const MatmulPrecisionGuard&) = delete;
  MatmulPrecisionGuard& operator=(const MatmulPrecisionGuard&) = delete;

 private:
  nn::MatmulPrecision previous_;
};

// --- messages ------------------------------------------------------------------------------------

// The message of the nn::Error that fn() throws, or a marker when it throws none.
template <class Fn>
std::string error_message(Fn&& fn) {
  try {
    fn();
  } catch (const nn::Error& e) {
    return e.what();
  }
  return "<no nn::Error thrown>";
}

inline bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

inline bool contains_icase(std::string text, std::string part) {
  for (auto& ch : text) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  for (auto& ch : part) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return text.find(part) != std::string::npos;
}

// Sets libnn's LSTM algorithm for a test and restores the process-wide default (auto) when the
// test ends, passing or not.
class AlgorithmGuard {
 public:
  explicit AlgorithmGuard(nn::cuda::LstmAlgorithm a) { nn::cuda::set_lstm_algorithm(a); }
  ~AlgorithmGuard() { nn::cuda::set_lstm_algorithm(nn::cuda::LstmAlgorithm::Auto); }
  AlgorithmGuard(const AlgorithmGuard&) = delete;
  AlgorithmGuard& operator=(const AlgorithmGuard&) = delete;
};

}  // namespace cuda_test
