// CPU data movement and random fills (src/kernels/memory.hpp).
#include "kernels/memory.hpp"

#include <cmath>
#include <cstring>
#include <numbers>

#include "cpu/parallel.hpp"
#include "libnn/random.hpp"

namespace nn::cpu {
namespace {

void fill_cpu(Tensor& out, double value) {
  const std::int64_t n = out.numel();
  if (out.dtype() == DType::Int64) {
    std::int64_t* p = out.data_ptr<std::int64_t>();
    std::fill(p, p + n, static_cast<std::int64_t>(value));
  } else {
    float* p = out.data_ptr<float>();
    std::fill(p, p + n, static_cast<float>(value));
  }
}

void copy_cpu(const Tensor& src, Tensor& dst) {
  if (src.raw_data() != dst.raw_data() && src.nbytes() > 0) {
    std::memcpy(dst.raw_data(), src.raw_data(), src.nbytes());
  }
}

void copy_block_cpu(const Tensor& src, std::int64_t src_offset, std::int64_t src_ld, Tensor& dst,
                    std::int64_t dst_offset, std::int64_t dst_ld, std::int64_t rows,
                    std::int64_t cols) {
  const auto size = static_cast<std::int64_t>(element_size(src.dtype()));
  const auto* s = static_cast<const std::byte*>(src.raw_data()) + src_offset * size;
  auto* d = static_cast<std::byte*>(dst.raw_data()) + dst_offset * size;
  for (std::int64_t r = 0; r < rows; ++r) {
    std::memcpy(d + r * dst_ld * size, s + r * src_ld * size, static_cast<std::size_t>(cols * size));
  }
}

void transpose_cpu(const Tensor& x, Tensor& out, std::int64_t a, std::int64_t d0, std::int64_t m,
                   std::int64_t d1, std::int64_t c) {
  const auto size = static_cast<std::int64_t>(element_size(x.dtype()));
  const auto* s = static_cast<const std::byte*>(x.raw_data());
  auto* d = static_cast<std::byte*>(out.raw_data());
  const auto block = static_cast<std::size_t>(c * size);
  // out[ia, j1, im, j0, :] = x[ia, j0, im, j1, :]
  for (std::int64_t ia = 0; ia < a; ++ia)
    for (std::int64_t j1 = 0; j1 < d1; ++j1)
      for (std::int64_t im = 0; im < m; ++im)
        for (std::int64_t j0 = 0; j0 < d0; ++j0) {
          const std::int64_t from = (((ia * d0 + j0) * m + im) * d1 + j1) * c;
          const std::int64_t to = (((ia * d1 + j1) * m + im) * d0 + j0) * c;
          std::memcpy(d + to * size, s + from * size, block);
        }
}

void convert_cpu(const Tensor& x, Tensor& out) {
  const std::int64_t n = x.numel();
  if (x.dtype() == DType::Float32 && out.dtype() == DType::Int64) {
    const float* s = x.data_ptr<float>();
    std::int64_t* d = out.data_ptr<std::int64_t>();
    for (std::int64_t i = 0; i < n; ++i) d[i] = static_cast<std::int64_t>(s[i]);
  } else if (x.dtype() == DType::Int64 && out.dtype() == DType::Float32) {
    const std::int64_t* s = x.data_ptr<std::int64_t>();
    float* d = out.data_ptr<float>();
    for (std::int64_t i = 0; i < n; ++i) d[i] = static_cast<float>(s[i]);
  } else {
    NN_CHECK(false, "to: conversion from {} to {} is not implemented on the CPU",
             dtype_name(x.dtype()), dtype_name(out.dtype()));
  }
}

void random_cpu(kernels::RandomKind kind, Tensor& out, std::uint64_t seed, std::uint64_t counter,
                double p0, double p1) {
  float* p = out.data_ptr<float>();
  const std::int64_t n = out.numel();
  const std::int64_t blocks = (n + 3) / 4;
  parallel_for(blocks, 1024, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t block = begin; block < end; ++block) {
      const auto bits = philox4x32(seed, counter + static_cast<std::uint64_t>(block));
      float values[4] = {};
      switch (kind) {
        case kernels::RandomKind::Uniform:
          for (int l = 0; l < 4; ++l) {
            values[l] = static_cast<float>(p0 + (p1 - p0) * uniform_from_bits(bits[l]));
          }
          break;
        case kernels::RandomKind::Normal:
          // Box-Muller on lanes (0,1) and (2,3); 1-u keeps the log's argument in (0, 1].
          for (int l = 0; l < 4; l += 2) {
            const double u1 = 1.0 - uniform_from_bits(bits[l]);
            const double u2 = uniform_from_bits(bits[l + 1]);
            const double radius = std::sqrt(-2.0 * std::log(u1));
            const double angle = 2.0 * std::numbers::pi * u2;
            values[l] = static_cast<float>(p0 + p1 * radius * std::cos(angle));
            values[l + 1] = static_cast<float>(p0 + p1 * radius * std::sin(angle));
          }
          break;
        case kernels::RandomKind::Bernoulli:
          for (int l = 0; l < 4; ++l) values[l] = uniform_from_bits(bits[l]) < p0 ? 1.0f : 0.0f;
          break;
      }
      const std::int64_t first = block * 4;
      for (std::int64_t l = 0; l < 4 && first + l < n; ++l) p[first + l] = values[l];
    }
  });
}

}  // namespace
}  // namespace nn::cpu

namespace nn::kernels {
Table<FillFn> fill{"fill", cpu::fill_cpu};
Table<CopyFn> copy{"copy", cpu::copy_cpu};
Table<CopyBlockFn> copy_block{"copy_block", cpu::copy_block_cpu};
Table<TransposeFn> transpose{"transpose", cpu::transpose_cpu};
Table<ConvertFn> convert{"convert", cpu::convert_cpu};
Table<RandomFn> random{"random", cpu::random_cpu};
}  // namespace nn::kernels
