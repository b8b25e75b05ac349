// CUDA normalization kernels (src/kernels/norm.hpp): layer norm and batch norm, forward and
// backward -- the functions of src/cpu/norm.cpp on the GPU, statistics two-pass in double as
// there.
//
// Layer norm is memory-bound and row-local, so a row is read from memory once where it fits:
// it is held in registers by one warp (short rows) or one block (C <= 16384 forward, 8192
// backward; half those when rows are not 16-byte aligned for float4), and its mean, variance
// and backward sums come from the fixed-order block reductions of common.cuh in double.
// Longer rows are streamed, once per pass. The backward also folds dweight and dbias into the
// same pass: each warp/block owns a fixed run of up to 32 rows and keeps its columns' partial
// sums in registers, then one thread per column adds the runs' partials in ascending order.
//
// Sums over columns (batch-norm statistics over N*L per channel, and layer-norm dweight/dbias
// for rows too long for registers) are two-stage: stage 1 writes partial sums in double of
// fixed tiles (of rows when L < 32, else of (n, c) planes), stage 2 adds each channel's
// partials in ascending order. No atomics anywhere, and every tiling depends on the sizes
// only, so the same inputs give the same bits on every run.
//
// Notation, per row (layer norm) or per channel (batch norm) over M values:
//   mean = sum(x) / M,  var = sum((x - mean)^2) / M,  rstd = 1 / sqrt(var + eps),
//   xhat = (x - mean) * rstd,  y = xhat * weight + bias.
#include <cmath>
#include <cstdint>

#include "cuda/common.cuh"
#include "cuda/register.hpp"
#include "cuda/rows.cuh"
#include "kernels/norm.hpp"

namespace nn::cuda {
namespace {

// --- rows -----------------------------------------------------------------------------------
// The warp/block plan and its dispatch are rows.cuh's; the register budgets are this file's.

constexpr int kForwardFloats = 32;   // floats of a row each thread holds, forward (x)
constexpr int kBackwardFloats = 16;  // the same per array, backward (dout and x)

// An optional per-column parameter (weight, bias): `fill` where there is none.
template <int W>
__device__ __forceinline__ void load_param(const float* p, int j, float fill, float (&v)[W]) {
  if (p != nullptr) {
    load_vec<W>(p + j * W, v);
  } else {
#pragma unroll
    for (int w = 0; w < W; ++w) v[w] = fill;
  }
}

const float* data_or_null(const Tensor& t) { return t.defined() ? t.data_ptr<float>() : nullptr; }
float* data_or_null(Tensor& t) { return t.defined() ? t.data_ptr<float>() : nullptr; }

// Scratch for `count` doubles: libnn has no float64 dtype, so a float32 tensor of twice the
// size, its start rounded up to 8 bytes. Freed at the end of the launcher: the allocator
// reuses a block on the stream that freed it only after the work queued before.
class DoubleScratch {
 public:
  DoubleScratch(std::int64_t count, Device device)
      : t_(empty({2 * std::max<std::int64_t>(count, 1) + 1},
                 TensorOptions().dtype(DType::Float32).device(device))) {}
  double* data() const {
    const auto p = reinterpret_cast<std::uintptr_t>(t_.data_ptr<float>());
    return reinterpret_cast<double*>((p + 7) / 8 * 8);
  }

