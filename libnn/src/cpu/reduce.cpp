// CPU reductions over one dimension (src/kernels/reduce.hpp). x is viewed as (outer, R, inner).
// Each output element is reduced by one thread in ascending r: deterministic.
#include "kernels/reduce.hpp"

#include "cpu/parallel.hpp"

namespace nn::cpu {
namespace {

void sum_dim_cpu(const Tensor& x, Tensor& out, std::int64_t outer, std::int64_t r,
                 std::int64_t inner) {
  const float* px = x.data_ptr<float>();
  float* po = out.data_ptr<float>();
  parallel_for(outer, std::max<std::int64_t>(1, (1 << 14) / std::max<std::int64_t>(1, r * inner)),
               [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t o = begin; o < end; ++o) {
      const float* src = px + o * r * inner;
      float* dst = po + o * inner;
      if (inner == 1) {
        // One contiguous row: accumulate in double, 8 lanes, then combine (deterministic).
        double lanes[8] = {};
        std::int64_t k = 0;
        for (; k + 8 <= r; k += 8) {
          for (int l = 0; l < 8; ++l) lanes[l] += src[k + l];
        }
        double total = 0.0;
        for (; k < r; ++k) total += src[k];
        for (double lane : lanes) total += lane;
        dst[0] = static_cast<float>(total);
      } else {
        for (std::int64_t i = 0; i < inner; ++i) dst[i] = 0.0f;
        for (std::int64_t k = 0; k < r; ++k) {
          const float* row = src + k * inner;
          for (std::int64_t i = 0; i < inner; ++i) dst[i] += row[i];
        }
      }
    }
  });
}

void max_dim_cpu(const Tensor& x, Tensor& values, Tensor& indices, std::int64_t outer,
                 std::int64_t r, std::int64_t inner) {
  const float* px = x.data_ptr<float>();
  float* pv = values.data_ptr<float>();
  std::int64_t* pi = indices.data_ptr<std::int64_t>();
  parallel_for(outer, 64, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t o = begin; o < end; ++o) {
      for (std::int64_t i = 0; i < inner; ++i) {
        const float* src = px + o * r * inner + i;
        float best = src[0];
        std::int64_t best_k = 0;
        for (std::int64_t k = 1; k < r; ++k) {
          const float v = src[k * inner];
          // NaN wins, as in PyTorch: once best is NaN nothing replaces it.
          if (v > best || (v != v && best == best)) {
            best = v;
            best_k = k;
          }
        }
        pv[o * inner + i] = best;
        pi[o * inner + i] = best_k;
      }
    }
  });
}

void max_dim_backward_cpu(const Tensor& gy, const Tensor& indices, Tensor& gx,
                          std::int64_t outer, std::int64_t r, std::int64_t inner) {
  const float* pg = gy.data_ptr<float>();
  const std::int64_t* pi = indices.data_ptr<std::int64_t>();
  float* po = gx.data_ptr<float>();
  for (std::int64_t j = 0; j < outer * r * inner; ++j) po[j] = 0.0f;
  for (std::int64_t o = 0; o < outer; ++o) {
    for (std::int64_t i = 0; i < inner; ++i) {
      po[(o * r + pi[o * inner + i]) * inner + i] = pg[o * inner + i];
    }
  }
}

}  // namespace
}  // namespace nn::cpu

namespace nn::kernels {
Table<SumFn> sum_dim{"sum_dim", cpu::sum_dim_cpu};
Table<MaxFn> max_dim{"max_dim", cpu::max_dim_cpu};
Table<MaxBackwardFn> max_dim_backward{"max_dim_backward", cpu::max_dim_backward_cpu};
}  // namespace nn::kernels
