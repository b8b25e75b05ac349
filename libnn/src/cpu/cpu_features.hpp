// Run-time detection of the instruction sets the CPU kernels can use.
//
// The library is compiled without -march flags, so one binary runs on any x86-64 CPU; a
// kernel compiled for AVX2 or AVX-512 (a file named *_avx2.cpp / *_avx512.cpp) may only be
// called after asking here. Detection runs once; the answers are cached.
#pragma once

namespace nn::cpu {

struct CpuFeatures {
  bool avx2_fma = false;  // AVX2 and FMA3 (Haswell and later)
  bool avx512 = false;    // AVX-512 F, DQ, BW and VL (Skylake-SP and later): what the
                          // *_avx512.cpp files are compiled for
};

// The features of the CPU this process runs on (all false on a non-x86 build), capped by the
// environment variable NN_CPU_CAPABILITY=generic|avx2|avx512 when it is set.
const CpuFeatures& cpu_features();

}  // namespace nn::cpu
