// CUDA data movement and random fills (src/kernels/memory.hpp): the GPU side of
// cpu/memory.cpp, computing the same function for every argument.
//
// These kernels are pure memory traffic, so they are grid-stride loops that move the widest
// words the pointers allow (16 bytes where aligned). Contiguous copies go through
// cudaMemcpyAsync, strided ones through a kernel (faster than cudaMemcpy2DAsync: see
// copy_block). The random fill draws element i from Philox block (counter + i/4), lane i%4,
// through core/philox.hpp -- the same code as the CPU -- and repeats the CPU's
// double-precision formulas operation by operation, so a mask drawn here is bit for bit the
// CPU's.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <numbers>
#include <utility>

#include "core/philox.hpp"
#include "cuda/common.cuh"
#include "cuda/divmod.cuh"
#include "cuda/register.hpp"
#include "kernels/memory.hpp"

namespace nn::cuda {
namespace {

// Blocks for a grid-stride loop, at least one even when the loop itself is empty (the
// kernels below also write a few scalar head/tail elements from the first threads).
unsigned blocks_for(std::int64_t n) { return grid_for(std::max<std::int64_t>(n, 1)); }

// The largest power-of-two word (at most 16 bytes) that divides every address and byte
// count given: copies then move whole words.
int word_size(std::initializer_list<std::uintptr_t> values) {
  std::uintptr_t bits = 16;
  for (std::uintptr_t v : values) bits |= v;
  return static_cast<int>(bits & (~bits + 1));  // lowest set bit, at most 16
}

// --- fill --------------------------------------------------------------------------------

// A 16-byte pattern of the value is stored from the first 16-byte-aligned element on; the
// `head` elements before it and the ones after the last whole pattern are stored singly.
template <class T>
__global__ void fill_kernel(T* out, std::int64_t n, std::int64_t head, std::int64_t vectors,
                            T value, uint4 pattern) {
  constexpr std::int64_t kPer = 16 / sizeof(T);
  uint4* body = reinterpret_cast<uint4*>(out + head);
  NN_CUDA_KERNEL_LOOP(i, vectors) body[i] = pattern;
  const std::int64_t first = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const std::int64_t stride = static_cast<std::int64_t>(blockDim.x) * gridDim.x;
  for (std::int64_t i = first; i < head; i += stride) out[i] = value;
  for (std::int64_t i = head + vectors * kPer + first; i < n; i += stride) out[i] = value;
}

template <class T> void launch_fill(void* data, std::int64_t n, T value) {
  constexpr std::int64_t kPer = 16 / sizeof(T);
  T* out = static_cast<T*>(data);
  const auto address = reinterpret_cast<std::uintptr_t>(out);
  std::int64_t head = n, vectors = 0;  // a pointer not aligned to T: every element singly
  if (address % sizeof(T) == 0) {
    head = std::min<std::int64_t>(n, static_cast<std::int64_t>((16 - address % 16) % 16 / sizeof(T)));
    vectors = (n - head) / kPer;
  }
  T values[kPer];
  for (T& v : values) v = value;
  uint4 pattern;
  std::memcpy(&pattern, values, sizeof(pattern));
  fill_kernel<T><<<blocks_for(vectors), kBlock, 0, current_stream()>>>(out, n, head, vectors,
                                                                      value, pattern);
  NN_CUDA_CHECK_LAUNCH();
}

void fill_cuda(Tensor& out, double value) {
  const std::int64_t n = out.numel();
  if (n == 0) return;
  void* data = out.raw_data();
  switch (out.dtype()) {
    case DType::Float32: return launch_fill(data, n, static_cast<float>(value));
    case DType::Int64: return launch_fill(data, n, static_cast<std::int64_t>(value));
    // The halves are filled with their bits; __double2half rounds once, to nearest even.
    case DType::Float16: {
      const __half h = __double2half(value);
      std::uint16_t bits;
      std::memcpy(&bits, &h, sizeof(bits));
      return launch_fill(data, n, bits);
    }
    case DType::BFloat16: {
      const __nv_bfloat16 h = __double2bfloat16(value);
      std::uint16_t bits;
      std::memcpy(&bits, &h, sizeof(bits));
      return launch_fill(data, n, bits);
    }
  }
}

// --- copies --------------------------------------------------------------------------------

void copy_cuda(const Tensor& src, Tensor& dst) {
  if (src.raw_data() == dst.raw_data() || src.nbytes() == 0) return;
  NN_CUDA_CHECK(cudaMemcpyAsync(dst.raw_data(), src.raw_data(), src.nbytes(),
                                cudaMemcpyDeviceToDevice, current_stream()));
}

// The strided block copy: one thread per word of W bytes (the widest word that every
// address, pitch and row width allows), consecutive threads on consecutive words of a row,
// so every row is read and written in full coalesced runs. Not cudaMemcpy2DAsync: on an H200 it reached 1.0 TB/s for 64-byte rows,
// 3.0 TB/s for 1 KiB rows and 1.7 TB/s for rows of 4 KiB and more, where this kernel moves
// 3.9-4.0 TB/s at every width (256 MB copies).
template <class W, class Div, class Index>
__global__ void copy_block_kernel(const W* src, Index src_ld, W* dst, Index dst_ld, Index total,
                                  Div cols) {
  NN_CUDA_KERNEL_LOOP(q, static_cast<std::int64_t>(total)) {
    const Index flat = static_cast<Index>(q);
    const Index row = cols.div(flat);
    const Index col = flat - row * static_cast<Index>(cols.divisor);
    dst[row * dst_ld + col] = src[row * src_ld + col];
  }
}

template <class W>
void launch_copy_block(const void* src, std::int64_t src_ld, void* dst, std::int64_t dst_ld,
                       std::int64_t rows, std::int64_t cols) {
  // Arguments in words of W.
  const std::int64_t total = rows * cols;
  const W* s = static_cast<const W*>(src);
  W* d = static_cast<W*>(dst);
  const std::int64_t last = std::max((rows - 1) * std::max(src_ld, dst_ld) + cols, total);
  if (last < INT32_MAX) {
    copy_block_kernel<W><<<grid_for(total), kBlock, 0, current_stream()>>>(
        s, static_cast<std::uint32_t>(src_ld), d, static_cast<std::uint32_t>(dst_ld),
        static_cast<std::uint32_t>(total), FastDivmod32(static_cast<std::uint32_t>(cols)));
  } else {
    copy_block_kernel<W><<<grid_for(total), kBlock, 0, current_stream()>>>(
        s, src_ld, d, dst_ld, total, Divmod64(cols));
  }
  NN_CUDA_CHECK_LAUNCH();
}

void copy_block_cuda(const Tensor& src, std::int64_t src_offset, std::int64_t src_ld, Tensor& dst,
                     std::int64_t dst_offset, std::int64_t dst_ld, std::int64_t rows,
                     std::int64_t cols) {
  if (rows <= 0 || cols <= 0) return;
  const auto size = static_cast<std::int64_t>(element_size(src.dtype()));
  const auto* s = static_cast<const std::byte*>(src.raw_data()) + src_offset * size;
  auto* d = static_cast<std::byte*>(dst.raw_data()) + dst_offset * size;
  const std::int64_t width = cols * size, spitch = src_ld * size, dpitch = dst_ld * size;
  if (rows == 1 || (spitch == width && dpitch == width)) {
    // One contiguous run (a single row, or rows that touch).
    NN_CUDA_CHECK(cudaMemcpyAsync(d, s, static_cast<std::size_t>(rows * width),
                                  cudaMemcpyDeviceToDevice, current_stream()));
    return;
  }
  const int w = word_size({reinterpret_cast<std::uintptr_t>(s), reinterpret_cast<std::uintptr_t>(d),
                           static_cast<std::uintptr_t>(width), static_cast<std::uintptr_t>(spitch),
                           static_cast<std::uintptr_t>(dpitch)});
  const std::int64_t sw = spitch / w, dw = dpitch / w, cw = width / w;
  switch (w) {
    case 16: return launch_copy_block<uint4>(s, sw, d, dw, rows, cw);
    case 8: return launch_copy_block<std::uint64_t>(s, sw, d, dw, rows, cw);
    case 4: return launch_copy_block<std::uint32_t>(s, sw, d, dw, rows, cw);
    case 2: return launch_copy_block<std::uint16_t>(s, sw, d, dw, rows, cw);
    default: return launch_copy_block<std::uint8_t>(s, sw, d, dw, rows, cw);
  }
}

// --- transpose -----------------------------------------------------------------------------
// x (A, D0, M, D1, C) -> out (A, D1, M, D0, C). A "unit" is the C contiguous elements that
// move together. When a unit is one word (C = 1, or a few elements forming an aligned 8- or
// 16-byte word), each (a, m) slice is a D0 x D1 matrix of words transposed through a shared
// square tile, so that both the reads and the writes are coalesced. Larger units are
// already contiguous runs: one thread per word of the output, reading its unit's word.

constexpr int kTileRows = 8;  // a block of 32 x 8 threads moves a tile in kTile / 8 steps

// kTile is 64 for words up to 8 bytes (16 values in flight per thread) and 32 for 16-byte
// words, keeping the tile within the 48 KiB of static shared memory.
template <class W, int kTile>
__global__ void transpose_tiled_kernel(const W* x, W* out, std::int64_t batches, std::int64_t d0,
                                       std::int64_t m, std::int64_t d1) {
  __shared__ W tile[kTile][kTile + 1];  // +1: the column reads hit distinct banks
  const std::int64_t tiles0 = (d0 + kTile - 1) / kTile, tiles1 = (d1 + kTile - 1) / kTile;
  for (std::int64_t b = blockIdx.z; b < batches; b += gridDim.z) {
    const std::int64_t ia = b / m, im = b % m;
    // Elements (ia, j0, im, j1) of x and (ia, j1, im, j0) of out, with j0 and j1 zero.
    const W* xb = x + (ia * d0 * m + im) * d1;
    W* ob = out + (ia * d1 * m + im) * d0;
    for (std::int64_t t0 = blockIdx.y; t0 < tiles0; t0 += gridDim.y) {
      for (std::int64_t t1 = blockIdx.x; t1 < tiles1; t1 += gridDim.x) {
        // Constant trip counts, so that every load is issued before the first is waited for.
#pragma unroll
        for (int c = 0; c < kTile; c += kWarp) {
          const std::int64_t j1 = t1 * kTile + c + threadIdx.x;
#pragma unroll
          for (int rr = 0; rr < kTile; rr += kTileRows) {
            const int r = rr + threadIdx.y;
            const std::int64_t j0 = t0 * kTile + r;
            if (j0 < d0 && j1 < d1) tile[r][c + threadIdx.x] = xb[j0 * m * d1 + j1];
          }
        }
        __syncthreads();
#pragma unroll
        for (int c = 0; c < kTile; c += kWarp) {
          const std::int64_t j0 = t0 * kTile + c + threadIdx.x;
#pragma unroll
          for (int rr = 0; rr < kTile; rr += kTileRows) {
            const int r = rr + threadIdx.y;
            const std::int64_t j1 = t1 * kTile + r;
            if (j0 < d0 && j1 < d1) ob[j1 * m * d0 + j0] = tile[c + threadIdx.x][r];
          }
        }
        __syncthreads();  // the tile is refilled on the next step
      }
    }
  }
}

template <class W>
void launch_transpose_tiled(const void* x, void* out, std::int64_t a, std::int64_t d0,
                            std::int64_t m, std::int64_t d1) {
  constexpr int kTile = sizeof(W) <= 8 ? 64 : 32;
  const std::int64_t tiles0 = (d0 + kTile - 1) / kTile, tiles1 = (d1 + kTile - 1) / kTile;
  const dim3 grid(static_cast<unsigned>(std::min<std::int64_t>(tiles1, INT32_MAX)),
                  static_cast<unsigned>(std::min<std::int64_t>(tiles0, 65535)),
                  static_cast<unsigned>(std::min<std::int64_t>(a * m, 65535)));
  transpose_tiled_kernel<W, kTile><<<grid, dim3(kWarp, kTileRows), 0, current_stream()>>>(
      static_cast<const W*>(x), static_cast<W*>(out), a * m, d0, m, d1);
  NN_CUDA_CHECK_LAUNCH();
}

// One thread per output word: q = (((ia * D1 + j1) * M + im) * D0 + j0) * words + w.
template <class W, class Div, class Index>
__global__ void transpose_units_kernel(const W* x, W* out, Index total, Div words, Div d0, Div m,
                                       Div d1) {
  NN_CUDA_KERNEL_LOOP(q, static_cast<std::int64_t>(total)) {
    Index rest = static_cast<Index>(q);
    Index next = words.div(rest);
    const Index w = rest - next * static_cast<Index>(words.divisor);
    rest = next;
    next = d0.div(rest);
    const Index j0 = rest - next * static_cast<Index>(d0.divisor);
    rest = next;
    next = m.div(rest);
    const Index im = rest - next * static_cast<Index>(m.divisor);
    rest = next;
    next = d1.div(rest);
    const Index j1 = rest - next * static_cast<Index>(d1.divisor);
    const Index ia = next;
    const Index unit = ((ia * static_cast<Index>(d0.divisor) + j0) * static_cast<Index>(m.divisor) + im) *
                           static_cast<Index>(d1.divisor) + j1;
    out[q] = x[unit * static_cast<Index>(words.divisor) + w];
  }
}

template <class W>
void launch_transpose_units(const void* x, void* out, std::int64_t a, std::int64_t d0,
                            std::int64_t m, std::int64_t d1, std::int64_t words) {
  const std::int64_t total = a * d0 * m * d1 * words;
  const W* s = static_cast<const W*>(x);
  W* d = static_cast<W*>(out);
  if (total < INT32_MAX) {
    const auto div = [](std::int64_t v) { return FastDivmod32(static_cast<std::uint32_t>(v)); };
    transpose_units_kernel<W><<<grid_for(total), kBlock, 0, current_stream()>>>(
        s, d, static_cast<std::uint32_t>(total), div(words), div(d0), div(m), div(d1));
  } else {
    transpose_units_kernel<W><<<grid_for(total), kBlock, 0, current_stream()>>>(
        s, d, total, Divmod64(words), Divmod64(d0), Divmod64(m), Divmod64(d1));
  }
  NN_CUDA_CHECK_LAUNCH();
}

void transpose_cuda(const Tensor& x, Tensor& out, std::int64_t a, std::int64_t d0, std::int64_t m,
                    std::int64_t d1, std::int64_t c) {
  const auto size = static_cast<std::int64_t>(element_size(x.dtype()));
  const std::int64_t nbytes = a * d0 * m * d1 * c * size;
  if (nbytes == 0) return;
  // A swapped dimension of size 1 makes this the swap of the other one with M.
  if (d0 == 1) {
    std::swap(d0, m);
  } else if (d1 == 1) {
    std::swap(d1, m);
  }
  if (d0 == 1 || d1 == 1) {  // the layouts coincide
    NN_CUDA_CHECK(cudaMemcpyAsync(out.raw_data(), x.raw_data(), static_cast<std::size_t>(nbytes),
                                  cudaMemcpyDeviceToDevice, current_stream()));
    return;
  }
  const std::int64_t unit = c * size;
  const int w = word_size({reinterpret_cast<std::uintptr_t>(x.raw_data()),
                           reinterpret_cast<std::uintptr_t>(out.raw_data()),
                           static_cast<std::uintptr_t>(unit)});
  const std::int64_t words = unit / w;
  if (words == 1) {
    switch (w) {
      case 16: return launch_transpose_tiled<uint4>(x.raw_data(), out.raw_data(), a, d0, m, d1);
      case 8: return launch_transpose_tiled<std::uint64_t>(x.raw_data(), out.raw_data(), a, d0, m, d1);
      case 4: return launch_transpose_tiled<std::uint32_t>(x.raw_data(), out.raw_data(), a, d0, m, d1);
      case 2: return launch_transpose_tiled<std::uint16_t>(x.raw_data(), out.raw_data(), a, d0, m, d1);
      default: return launch_transpose_tiled<std::uint8_t>(x.raw_data(), out.raw_data(), a, d0, m, d1);
    }
  }
  switch (w) {
    case 16: return launch_transpose_units<uint4>(x.raw_data(), out.raw_data(), a, d0, m, d1, words);
    case 8: return launch_transpose_units<std::uint64_t>(x.raw_data(), out.raw_data(), a, d0, m, d1, words);
    case 4: return launch_transpose_units<std::uint32_t>(x.raw_data(), out.raw_data(), a, d0, m, d1, words);
    case 2: return launch_transpose_units<std::uint16_t>(x.raw_data(), out.raw_data(), a, d0, m, d1, words);
    default: return launch_transpose_units<std::uint8_t>(x.raw_data(), out.raw_data(), a, d0, m, d1, words);
  }
}

// --- convert -------------------------------------------------------------------------------
// Every pair goes through float, which holds float16 and bfloat16 exactly, so each conversion
// rounds at most once: float -> int64 truncates toward zero (as static_cast), int64 -> float
// and float -> half types round to nearest even.

__device__ __forceinline__ float to_float(float v) { return v; }
__device__ __forceinline__ float to_float(std::int64_t v) { return static_cast<float>(v); }
__device__ __forceinline__ float to_float(__half v) { return __half2float(v); }
__device__ __forceinline__ float to_float(__nv_bfloat16 v) { return __bfloat162float(v); }

template <class D> __device__ __forceinline__ D from_float(float v);
template <> __device__ __forceinline__ float from_float<float>(float v) { return v; }
template <> __device__ __forceinline__ std::int64_t from_float<std::int64_t>(float v) {
  return static_cast<std::int64_t>(v);
}
template <> __device__ __forceinline__ __half from_float<__half>(float v) { return __float2half_rn(v); }
template <> __device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float v) {
  return __float2bfloat16_rn(v);
}

template <class S, class D>
__global__ void convert_kernel(const S* x, D* out, std::int64_t n) {
  NN_CUDA_KERNEL_LOOP(i, n) out[i] = from_float<D>(to_float(x[i]));
}

template <class S, class D> void launch_convert(const Tensor& x, Tensor& out, std::int64_t n) {
  convert_kernel<S, D><<<grid_for(n), kBlock, 0, current_stream()>>>(
      static_cast<const S*>(x.raw_data()), static_cast<D*>(out.raw_data()), n);
  NN_CUDA_CHECK_LAUNCH();
}

template <class S> void convert_from(const Tensor& x, Tensor& out, std::int64_t n) {
  switch (out.dtype()) {
    case DType::Float32: return launch_convert<S, float>(x, out, n);
    case DType::Int64: return launch_convert<S, std::int64_t>(x, out, n);
    case DType::Float16: return launch_convert<S, __half>(x, out, n);
    case DType::BFloat16: return launch_convert<S, __nv_bfloat16>(x, out, n);
  }
}

void convert_cuda(const Tensor& x, Tensor& out) {
  // int64 -> float16 / bfloat16 would round twice through float; nothing needs it.
  NN_CHECK(x.dtype() != DType::Int64 || out.dtype() == DType::Float32 || out.dtype() == DType::Int64,
           "to: conversion from {} to {} is not implemented on CUDA", dtype_name(x.dtype()),
           dtype_name(out.dtype()));
  const std::int64_t n = x.numel();
  if (n == 0) return;
  if (x.dtype() == out.dtype()) {
    NN_CUDA_CHECK(cudaMemcpyAsync(out.raw_data(), x.raw_data(), x.nbytes(),
                                  cudaMemcpyDeviceToDevice, current_stream()));
    return;
  }
  switch (x.dtype()) {
    case DType::Float32: return convert_from<float>(x, out, n);
    case DType::Int64: return convert_from<std::int64_t>(x, out, n);
    case DType::Float16: return convert_from<__half>(x, out, n);
    case DType::BFloat16: return convert_from<__nv_bfloat16>(x, out, n);
  }
}

// --- random --------------------------------------------------------------------------------
// One thread per Philox block, i.e. per 4 output values. The double arithmetic is written
// with __dadd_rn / __dmul_rn: nvcc would otherwise fuse a * b + c into one fma, rounding
// once where the CPU (compiled without FMA) rounds twice, and the floats could then differ.

template <kernels::RandomKind kKind>
__global__ void random_kernel(float* out, std::int64_t n, std::uint64_t seed,
                              std::uint64_t counter, double p0, double p1, bool aligned) {
  const std::int64_t blocks = (n + 3) / 4;
  NN_CUDA_KERNEL_LOOP(block, blocks) {
    const philox::Block bits = philox::philox4x32_10(seed, counter + static_cast<std::uint64_t>(block));
    float values[4];
    if constexpr (kKind == kernels::RandomKind::Uniform) {
      const double range = p1 - p0;
#pragma unroll
      for (int l = 0; l < 4; ++l) {
        const double u = philox::uniform_from_bits(bits.word[l]);
        values[l] = static_cast<float>(__dadd_rn(p0, __dmul_rn(range, u)));
      }
    } else if constexpr (kKind == kernels::RandomKind::Normal) {
      // Box-Muller on lanes (0,1) and (2,3); 1-u keeps the log's argument in (0, 1].
#pragma unroll
      for (int l = 0; l < 4; l += 2) {
        const double u1 = 1.0 - static_cast<double>(philox::uniform_from_bits(bits.word[l]));
        const double u2 = philox::uniform_from_bits(bits.word[l + 1]);
        const double radius = sqrt(-2.0 * log(u1));
        const double angle = 2.0 * std::numbers::pi * u2;
        double sin_angle, cos_angle;
        sincos(angle, &sin_angle, &cos_angle);
        const double scale = __dmul_rn(p1, radius);
        values[l] = static_cast<float>(__dadd_rn(p0, __dmul_rn(scale, cos_angle)));
        values[l + 1] = static_cast<float>(__dadd_rn(p0, __dmul_rn(scale, sin_angle)));
      }
    } else {
#pragma unroll
      for (int l = 0; l < 4; ++l) {
        values[l] = static_cast<double>(philox::uniform_from_bits(bits.word[l])) < p0 ? 1.0f : 0.0f;
      }
    }
    const std::int64_t first = block * 4;
    if (aligned && first + 4 <= n) {
      reinterpret_cast<float4*>(out)[block] = make_float4(values[0], values[1], values[2], values[3]);
    } else {
      for (int l = 0; l < 4 && first + l < n; ++l) out[first + l] = values[l];
    }
  }
}

void random_cuda(kernels::RandomKind kind, Tensor& out, std::uint64_t seed, std::uint64_t counter,
                 double p0, double p1) {
  const std::int64_t n = out.numel();
  if (n == 0) return;
  float* p = out.data_ptr<float>();
  const bool aligned = reinterpret_cast<std::uintptr_t>(p) % 16 == 0;
  const unsigned grid = grid_for((n + 3) / 4);
  cudaStream_t stream = current_stream();
  switch (kind) {
    case kernels::RandomKind::Uniform:
      random_kernel<kernels::RandomKind::Uniform><<<grid, kBlock, 0, stream>>>(p, n, seed, counter, p0, p1, aligned);
      break;
    case kernels::RandomKind::Normal:
      random_kernel<kernels::RandomKind::Normal><<<grid, kBlock, 0, stream>>>(p, n, seed, counter, p0, p1, aligned);
      break;
    case kernels::RandomKind::Bernoulli:
      random_kernel<kernels::RandomKind::Bernoulli><<<grid, kBlock, 0, stream>>>(p, n, seed, counter, p0, p1, aligned);
      break;
  }
  NN_CUDA_CHECK_LAUNCH();
}

}  // namespace

void register_memory_kernels() {
  kernels::fill.set(DeviceType::CUDA, fill_cuda);
  kernels::copy.set(DeviceType::CUDA, copy_cuda);
  kernels::copy_block.set(DeviceType::CUDA, copy_block_cuda);
  kernels::transpose.set(DeviceType::CUDA, transpose_cuda);
  kernels::convert.set(DeviceType::CUDA, convert_cuda);
  kernels::random.set(DeviceType::CUDA, random_cuda);
}

}  // namespace nn::cuda
