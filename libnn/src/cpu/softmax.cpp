// CPU softmax and log-softmax kernels (src/kernels/softmax.hpp): the reference implementation.
//
// x is (outer, C, inner). With inner == 1 each row of C is contiguous and handled by one
// thread in three passes (max, exp and sum, normalize). With inner > 1 a thread takes an
// (o, block of up to kBlock inner positions) tile and walks C with the block as the fast,
// vectorizable axis, keeping per-position max and sum in small stack buffers. Sums are
// accumulated in double in a fixed order, so results do not depend on the thread count.
// The exponentials are computed over whole rows (or tiles) by vexp (cpu/vec_math.hpp).
#include "kernels/softmax.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "cpu/parallel.hpp"
#include "cpu/vec_math.hpp"

namespace nn::cpu {
namespace {

constexpr std::int64_t kBlock = 256;           // inner positions per tile when inner > 1
constexpr std::int64_t kWorkGrain = 1 << 14;  // elements below which a fork does not pay
constexpr std::int64_t kExpChunk = 256;        // exp(y) computed this many at a time (stack)

// Sum of n floats in double, 8 lanes then combined: the same bits whatever the caller.
double sum_double(const float* v, std::int64_t n) {
  double lanes[8] = {};
  std::int64_t k = 0;
  for (; k + 8 <= n; k += 8) {
    for (int l = 0; l < 8; ++l) lanes[l] += v[k + l];
  }
  double total = 0.0;
  for (; k < n; ++k) total += v[k];
  for (double lane : lanes) total += lane;
  return total;
}

double dot_double(const float* a, const float* b, std::int64_t n) {
  double lanes[8] = {};
  std::int64_t k = 0;
  for (; k + 8 <= n; k += 8) {
    for (int l = 0; l < 8; ++l) lanes[l] += static_cast<double>(a[k + l]) * b[k + l];
  }
  double total = 0.0;
  for (; k < n; ++k) total += static_cast<double>(a[k]) * b[k];
  for (double lane : lanes) total += lane;
  return total;
}

// Calls tile(o, i_begin, i_end) for every (o, block of inner) tile, tiles split across threads.
template <class Tile>
void for_each_tile(std::int64_t outer, std::int64_t c, std::int64_t inner, const Tile& tile) {
  const std::int64_t blocks = (inner + kBlock - 1) / kBlock;
  const std::int64_t width = std::min(inner, kBlock);
  const std::int64_t grain = std::max<std::int64_t>(1, kWorkGrain / std::max<std::int64_t>(1, c * width));
  parallel_for(outer * blocks, grain, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t t = begin; t < end; ++t) {
      const std::int64_t o = t / blocks;
      const std::int64_t i0 = (t % blocks) * kBlock;
      tile(o, i0, std::min(inner, i0 + kBlock));
    }
  });
}

void softmax_forward_cpu(const Tensor& x, Tensor& y, std::int64_t outer, std::int64_t c,
                         std::int64_t inner, bool log) {
  if (outer == 0 || c == 0 || inner == 0) return;
  const float* px = x.data_ptr<float>();
  float* py = y.data_ptr<float>();
  if (inner == 1) {
    // x is (N,C): one contiguous row per o
    parallel_for(outer, std::max<std::int64_t>(1, kWorkGrain / c), [&](std::int64_t begin, std::int64_t end) {
      for (std::int64_t n = begin; n < end; ++n) {
        const float* xr = px + n * c;
        float* yr = py + n * c;
        const float m = row_max(xr, c);
        for (std::int64_t k = 0; k < c; ++k) yr[k] = xr[k] - m;
        vexp(yr, yr, c);
        const double sum = sum_double(yr, c);
        if (log) {
          const float log_sum = static_cast<float>(std::log(sum));
          for (std::int64_t k = 0; k < c; ++k) yr[k] = (xr[k] - m) - log_sum;
        } else {
          const float inv = static_cast<float>(1.0 / sum);
          for (std::int64_t k = 0; k < c; ++k) yr[k] *= inv;
        }
      }
    });
    return;
  }
  for_each_tile(outer, c, inner, [&](std::int64_t o, std::int64_t i0, std::int64_t i1) {
    const std::int64_t w = i1 - i0;
    const float* xo = px + o * c * inner + i0;
    float* yo = py + o * c * inner + i0;
    float m[kBlock];
    double sum[kBlock];
    for (std::int64_t i = 0; i < w; ++i) {
      m[i] = -std::numeric_limits<float>::infinity();
      sum[i] = 0.0;
    }
    for (std::int64_t k = 0; k < c; ++k) {
      const float* xr = xo + k * inner;
      for (std::int64_t i = 0; i < w; ++i) m[i] = xr[i] > m[i] ? xr[i] : m[i];
    }
    for (std::int64_t k = 0; k < c; ++k) {
      const float* xr = xo + k * inner;
      float* yr = yo + k * inner;
      for (std::int64_t i = 0; i < w; ++i) yr[i] = xr[i] - m[i];
      vexp(yr, yr, w);
      for (std::int64_t i = 0; i < w; ++i) sum[i] += yr[i];
    }
    float f[kBlock];  // 1/sum for softmax, log(sum) for log_softmax
    for (std::int64_t i = 0; i < w; ++i) {
      f[i] = log ? static_cast<float>(std::log(sum[i])) : static_cast<float>(1.0 / sum[i]);
    }
    for (std::int64_t k = 0; k < c; ++k) {
      const float* xr = xo + k * inner;
      float* yr = yo + k * inner;
      if (log) {
        for (std::int64_t i = 0; i < w; ++i) yr[i] = (xr[i] - m[i]) - f[i];
      } else {
        for (std::int64_t i = 0; i < w; ++i) yr[i] *= f[i];
      }
    }
  });
}

