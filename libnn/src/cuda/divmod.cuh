// Integer division by a divisor fixed at launch, for the index arithmetic of the strided and
// broadcast kernels (elementwise.cu, memory.cu): the GPU divides integers in software, which
// would otherwise cost more than the memory traffic those kernels exist for.
//
// Both types are built on the host and passed to a kernel by value; a kernel takes either
// (a template parameter) and splits an index with q = d.div(n), r = n - q * d.divisor.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace nn::cuda {

// n / d and n % d for 32-bit n < 2^31 by a multiply-high and a shift (Granlund-Montgomery,
// as PyTorch's IntDivider).
struct FastDivmod32 {
  std::uint32_t divisor = 1, magic = 1, shift = 0;
  FastDivmod32() = default;
  explicit FastDivmod32(std::uint32_t d) : divisor(d) {
    while (shift < 32 && (std::uint64_t{1} << shift) < d) ++shift;
    magic = static_cast<std::uint32_t>(
        ((std::uint64_t{1} << 32) * ((std::uint64_t{1} << shift) - d)) / d + 1);
  }
  __device__ std::uint32_t div(std::uint32_t n) const { return (__umulhi(n, magic) + n) >> shift; }
};
// The same interface with a plain 64-bit division, for index spaces of 2^31 and more.
struct Divmod64 {
  std::int64_t divisor = 1;
  Divmod64() = default;
  explicit Divmod64(std::int64_t d) : divisor(d) {}
  __device__ std::int64_t div(std::int64_t n) const { return n / divisor; }
};

}  // namespace nn::cuda