 private:
  Tensor t_;
};

// --- per-channel sums in two stages ---------------------------------------------------------
// A Term adds element idx (row or sample n, channel ch) to one or two running sums:
//   void operator()(std::int64_t idx, std::int64_t n, std::int64_t ch, double& a0, double& a1)
// A Finish receives each channel's totals: void operator()(std::int64_t ch, double t0, double t1).

constexpr std::int64_t kPlaneMinL = 32;         // L from which a block sums (n, c) planes
constexpr std::int64_t kMaxPartials = 1 << 21;  // per sum: tiles * columns (16 MB of doubles)

struct Tiling {
  std::int64_t per_tile = 1;  // rows (or n) per tile
  std::int64_t tiles = 0;
};

// Stage 1 over a (rows, cols) matrix: a thread per column, a tile of rows each; adjacent
// threads read adjacent columns.
Tiling column_tiling(std::int64_t rows, std::int64_t cols) {
  Tiling t;
  if (rows == 0 || cols == 0) return t;
  const std::int64_t max_tiles = std::clamp<std::int64_t>(kMaxPartials / cols, 1, 1024);
  t.per_tile = std::max<std::int64_t>(8, (rows + max_tiles - 1) / max_tiles);
  t.tiles = (rows + t.per_tile - 1) / t.per_tile;
  return t;
}
// Stage 1 over (n, c) planes of L contiguous values: a block per (tile of n, channel), about
// 8192 values each.
Tiling plane_tiling(std::int64_t n, std::int64_t l) {
  Tiling t;
  if (n == 0 || l == 0) return t;
  t.per_tile = std::clamp<std::int64_t>((8192 + l - 1) / l, 1, n);
  t.tiles = (n + t.per_tile - 1) / t.per_tile;
  return t;
}

// part[tile * cols + k] = sum over the tile's rows n of term(n * cols + k); channel k / l.
template <class Term>
__global__ void __launch_bounds__(kBlock)
    column_partials_kernel(const Term term, std::int64_t rows, std::int64_t cols, std::int64_t l,
                           std::int64_t per_tile, std::int64_t tiles, double* part0, double* part1) {
  const std::int64_t col_blocks = (cols + kBlock - 1) / kBlock;
  for (std::int64_t b = blockIdx.x; b < tiles * col_blocks; b += gridDim.x) {
    const std::int64_t tile = b / col_blocks;
    const std::int64_t k = (b % col_blocks) * kBlock + threadIdx.x;
    if (k >= cols) continue;
    const std::int64_t ch = k / l;
    const std::int64_t end = std::min(rows, (tile + 1) * per_tile);
    double a0 = 0.0, a1 = 0.0;
#pragma unroll 4
    for (std::int64_t n = tile * per_tile; n < end; ++n) term(n * cols + k, n, ch, a0, a1);
    part0[tile * cols + k] = a0;
    if (part1 != nullptr) part1[tile * cols + k] = a1;
  }
}

// part[tile * channels + ch] = sum over the tile's n of the plane (n, ch) of x (N, C, L).
template <class Term>
__global__ void __launch_bounds__(kBlock)
    plane_partials_kernel(const Term term, std::int64_t n_total, std::int64_t channels,
                          std::int64_t l, std::int64_t per_tile, std::int64_t tiles,
                          double* part0, double* part1) {
  __shared__ double scratch[kWarp];
  for (std::int64_t b = blockIdx.x; b < tiles * channels; b += gridDim.x) {
    const std::int64_t tile = b / channels, ch = b % channels;
    const std::int64_t end = std::min(n_total, (tile + 1) * per_tile);
    double a0 = 0.0, a1 = 0.0;
    for (std::int64_t n = tile * per_tile; n < end; ++n) {
      const std::int64_t base = (n * channels + ch) * l;
      for (std::int64_t q = threadIdx.x; q < l; q += blockDim.x) term(base + q, n, ch, a0, a1);
    }
    a0 = block_sum(a0, scratch);
    a1 = block_sum(a1, scratch);
    if (threadIdx.x == 0) {
      part0[tile * channels + ch] = a0;
      if (part1 != nullptr) part1[tile * channels + ch] = a1;
    }
  }
}

// Stage 2: channel ch's totals are the sums over tiles t (ascending) and l < leff of
// part[(t * channels + ch) * leff + l]. kReduceSplit threads per channel each take every
// kReduceSplit-th tile, then one adds their sums in order. Blocks are kReduceCols channels
// wide (a 32-byte sector of floats) so that even 1024 channels make 128 blocks: a layer
// norm's dweight/dbias over 1024 partial rows took 35 us on 32 blocks of 32 channels.
constexpr int kReduceCols = 8;
constexpr int kReduceSplit = 64;
constexpr int kReduceUnroll = 8;  // loads in flight per thread before their sums

template <class T, class Finish>
__global__ void __launch_bounds__(kReduceCols* kReduceSplit)
    reduce_partials_kernel(const T* part0, const T* part1, std::int64_t tiles,
                           std::int64_t channels, std::int64_t leff, const Finish finish) {
  __shared__ double sum0[kReduceSplit][kReduceCols], sum1[kReduceSplit][kReduceCols];
  const int tx = threadIdx.x, ty = threadIdx.y;
  const std::int64_t ch = static_cast<std::int64_t>(blockIdx.x) * kReduceCols + tx;
  double a0 = 0.0, a1 = 0.0;
  if (ch < channels) {
    std::int64_t t = ty;
    if (leff == 1) {
      // The loads of kReduceUnroll tiles first, then their sums in the same order as the
      // loop below: one round trip to memory per kReduceUnroll tiles instead of per tile.
      for (; t + (kReduceUnroll - 1) * kReduceSplit < tiles; t += kReduceUnroll * kReduceSplit) {
        T v0[kReduceUnroll], v1[kReduceUnroll];
#pragma unroll
        for (int u = 0; u < kReduceUnroll; ++u) {
          const std::int64_t at = (t + u * kReduceSplit) * channels + ch;
          v0[u] = part0[at];
          v1[u] = part1 != nullptr ? part1[at] : T(0);
        }
#pragma unroll
        for (int u = 0; u < kReduceUnroll; ++u) {
          a0 += v0[u];
          a1 += v1[u];
        }
      }
    }
    for (; t < tiles; t += kReduceSplit) {
      const std::int64_t at = (t * channels + ch) * leff;
      for (std::int64_t l = 0; l < leff; ++l) {
        a0 += part0[at + l];
        if (part1 != nullptr) a1 += part1[at + l];
      }
    }
  }
  sum0[ty][tx] = a0;
  sum1[ty][tx] = a1;
  __syncthreads();
  if (ty == 0 && ch < channels) {
    double t0 = 0.0, t1 = 0.0;
    for (int q = 0; q < kReduceSplit; ++q) {
      t0 += sum0[q][tx];
      t1 += sum1[q][tx];
    }
    finish(ch, t0, t1);
  }
}

template <class T, class Finish>
void launch_reduce(const T* part0, const T* part1, std::int64_t tiles, std::int64_t channels,
                   std::int64_t leff, const Finish& finish) {
  const auto blocks = static_cast<unsigned>((channels + kReduceCols - 1) / kReduceCols);
  reduce_partials_kernel<<<blocks, dim3(kReduceCols, kReduceSplit), 0, current_stream()>>>(
      part0, part1, tiles, channels, leff, finish);
  NN_CUDA_CHECK_LAUNCH();
}

// Per channel of x (n, c, l): term's one or two sums, handed to finish. With n * l == 0 the
// totals are 0.
template <class Term, class Finish>
void channel_sums(const Term& term, bool two_sums, std::int64_t n, std::int64_t c, std::int64_t l,
                  Device device, const Finish& finish) {
  const bool planes = l >= kPlaneMinL;
  const std::int64_t cols = planes ? c : c * l;  // partials per tile
  const Tiling t = planes ? plane_tiling(n, l) : column_tiling(n, cols);
  DoubleScratch part(2 * t.tiles * cols, device);
  double* p0 = part.data();
  double* p1 = two_sums ? p0 + t.tiles * cols : nullptr;
  if (t.tiles > 0) {
    cudaStream_t stream = current_stream();
    if (planes) {
      const auto blocks = static_cast<unsigned>(std::clamp<std::int64_t>(t.tiles * c, 1, kMaxBlocks));
      plane_partials_kernel<<<blocks, kBlock, 0, stream>>>(term, n, c, l, t.per_tile, t.tiles, p0, p1);
    } else {
      const std::int64_t col_blocks = (cols + kBlock - 1) / kBlock;
      const auto blocks =
          static_cast<unsigned>(std::clamp<std::int64_t>(t.tiles * col_blocks, 1, kMaxBlocks));
      column_partials_kernel<<<blocks, kBlock, 0, stream>>>(term, n, cols, l, t.per_tile, t.tiles,
                                                            p0, p1);
    }
    NN_CUDA_CHECK_LAUNCH();
  }
  launch_reduce(p0, p1, t.tiles, c, planes ? 1 : l, finish);
}

// --- layer norm forward ---------------------------------------------------------------------

// x (N,C), weight/bias (C) or null, out (N,C), mean/rstd (N); the row in registers.
template <int W, int K, bool kWarpRows>
__global__ void __launch_bounds__(kMaxRowThreads)
    layer_norm_forward_rows_kernel(const float* __restrict__ x, const float* __restrict__ weight,
                                   const float* __restrict__ bias, float* __restrict__ out,
                                   float* __restrict__ mean, float* __restrict__ rstd,
                                   std::int64_t rows, std::int64_t c, double eps) {
  __shared__ double scratch[kWarp];
  const RowGroup<kWarpRows> g;
  const int nvec = static_cast<int>(c / W);  // <= 8192: plan_rows
  for (std::int64_t row = g.first; row < rows; row += g.stride) {
    const float* xr = x + row * c;
    float* yr = out + row * c;
    float v[K][W];
    double s = 0.0;
    load_row(g, xr, nvec, v, [&](float e) { s += e; });
    const double m = g.sum(s, scratch) / static_cast<double>(c);
    double sq = 0.0;
#pragma unroll
    for (int k = 0; k < K; ++k) {
      if (g.tid + k * g.size < nvec) {
#pragma unroll
        for (int w = 0; w < W; ++w) {
          const double d = v[k][w] - m;
          sq += d * d;
        }
      }
    }
    const double r = 1.0 / sqrt(g.sum(sq, scratch) / static_cast<double>(c) + eps);
#pragma unroll
    for (int k = 0; k < K; ++k) {
      const int j = g.tid + k * g.size;
      if (j < nvec) {
        float wv[W], bv[W];
        load_param<W>(weight, j, 1.0f, wv);
        load_param<W>(bias, j, 0.0f, bv);
#pragma unroll
        for (int w = 0; w < W; ++w) {
          v[k][w] = static_cast<float>((v[k][w] - m) * r * wv[w] + bv[w]);
        }
        store_vec<W>(yr + j * W, v[k]);
      }
    }
    if (g.tid == 0) {
      mean[row] = static_cast<float>(m);
      rstd[row] = static_cast<float>(r);
    }
  }
}

// Rows too long for registers: three passes (sum, squares about the mean, output).
__global__ void __launch_bounds__(kMaxRowThreads)
    layer_norm_forward_loop_kernel(const float* __restrict__ x, const float* __restrict__ weight,
                                   const float* __restrict__ bias, float* __restrict__ out,
                                   float* __restrict__ mean, float* __restrict__ rstd,
                                   std::int64_t rows, std::int64_t c, double eps) {
  __shared__ double scratch[kWarp];
  for (std::int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const float* xr = x + row * c;
    float* yr = out + row * c;
    double s = 0.0;
    for (std::int64_t j = threadIdx.x; j < c; j += blockDim.x) s += xr[j];
    const double m = block_sum(s, scratch) / static_cast<double>(c);
    double sq = 0.0;
    for (std::int64_t j = threadIdx.x; j < c; j += blockDim.x) {
      const double d = xr[j] - m;
      sq += d * d;
    }
    const double r = 1.0 / sqrt(block_sum(sq, scratch) / static_cast<double>(c) + eps);
    for (std::int64_t j = threadIdx.x; j < c; j += blockDim.x) {
      double v = (xr[j] - m) * r;
      if (weight != nullptr) v *= weight[j];
      if (bias != nullptr) v += bias[j];
      yr[j] = static_cast<float>(v);
    }
    if (threadIdx.x == 0) {
      mean[row] = static_cast<float>(m);
      rstd[row] = static_cast<float>(r);
    }
  }
}

void layer_norm_forward_cuda(const Tensor& x, const Tensor& weight, const Tensor& bias,
                             Tensor& out, Tensor& mean, Tensor& rstd, std::int64_t N,
                             std::int64_t C, double eps) {
  if (N == 0 || C == 0) return;
  const float* px = x.data_ptr<float>();
  const float* pw = data_or_null(weight);
  const float* pb = data_or_null(bias);
  float* py = out.data_ptr<float>();
  float* pmean = mean.data_ptr<float>();
  float* prstd = rstd.data_ptr<float>();
  const bool vec4 = C % 4 == 0 && aligned16(px) && aligned16(py) && aligned16(pw) && aligned16(pb);
  const RowPlan plan = plan_rows(C, vec4, kForwardFloats);
  const unsigned blocks = row_blocks(plan, N);
  cudaStream_t stream = current_stream();
  if (plan.items == 0) {
    layer_norm_forward_loop_kernel<<<blocks, plan.threads, 0, stream>>>(px, pw, pb, py, pmean,
                                                                        prstd, N, C, eps);
  } else {
    dispatch_cached<kForwardFloats>(plan, [&]<int W, int K, bool kWarpRows>() {
      layer_norm_forward_rows_kernel<W, K, kWarpRows><<<blocks, plan.threads, 0, stream>>>(
          px, pw, pb, py, pmean, prstd, N, C, eps);
    });
  }
  NN_CUDA_CHECK_LAUNCH();
}

// --- layer norm backward --------------------------------------------------------------------
// y = xhat * w + b, xhat = (x - mean) * rstd: with dxhat = dout * w,
//   dx = rstd * (dxhat - mean_c(dxhat) - xhat * mean_c(dxhat * xhat)),
//   dweight = sum_n dout * xhat,  dbias = sum_n dout.

// A run of rows_per_group rows per warp/block, each row in registers: dx when asked for, and
// with kParams the run's column sums of dout * xhat and dout, kept in registers (float: at
// most 32 rows each) and written to part_w, part_b [group][C] at the end. Per element the
// arithmetic is float (xhat, dxhat: ~1e-7 from the CPU's double), the row sums double.
template <int W, int K, bool kWarpRows, bool kParams>
__global__ void __launch_bounds__(kMaxRowThreads)
    layer_norm_backward_rows_kernel(const float* __restrict__ dout, const float* __restrict__ x,
                                    const float* __restrict__ mean,
                                    const float* __restrict__ rstd,
                                    const float* __restrict__ weight, float* __restrict__ dx,
                                    float* __restrict__ part_w, float* __restrict__ part_b,
                                    std::int64_t rows, std::int64_t c,
                                    std::int64_t rows_per_group) {
  __shared__ double scratch[kWarp];
  const RowGroup<kWarpRows> g;
  const std::int64_t group = g.first;
  const std::int64_t begin = group * rows_per_group;
  if (begin >= rows) return;  // the spare warps of the last block (no block barrier with warps)
  const std::int64_t end = std::min(rows, begin + rows_per_group);
  const int nvec = static_cast<int>(c / W);  // <= 8192: plan_rows
  const double inv_c = 1.0 / static_cast<double>(c);
  float acc_w[K][W], acc_b[K][W];
  if constexpr (kParams) {
#pragma unroll
    for (int k = 0; k < K; ++k) {
#pragma unroll
      for (int w = 0; w < W; ++w) acc_w[k][w] = acc_b[k][w] = 0.0f;
    }
  }
  for (std::int64_t row = begin; row < end; ++row) {
    const std::int64_t offset = row * c;
    const float m = mean[row], s = rstd[row];
    float gv[K][W], xv[K][W];  // dout, then dxhat; x, then xhat
#pragma unroll
    for (int k = 0; k < K; ++k) {
      const int j = g.tid + k * g.size;
      if (j < nvec) {
        load_vec<W>(dout + offset + j * W, gv[k]);
        load_vec<W>(x + offset + j * W, xv[k]);
#pragma unroll
        for (int w = 0; w < W; ++w) {
          xv[k][w] = (xv[k][w] - m) * s;
          if constexpr (kParams) {
            acc_w[k][w] += gv[k][w] * xv[k][w];
            acc_b[k][w] += gv[k][w];
          }
        }
      }
    }
    if (dx == nullptr) continue;
    double a = 0.0, b = 0.0;  // sum_c dxhat, sum_c dxhat * xhat
#pragma unroll
    for (int k = 0; k < K; ++k) {
      const int j = g.tid + k * g.size;
      if (j < nvec) {
        float wv[W];
        load_param<W>(weight, j, 1.0f, wv);
#pragma unroll
        for (int w = 0; w < W; ++w) {
          gv[k][w] *= wv[w];
          a += gv[k][w];
          b += gv[k][w] * xv[k][w];
        }
      }
    }
    const float mean_dxhat = static_cast<float>(g.sum(a, scratch) * inv_c);
    const float mean_dxhat_xhat = static_cast<float>(g.sum(b, scratch) * inv_c);
#pragma unroll
    for (int k = 0; k < K; ++k) {
      const int j = g.tid + k * g.size;
      if (j < nvec) {
#pragma unroll
        for (int w = 0; w < W; ++w) {
          gv[k][w] = s * (gv[k][w] - mean_dxhat - xv[k][w] * mean_dxhat_xhat);
        }
        store_vec<W>(dx + offset + j * W, gv[k]);
      }
    }
  }
  if constexpr (kParams) {
#pragma unroll
    for (int k = 0; k < K; ++k) {
      const int j = g.tid + k * g.size;
      if (j < nvec) {
        store_vec<W>(part_w + group * c + j * W, acc_w[k]);
        store_vec<W>(part_b + group * c + j * W, acc_b[k]);
      }
    }
  }
}

// dx for rows too long for registers: the sums, then dx (dweight/dbias: column sums below),
// with the same arithmetic as the kernel above.
__global__ void __launch_bounds__(kMaxRowThreads)
    layer_norm_backward_loop_kernel(const float* __restrict__ dout, const float* __restrict__ x,
                                    const float* __restrict__ mean,
                                    const float* __restrict__ rstd,
                                    const float* __restrict__ weight, float* __restrict__ dx,
                                    std::int64_t rows, std::int64_t c) {
  __shared__ double scratch[kWarp];
  const double inv_c = 1.0 / static_cast<double>(c);
  for (std::int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const std::int64_t offset = row * c;
    const float m = mean[row], s = rstd[row];
    double a = 0.0, b = 0.0;
    for (std::int64_t j = threadIdx.x; j < c; j += blockDim.x) {
      const float dxhat = weight != nullptr ? dout[offset + j] * weight[j] : dout[offset + j];
      a += dxhat;
      b += dxhat * ((x[offset + j] - m) * s);
    }
    const float mean_dxhat = static_cast<float>(block_sum(a, scratch) * inv_c);
    const float mean_dxhat_xhat = static_cast<float>(block_sum(b, scratch) * inv_c);
    for (std::int64_t j = threadIdx.x; j < c; j += blockDim.x) {
      const float dxhat = weight != nullptr ? dout[offset + j] * weight[j] : dout[offset + j];
      const float xhat = (x[offset + j] - m) * s;
      dx[offset + j] = s * (dxhat - mean_dxhat - xhat * mean_dxhat_xhat);
    }
  }
}

// dweight = sum_n dout * xhat (t0), dbias = sum_n dout (t1), column by column.
struct LayerNormParamsTerm {
  const float* dout;
  const float* x;
  const float* mean;
  const float* rstd;
  __device__ void operator()(std::int64_t idx, std::int64_t n, std::int64_t, double& a0,
                             double& a1) const {
    const double g = dout[idx];
    a0 += g * ((x[idx] - static_cast<double>(mean[n])) * rstd[n]);
    a1 += g;
  }
};
struct LayerNormParamsFinish {
  float* dweight;
  float* dbias;
  __device__ void operator()(std::int64_t ch, double t0, double t1) const {
    if (dweight != nullptr) dweight[ch] = static_cast<float>(t0);
    if (dbias != nullptr) dbias[ch] = static_cast<float>(t1);
  }
};

// Rows per run for the fused backward: enough runs for about 2^18 threads in all, each run
// 1..32 rows (at least 8 when it sums dweight/dbias, so that the partials stay a small part
// of the traffic).
std::int64_t layer_norm_rows_per_group(std::int64_t rows, const RowPlan& plan, bool params) {
  const std::int64_t group_threads = plan.warp_rows ? kWarp : plan.threads;
  const std::int64_t groups = std::max<std::int64_t>(1, (std::int64_t{1} << 18) / group_threads);
  return std::clamp<std::int64_t>((rows + groups - 1) / groups, params ? 8 : 1, 32);
}

void layer_norm_backward_cuda(const Tensor& dout, const Tensor& x, const Tensor& mean,
                              const Tensor& rstd, const Tensor& weight, Tensor& dx,
                              Tensor& dweight, Tensor& dbias, std::int64_t N, std::int64_t C) {
  float* pdx = data_or_null(dx);
  float* pdw = data_or_null(dweight);
  float* pdb = data_or_null(dbias);
  const bool params = pdw != nullptr || pdb != nullptr;
  if (C == 0 || (pdx == nullptr && !params)) return;
  const LayerNormParamsFinish finish{pdw, pdb};
  if (N == 0) {  // sums over no rows: dweight = dbias = 0
    launch_reduce<float>(nullptr, nullptr, 0, C, 1, finish);
    return;
  }
  const float* pg = dout.data_ptr<float>();
  const float* px = x.data_ptr<float>();
  const float* pmean = mean.data_ptr<float>();
  const float* prstd = rstd.data_ptr<float>();
  const float* pw = data_or_null(weight);
  const bool vec4 = C % 4 == 0 && aligned16(pg) && aligned16(px) && aligned16(pdx) && aligned16(pw);
  const RowPlan plan = plan_rows(C, vec4, kBackwardFloats);
  cudaStream_t stream = current_stream();

  if (plan.items == 0) {
    if (pdx != nullptr) {
      layer_norm_backward_loop_kernel<<<row_blocks(plan, N), plan.threads, 0, stream>>>(
          pg, px, pmean, prstd, pw, pdx, N, C);
      NN_CUDA_CHECK_LAUNCH();
    }
    if (params) {
      channel_sums(LayerNormParamsTerm{pg, px, pmean, prstd}, true, N, C, 1, x.device(), finish);
    }
    return;
  }

  const std::int64_t per_group = layer_norm_rows_per_group(N, plan, params);
  const std::int64_t groups = (N + per_group - 1) / per_group;
  Tensor part;
  float* part_w = nullptr;
  float* part_b = nullptr;
  if (params) {
    part = empty({2 * groups * C}, TensorOptions().dtype(DType::Float32).device(x.device()));
    part_w = part.data_ptr<float>();
    part_b = part_w + groups * C;
  }
  const std::int64_t groups_per_block = plan.warp_rows ? plan.threads / kWarp : 1;
  const auto blocks = static_cast<unsigned>((groups + groups_per_block - 1) / groups_per_block);
  auto launch = [&]<bool kParams>() {
    dispatch_cached<kBackwardFloats>(plan, [&]<int W, int K, bool kWarpRows>() {
      layer_norm_backward_rows_kernel<W, K, kWarpRows, kParams><<<blocks, plan.threads, 0, stream>>>(
          pg, px, pmean, prstd, pw, pdx, part_w, part_b, N, C, per_group);
    });
  };
  if (params) {
    launch.template operator()<true>();
  } else {
    launch.template operator()<false>();
  }
  NN_CUDA_CHECK_LAUNCH();
  if (params) launch_reduce<float>(part_w, part_b, groups, C, 1, finish);
}

// --- batch norm -----------------------------------------------------------------------------
// x is (N,C,L); per channel c the M = N*L values x[n, c, :].

struct SumTerm {  // sum x
  const float* x;
  __device__ void operator()(std::int64_t idx, std::int64_t, std::int64_t, double& a0,
                             double&) const {
    a0 += x[idx];
  }
};
struct SquaresTerm {  // sum (x - mean)^2, about the mean in double
  const float* x;
  const double* mean_d;
  __device__ void operator()(std::int64_t idx, std::int64_t, std::int64_t ch, double& a0,
                             double&) const {
    const double d = x[idx] - mean_d[ch];
    a0 += d * d;
  }
};
struct MeanFinish {
  double* mean_d;
  double count;
  __device__ void operator()(std::int64_t ch, double t0, double) const { mean_d[ch] = t0 / count; }
};
// The batch statistics: rstd from the biased variance, var_unbiased (when asked) for the
// running update.
struct VarianceFinish {
  const double* mean_d;
  double* rstd_d;
  float* mean;
  float* rstd;
  float* var_unbiased;
  double count;
  double eps;
  __device__ void operator()(std::int64_t ch, double sq, double) const {
    const double r = 1.0 / sqrt(sq / count + eps);
    rstd_d[ch] = r;
    mean[ch] = static_cast<float>(mean_d[ch]);
    rstd[ch] = static_cast<float>(r);
    if (var_unbiased != nullptr) var_unbiased[ch] = static_cast<float>(sq / (count - 1.0));
  }
};

__global__ void __launch_bounds__(kBlock)
    batch_norm_eval_stats_kernel(const float* __restrict__ running_mean,
                                 const float* __restrict__ running_var, double eps,
                                 double* mean_d, double* rstd_d, float* mean, float* rstd,
                                 std::int64_t c) {
  NN_CUDA_KERNEL_LOOP(ch, c) {
    const double m = running_mean[ch];
    const double r = 1.0 / sqrt(static_cast<double>(running_var[ch]) + eps);
    mean_d[ch] = m;
    rstd_d[ch] = r;
    mean[ch] = static_cast<float>(m);
    rstd[ch] = static_cast<float>(r);
  }
}

// Elementwise over (N,C,L) with the channel (i / L) % C; 32-bit indices when they fit.
template <class Index>
__global__ void __launch_bounds__(kBlock)
    batch_norm_normalize_kernel(const float* __restrict__ x, const double* __restrict__ mean_d,
                                const double* __restrict__ rstd_d,
                                const float* __restrict__ weight, const float* __restrict__ bias,
                                float* __restrict__ y, Index n, Index c, Index l) {
  for (Index i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x) {
    const Index ch = (i / l) % c;
    const double scale = weight != nullptr ? rstd_d[ch] * weight[ch] : rstd_d[ch];
    const double shift = bias != nullptr ? bias[ch] : 0.0;
    y[i] = static_cast<float>((x[i] - mean_d[ch]) * scale + shift);
  }
}

void batch_norm_forward_cuda(const Tensor& x, const Tensor& weight, const Tensor& bias,
                             const Tensor& running_mean, const Tensor& running_var, bool training,
                             double eps, Tensor& out, Tensor& mean, Tensor& rstd,
                             Tensor& var_unbiased, std::int64_t N, std::int64_t C, std::int64_t L) {
  if (C == 0) return;
  const std::int64_t M = N * L;  // values per channel
  const float* px = M > 0 ? x.data_ptr<float>() : nullptr;
  float* pmean = mean.data_ptr<float>();
  float* prstd = rstd.data_ptr<float>();
  // The statistics in double, kept for the normalization as the CPU does.
  const DoubleScratch stats(2 * C, x.device());
  double* mean_d = stats.data();
  double* rstd_d = mean_d + C;
  if (training) {
    const double count = static_cast<double>(M);
    channel_sums(SumTerm{px}, false, N, C, L, x.device(), MeanFinish{mean_d, count});
    channel_sums(SquaresTerm{px, mean_d}, false, N, C, L, x.device(),
                 VarianceFinish{mean_d, rstd_d, pmean, prstd, data_or_null(var_unbiased), count, eps});
  } else {
    batch_norm_eval_stats_kernel<<<grid_for(C), kBlock, 0, current_stream()>>>(
        running_mean.data_ptr<float>(), running_var.data_ptr<float>(), eps, mean_d, rstd_d, pmean,
        prstd, C);
    NN_CUDA_CHECK_LAUNCH();
  }
  if (M == 0) return;
  const std::int64_t n = N * C * L;
  const float* pw = data_or_null(weight);
  const float* pb = data_or_null(bias);
  float* py = out.data_ptr<float>();
  if (n <= INT32_MAX) {
    batch_norm_normalize_kernel<unsigned><<<grid_for(n), kBlock, 0, current_stream()>>>(
        px, mean_d, rstd_d, pw, pb, py, static_cast<unsigned>(n), static_cast<unsigned>(C),
        static_cast<unsigned>(L));
  } else {
    batch_norm_normalize_kernel<std::int64_t><<<grid_for(n), kBlock, 0, current_stream()>>>(
        px, mean_d, rstd_d, pw, pb, py, n, C, L);
  }
  NN_CUDA_CHECK_LAUNCH();
}

// Per channel: sum_dy = sum dout (t0), sum_dy_xhat = sum dout * xhat (t1), xhat from the
// saved (float) mean and rstd as the CPU.
struct BatchNormGradTerm {
  const float* dout;
  const float* x;
  const float* mean;
  const float* rstd;
  __device__ void operator()(std::int64_t idx, std::int64_t, std::int64_t ch, double& a0,
                             double& a1) const {
    const double g = dout[idx];
    a0 += g;
    a1 += g * ((x[idx] - static_cast<double>(mean[ch])) * rstd[ch]);
  }
};
// y = xhat * w + b: dweight = sum_dy_xhat, dbias = sum_dy; both sums kept for dx.
struct BatchNormGradFinish {
  double* sum_dy;
  double* sum_dy_xhat;
  float* dweight;
  float* dbias;
  __device__ void operator()(std::int64_t ch, double t0, double t1) const {
    sum_dy[ch] = t0;
    sum_dy_xhat[ch] = t1;
    if (dweight != nullptr) dweight[ch] = static_cast<float>(t1);
    if (dbias != nullptr) dbias[ch] = static_cast<float>(t0);
  }
};

// Training, xhat = (x - batch_mean) * batch_rstd:
//   dx = w * rstd * (dout - sum_dy / M - xhat * sum_dy_xhat / M).
// Evaluation, xhat = (x - running_mean) * rstd with constant statistics:
//   dx = w * rstd * dout.
template <class Index>
__global__ void __launch_bounds__(kBlock)
    batch_norm_backward_dx_kernel(const float* __restrict__ dout, const float* __restrict__ x,
                                  const float* __restrict__ mean, const float* __restrict__ rstd,
                                  const float* __restrict__ weight,
                                  const double* __restrict__ sum_dy,
                                  const double* __restrict__ sum_dy_xhat, bool training,
                                  double count, float* __restrict__ dx, Index n, Index c,
                                  Index l) {
  for (Index i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x) {
    const Index ch = (i / l) % c;
    const double m = mean[ch], s = rstd[ch];
    const double scale = weight != nullptr ? s * weight[ch] : s;
    if (training) {
      const double a = sum_dy[ch] / count;
      const double b = sum_dy_xhat[ch] / count;
      dx[i] = static_cast<float>(scale * (dout[i] - a - (x[i] - m) * s * b));
    } else {
      dx[i] = static_cast<float>(scale * dout[i]);
    }
  }
}

void batch_norm_backward_cuda(const Tensor& dout, const Tensor& x, const Tensor& mean,
                              const Tensor& rstd, const Tensor& weight, bool training, Tensor& dx,
                              Tensor& dweight, Tensor& dbias, std::int64_t N, std::int64_t C,
                              std::int64_t L) {
  if (C == 0) return;
  const std::int64_t M = N * L;
  const float* pg = M > 0 ? dout.data_ptr<float>() : nullptr;
  const float* px = M > 0 ? x.data_ptr<float>() : nullptr;
  const float* pmean = mean.data_ptr<float>();
  const float* prstd = rstd.data_ptr<float>();
  const float* pw = data_or_null(weight);
  float* pdx = data_or_null(dx);
  float* pdw = data_or_null(dweight);
  float* pdb = data_or_null(dbias);

  const DoubleScratch sums(2 * C, x.device());
  double* sum_dy = sums.data();
  double* sum_dy_xhat = sum_dy + C;
  if ((pdx != nullptr && training) || pdw != nullptr || pdb != nullptr) {
    channel_sums(BatchNormGradTerm{pg, px, pmean, prstd}, true, N, C, L, x.device(),
                 BatchNormGradFinish{sum_dy, sum_dy_xhat, pdw, pdb});
  }
  if (pdx == nullptr || M == 0) return;
  const std::int64_t n = N * C * L;
  const double count = static_cast<double>(M);
  if (n <= INT32_MAX) {
    batch_norm_backward_dx_kernel<unsigned><<<grid_for(n), kBlock, 0, current_stream()>>>(
        pg, px, pmean, prstd, pw, sum_dy, sum_dy_xhat, training, count, pdx,
        static_cast<unsigned>(n), static_cast<unsigned>(C), static_cast<unsigned>(L));
  } else {
    batch_norm_backward_dx_kernel<std::int64_t><<<grid_for(n), kBlock, 0, current_stream()>>>(
        pg, px, pmean, prstd, pw, sum_dy, sum_dy_xhat, training, count, pdx, n, C, L);
  }
  NN_CUDA_CHECK_LAUNCH();
}

}  // namespace

void register_norm_kernels() {
  kernels::layer_norm_forward.set(DeviceType::CUDA, layer_norm_forward_cuda);
  kernels::layer_norm_backward.set(DeviceType::CUDA, layer_norm_backward_cuda);
  kernels::batch_norm_forward.set(DeviceType::CUDA, batch_norm_forward_cuda);
  kernels::batch_norm_backward.set(DeviceType::CUDA, batch_norm_backward_cuda);
}

}  // namespace nn::cuda