void softmax_backward_cpu(const Tensor& gy, const Tensor& y, Tensor& gx, std::int64_t outer,
                          std::int64_t c, std::int64_t inner, bool log) {
  if (outer == 0 || c == 0 || inner == 0) return;
  const float* pg = gy.data_ptr<float>();
  const float* py = y.data_ptr<float>();
  float* po = gx.data_ptr<float>();
  if (inner == 1) {
    parallel_for(outer, std::max<std::int64_t>(1, kWorkGrain / c), [&](std::int64_t begin, std::int64_t end) {
      for (std::int64_t n = begin; n < end; ++n) {
        const float* gr = pg + n * c;
        const float* yr = py + n * c;
        float* outr = po + n * c;
        if (log) {
          // y = x - m - log(sum_c exp(x - m))  ->  gx = gy - softmax(x) * sum_c(gy)
          const float total = static_cast<float>(sum_double(gr, c));
          float e[kExpChunk];  // exp(y), a chunk at a time: gx may be gy's buffer
          for (std::int64_t k0 = 0; k0 < c; k0 += kExpChunk) {
            const std::int64_t len = std::min(kExpChunk, c - k0);
            vexp(yr + k0, e, len);
            for (std::int64_t k = 0; k < len; ++k) outr[k0 + k] = gr[k0 + k] - e[k] * total;
          }
        } else {
          // y = exp(x - m) / sum_c exp(x - m)  ->  gx = y * (gy - sum_c(gy * y))
          const float dot = static_cast<float>(dot_double(gr, yr, c));
          for (std::int64_t k = 0; k < c; ++k) outr[k] = yr[k] * (gr[k] - dot);
        }
      }
    });
    return;
  }
  for_each_tile(outer, c, inner, [&](std::int64_t o, std::int64_t i0, std::int64_t i1) {
    const std::int64_t w = i1 - i0;
    const std::int64_t base = o * c * inner + i0;
    double acc[kBlock];  // sum_c(gy) for log_softmax, sum_c(gy * y) for softmax
    for (std::int64_t i = 0; i < w; ++i) acc[i] = 0.0;
    for (std::int64_t k = 0; k < c; ++k) {
      const float* gr = pg + base + k * inner;
      const float* yr = py + base + k * inner;
      if (log) {
        for (std::int64_t i = 0; i < w; ++i) acc[i] += gr[i];
      } else {
        for (std::int64_t i = 0; i < w; ++i) acc[i] += static_cast<double>(gr[i]) * yr[i];
      }
    }
    float s[kBlock];
    for (std::int64_t i = 0; i < w; ++i) s[i] = static_cast<float>(acc[i]);
    for (std::int64_t k = 0; k < c; ++k) {
      const float* gr = pg + base + k * inner;
      const float* yr = py + base + k * inner;
      float* outr = po + base + k * inner;
      if (log) {
        float e[kBlock];  // exp(y) of the tile's row (w <= kBlock)
        vexp(yr, e, w);
        for (std::int64_t i = 0; i < w; ++i) outr[i] = gr[i] - e[i] * s[i];
      } else {
        for (std::int64_t i = 0; i < w; ++i) outr[i] = yr[i] * (gr[i] - s[i]);
      }
    }
  });
}

}  // namespace
}  // namespace nn::cpu

namespace nn::kernels {
Table<SoftmaxFn> softmax_forward{"softmax_forward", cpu::softmax_forward_cpu};
Table<SoftmaxBackwardFn> softmax_backward{"softmax_backward", cpu::softmax_backward_cpu};
}  // namespace nn::kernels
