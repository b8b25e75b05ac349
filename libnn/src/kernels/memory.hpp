// Kernels that move or generate data: fill, copy, strided block copies (cat / slice),
// transposition, dtype conversion, random fills.
#pragma once

#include <cstdint>

#include "kernels/table.hpp"
#include "libnn/tensor.hpp"

namespace nn::kernels {

using FillFn = void(Tensor& out, double value);  // float32 or int64
extern Table<FillFn> fill;

// dst = src, elementwise, same numel and dtype (both on the table's device).
using CopyFn = void(const Tensor& src, Tensor& dst);
extern Table<CopyFn> copy;

// Copies a (rows, cols) block: dst[dst_offset + r*dst_ld + c] = src[src_offset + r*src_ld + c]
// in elements of the tensors' dtype (offsets relative to each tensor's first element).
using CopyBlockFn = void(const Tensor& src, std::int64_t src_offset, std::int64_t src_ld,
                         Tensor& dst, std::int64_t dst_offset, std::int64_t dst_ld,
                         std::int64_t rows, std::int64_t cols);
extern Table<CopyBlockFn> copy_block;

// x viewed as (A, D0, M, D1, C) -> out (A, D1, M, D0, C).
using TransposeFn = void(const Tensor& x, Tensor& out, std::int64_t a, std::int64_t d0,
                         std::int64_t m, std::int64_t d1, std::int64_t c);
extern Table<TransposeFn> transpose;

// out = x converted elementwise to out's dtype (same numel): float32 <-> int64 (float to
// int truncates toward zero, as static_cast). The CUDA kernel also converts float32 <->
// float16 / bfloat16 (round to nearest even).
using ConvertFn = void(const Tensor& x, Tensor& out);
extern Table<ConvertFn> convert;

enum class RandomKind {
  Uniform,    // p0 = low, p1 = high
  Normal,     // p0 = mean, p1 = std (Box-Muller on pairs of uniforms)
  Bernoulli,  // p0 = probability of 1
};
// Element i uses Philox block (counter + i/4), lane i%4, key = seed (src/cpu/random.cpp).
using RandomFn = void(RandomKind kind, Tensor& out, std::uint64_t seed, std::uint64_t counter,
                      double p0, double p1);
extern Table<RandomFn> random;

}  // namespace nn::kernels
