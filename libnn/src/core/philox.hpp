// Philox4x32-10 (Salmon et al., SC'11), written once for host and device code.
//
// The CPU random kernel (through nn::philox4x32, core/random.cpp) and the CUDA one
// (cuda/memory.cu) both call this function, so a tensor filled on either device gets the
// same bits: a dropout mask drawn on the GPU is the mask the CPU would draw. Included by
// .cpp and .cu files alike, hence no CUDA header and the NN_HOST_DEVICE macro.
#pragma once

#include <cstdint>

#ifndef NN_HOST_DEVICE
#ifdef __CUDACC__
#define NN_HOST_DEVICE __host__ __device__
#else
#define NN_HOST_DEVICE
#endif
#endif

namespace nn::philox {

// The four 32-bit words of one Philox block.
struct Block {
  std::uint32_t word[4];
};

// Four words from a 64-bit key and a 128-bit counter (counter_hi:counter_lo).
NN_HOST_DEVICE inline Block philox4x32_10(std::uint64_t key, std::uint64_t counter_lo,
                                          std::uint64_t counter_hi = 0) {
  constexpr std::uint32_t kMul0 = 0xD2511F53u, kMul1 = 0xCD9E8D57u;
  constexpr std::uint32_t kWeyl0 = 0x9E3779B9u, kWeyl1 = 0xBB67AE85u;
  std::uint32_t c0 = static_cast<std::uint32_t>(counter_lo);
  std::uint32_t c1 = static_cast<std::uint32_t>(counter_lo >> 32);
  std::uint32_t c2 = static_cast<std::uint32_t>(counter_hi);
  std::uint32_t c3 = static_cast<std::uint32_t>(counter_hi >> 32);
  std::uint32_t k0 = static_cast<std::uint32_t>(key);
  std::uint32_t k1 = static_cast<std::uint32_t>(key >> 32);
  for (int round = 0; round < 10; ++round) {
    // The 64-bit products compile to mul.lo / mul.hi pairs on the GPU.
    const std::uint64_t p0 = static_cast<std::uint64_t>(kMul0) * c0;
    const std::uint64_t p1 = static_cast<std::uint64_t>(kMul1) * c2;
    const std::uint32_t hi0 = static_cast<std::uint32_t>(p0 >> 32), lo0 = static_cast<std::uint32_t>(p0);
    const std::uint32_t hi1 = static_cast<std::uint32_t>(p1 >> 32), lo1 = static_cast<std::uint32_t>(p1);
    c0 = hi1 ^ c1 ^ k0;
    c1 = lo1;
    c2 = hi0 ^ c3 ^ k1;
    c3 = lo0;
    k0 += kWeyl0;
    k1 += kWeyl1;
  }
  return {{c0, c1, c2, c3}};
}

// A uniform float in [0, 1) from 32 random bits (the top 24: every value is exact in a
// float). The same formula as nn::uniform_from_bits in libnn/random.hpp (a public header,
// which cannot include this one): change both or neither.
NN_HOST_DEVICE inline float uniform_from_bits(std::uint32_t bits) {
  return static_cast<float>(bits >> 8) * (1.0f / 16777216.0f);
}

// A uniform double in [0, 1) from the first two words of a block: 53 random bits, the
// formula of musegen's sampling (examples/musegen/src/core/sampling.cpp, uniform()) and of
// nn::LSTMTokenLoop (src/kernels/token_loop.hpp): change all or none.
NN_HOST_DEVICE inline double uniform53(const Block& block) {
  const std::uint64_t bits =
      (static_cast<std::uint64_t>(block.word[0]) << 21) ^ (block.word[1] >> 11);
  return static_cast<double>(bits & ((1ULL << 53) - 1)) * 0x1.0p-53;
}

}  // namespace nn::philox
