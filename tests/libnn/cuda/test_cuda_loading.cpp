// cuBLAS is opened on the first CUDA matrix product, never at start (src/cuda/cublas_api.hpp):
// a program that only computes on the CPU must not carry libcublas's ~155 MB. The oracle is
// the kernel's own list of what the process has mapped (/proc/self/maps), not libnn's word.
//
// Each check runs in a child process (a gtest death test), so what other tests in the same
// executable opened before does not count.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "cuda_test_support.hpp"
#include "libnn/ops.hpp"

namespace {

// Whether a file whose name contains `name` is mapped into this process.
bool mapped(const std::string& name) {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    if (line.find(name) != std::string::npos) return true;
  }
  return false;
}

// Exit code 0 when cuBLAS is mapped after the work is done, 1 when it is not, 2 when the
// process could not be inspected.
template <class Work>
[[noreturn]] void exit_with_cublas_mapped_after(Work work) {
  if (!std::ifstream("/proc/self/maps")) std::_Exit(2);
  work();
  std::_Exit(mapped("libcublas") ? 0 : 1);
}

nn::Tensor product(nn::Device device) {
  nn::Generator gen(7);
  const nn::Tensor a = nn::randn({64, 32}, &gen).to(device);
  const nn::Tensor b = nn::randn({32, 16}, &gen).to(device);
  return nn::matmul(a, b).to(nn::Device::cpu());
}

TEST(CudaLoading, CpuWorkNeverOpensCublas) {
  if (!std::ifstream("/proc/self/maps")) GTEST_SKIP() << "no /proc/self/maps on this system";
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  // Asking whether a GPU is there (what musegen does at start) must not open cuBLAS either.
  EXPECT_EXIT(exit_with_cublas_mapped_after([] {
                (void)nn::cuda::is_available();
                (void)product(nn::Device::cpu());
              }),
              testing::ExitedWithCode(1), "")
      << "libcublas is mapped into a process that only multiplied on the CPU";
}

TEST(CudaLoading, FirstCudaProductOpensCublas) {
  NN_REQUIRE_CUDA();
  if (!std::ifstream("/proc/self/maps")) GTEST_SKIP() << "no /proc/self/maps on this system";
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(exit_with_cublas_mapped_after([] { (void)product(cuda_test::kCuda); }),
              testing::ExitedWithCode(0), "")
      << "a CUDA matrix product ran without libcublas mapped: is it still linked statically?";
}

}  // namespace
