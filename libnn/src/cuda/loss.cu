// CUDA loss kernels (src/kernels/loss.hpp): fused cross-entropy over class indices and binary
// cross-entropy with logits, forward and backward -- the functions of src/cpu/loss.cpp on the
// GPU.
//
// Cross-entropy is memory-bound and never materializes the softmax. The forward reads each
// row of logits from memory once: the row is held in registers by one warp (C <= 1024) or
// one block (C <= 16384; half those bounds when rows are not 16-byte aligned for float4),
// which takes its max, then exp-sum and plain sum by the fixed-order reductions of
// common.cuh; longer rows are streamed once with an online max-and-sum. The backward rebuilds
// softmax from the saved row_max and log_sum and writes grad_logits in the same pass: one read
// and one write per element.
//
// What the forward found in the targets (valid rows, the first bad row) depends on the
// targets alone, so it is counted by two small integer kernels (fixed ranges per block, then
// one block over the partials) and copied to the host once. No atomics anywhere: every sum
// has an order fixed by the launch shape, which depends on the sizes only, so the same inputs
// give the same bits on every run.
#include <cmath>
#include <cstdint>
#include <vector>

#include "cuda/common.cuh"
#include "cuda/register.hpp"
#include "cuda/rows.cuh"
#include "kernels/loss.hpp"

namespace nn::cuda {
namespace {

using kernels::CrossEntropyStats;

// --- rows -----------------------------------------------------------------------------------
// The warp/block plan and its dispatch are rows.cuh's; the forward's register budget and the
// backward's streaming plan are this file's.

constexpr int kRowFloats = 32;  // floats of a row each thread holds in registers

// A row streamed (nothing held): a warp per row for short rows, else a block of up to 512
// threads, each taking a few vectors per row.
RowPlan plan_stream_rows(std::int64_t c, bool vec4) {
  RowPlan plan;
  plan.width = vec4 ? 4 : 1;
  const std::int64_t nvec = c / plan.width;
  if (nvec <= 2 * kWarp) {
    plan.warp_rows = true;
    plan.threads = kWarpRowsBlock;
  } else {
    plan.threads = static_cast<int>(std::clamp<std::int64_t>((nvec / 2 + kWarp - 1) / kWarp * kWarp,
                                                             2 * kWarp, kMaxRowThreads));
  }
  return plan;
}

// --- cross-entropy forward ------------------------------------------------------------------

// One row's outputs from its max m, sum_c exp(x_c - m) and sum_c x_c, in double as the CPU:
//   lse = m + log(exp_sum),  loss = (1-eps) * (lse - x_y) + eps * (lse - mean_c x_c)
__device__ void write_row_loss(std::int64_t row, float m, float exp_sum, double sum, float x_target,
                               std::int64_t c, double eps, float* loss, float* row_max,
                               float* log_sum) {
  const double row_log_sum = log(static_cast<double>(exp_sum));
  const double row_lse = static_cast<double>(m) + row_log_sum;
  double row_loss = (1.0 - eps) * (row_lse - x_target);
  if (eps > 0.0) row_loss += eps * (row_lse - sum / static_cast<double>(c));
  loss[row] = static_cast<float>(row_loss);
  row_max[row] = m;
  log_sum[row] = static_cast<float>(row_log_sum);
}

// The row in registers. A row whose target is ignore_index gets zeros; one whose target is
// out of range is skipped (its outputs are unspecified; the stats kernels report it).
template <int W, int K, bool kWarpRows>
__global__ void __launch_bounds__(kMaxRowThreads)
    cross_entropy_forward_rows_kernel(const float* __restrict__ x,
                                      const std::int64_t* __restrict__ target, float* loss,
                                      float* row_max, float* log_sum, std::int64_t rows,
                                      std::int64_t c, std::int64_t ignore_index, float eps) {
  __shared__ float scratch[kWarp];
  __shared__ double scratch_d[kWarp];
  const RowGroup<kWarpRows> g;
  const int nvec = static_cast<int>(c / W);  // <= 8192: plan_rows
  for (std::int64_t row = g.first; row < rows; row += g.stride) {
    const std::int64_t y = target[row];
    if (y == ignore_index) {
      if (g.tid == 0) loss[row] = row_max[row] = log_sum[row] = 0.0f;
      continue;
    }
    if (y < 0 || y >= c) continue;
    const float* xr = x + row * c;
    float v[K][W];
    float m = -INFINITY;
    load_row(g, xr, nvec, v, [&](float e) { m = fmaxf(m, e); });
    m = g.max(m, scratch);
    float exp_sum = 0.0f, sum = 0.0f;
#pragma unroll
    for (int k = 0; k < K; ++k) {
      if (g.tid + k * g.size < nvec) {
#pragma unroll
        for (int w = 0; w < W; ++w) {
          exp_sum += expf(v[k][w] - m);
          sum += v[k][w];
        }
      }
    }
    exp_sum = g.sum(exp_sum, scratch);
    // sum_c x_c can cancel: its tree over threads is in double (only label smoothing needs it)
    const double total = eps > 0.0f ? g.sum(static_cast<double>(sum), scratch_d) : 0.0;
    if (g.tid == 0) {
      write_row_loss(row, m, exp_sum, total, xr[y], c, eps, loss, row_max, log_sum);
    }
  }
}

// Rows too long for registers: read once, with a running max and exp-sum per thread.
__global__ void __launch_bounds__(kMaxRowThreads)
    cross_entropy_forward_loop_kernel(const float* __restrict__ x,
                                      const std::int64_t* __restrict__ target, float* loss,
                                      float* row_max, float* log_sum, std::int64_t rows,
                                      std::int64_t c, std::int64_t ignore_index, float eps) {
  __shared__ float scratch[kWarp];
  __shared__ double scratch_d[kWarp];
  for (std::int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const std::int64_t y = target[row];
    if (y == ignore_index) {
      if (threadIdx.x == 0) loss[row] = row_max[row] = log_sum[row] = 0.0f;
      continue;
    }
    if (y < 0 || y >= c) continue;
    const float* xr = x + row * c;
    float m = -INFINITY, s = 0.0f, sum = 0.0f;
    for (std::int64_t j = threadIdx.x; j < c; j += blockDim.x) {
      const float v = xr[j];
      online_add(m, s, v);
      sum += v;
    }
    const float rmax = block_max(m, scratch, -INFINITY);
    const float exp_sum = block_sum(rescale(m, s, rmax), scratch);
    const double total = eps > 0.0f ? block_sum(static_cast<double>(sum), scratch_d) : 0.0;
    if (threadIdx.x == 0) {
      write_row_loss(row, rmax, exp_sum, total, xr[y], c, eps, loss, row_max, log_sum);
    }
  }
}

// --- what the targets hold ------------------------------------------------------------------
// Block b counts the rows [b * kStatsRows, (b+1) * kStatsRows) whose target is in range and
// finds the first whose target is out of range (and not ignore_index); then one block takes
// the sum and the min over the blocks. Integer sums and mins: exact in any order.

constexpr std::int64_t kStatsRows = 1024;  // 16 blocks for 16k rows: each scans 4 targets a thread
constexpr int kStatsThreads = 256;

// The first bad row as a max: key = rows - row for a bad row, 0 for none.
__global__ void __launch_bounds__(kStatsThreads)
    cross_entropy_stats_kernel(const std::int64_t* __restrict__ target, std::int64_t rows,
                               std::int64_t c, std::int64_t ignore_index, long long* partial) {
  __shared__ long long scratch[kWarp];
  const std::int64_t begin = static_cast<std::int64_t>(blockIdx.x) * kStatsRows;
  const std::int64_t end = std::min(rows, begin + kStatsRows);
  long long valid = 0, key = 0;
  for (std::int64_t n = begin + threadIdx.x; n < end; n += blockDim.x) {
    const std::int64_t y = target[n];
    if (y == ignore_index) continue;
    if (y >= 0 && y < c) {
      ++valid;
    } else if (key == 0) {  // a thread's rows ascend: its first bad row is its smallest
      key = rows - n;
    }
  }
  valid = block_sum(valid, scratch);
  key = block_max(key, scratch, 0LL);
  if (threadIdx.x == 0) {
    partial[2 * blockIdx.x] = valid;
    partial[2 * blockIdx.x + 1] = key;
  }
}

// out = {valid_rows, bad_row (-1: none), bad_target}
__global__ void __launch_bounds__(kStatsThreads)
    cross_entropy_stats_final_kernel(const long long* __restrict__ partial, std::int64_t blocks,
                                     const std::int64_t* __restrict__ target, std::int64_t rows,
                                     long long* out) {
  __shared__ long long scratch[kWarp];
  long long valid = 0, key = 0;
  for (std::int64_t b = threadIdx.x; b < blocks; b += blockDim.x) {
    valid += partial[2 * b];
    key = max(key, partial[2 * b + 1]);
  }
  valid = block_sum(valid, scratch);
  key = block_max(key, scratch, 0LL);
  if (threadIdx.x == 0) {
    const long long bad_row = key > 0 ? rows - key : -1;
    out[0] = valid;
    out[1] = bad_row;
    out[2] = bad_row >= 0 ? target[bad_row] : 0;
  }
}

// The stats come back to the host while the pass over the logits runs: the target scan is
// queued first, its three numbers are copied into pinned memory and an event is recorded,
// then the forward kernel is queued, and the host waits for the event alone. The GPU stays
// busy with the forward kernel while the host goes on to queue the reduction and the
// backward; waiting for the whole stream here left it idle between the two (the op took
// 142 us instead of 103 for 64 MiB of logits on an H200, docs/perf.md).
struct StatsReadback {
  long long* host = nullptr;  // pinned: the copy is truly asynchronous
  cudaEvent_t done = nullptr;
};

StatsReadback& stats_readback() {
  thread_local std::vector<StatsReadback> per_device;
  int device = 0;
  NN_CUDA_CHECK(cudaGetDevice(&device));
  if (per_device.size() <= static_cast<std::size_t>(device)) {
    per_device.resize(static_cast<std::size_t>(device) + 1);
  }
  StatsReadback& r = per_device[static_cast<std::size_t>(device)];
  if (r.host == nullptr) {  // kept for the thread's life: pinned memory is slow to allocate
    NN_CUDA_CHECK(cudaHostAlloc(reinterpret_cast<void**>(&r.host), 3 * sizeof(long long),
                                cudaHostAllocPortable));
    NN_CUDA_CHECK(cudaEventCreateWithFlags(&r.done, cudaEventDisableTiming));
  }
  return r;
}

CrossEntropyStats cross_entropy_forward_cuda(const Tensor& logits, const Tensor& target,
                                             Tensor& loss, Tensor& row_max, Tensor& log_sum,
                                             std::int64_t ignore_index, float label_smoothing) {
  // logits is (N,C), target (N), loss, row_max and log_sum (N)
  const std::int64_t rows = logits.size(0), c = logits.size(1);
  CrossEntropyStats stats;
  if (rows == 0) return stats;
  const float* px = logits.data_ptr<float>();
  const std::int64_t* pt = target.data_ptr<std::int64_t>();
  float* pl = loss.data_ptr<float>();
  float* pm = row_max.data_ptr<float>();
  float* ps = log_sum.data_ptr<float>();
  cudaStream_t stream = current_stream();

  const std::int64_t stat_blocks = (rows + kStatsRows - 1) / kStatsRows;
  Tensor scratch = empty({2 * stat_blocks + 3}, TensorOptions().dtype(DType::Int64).device(logits.device()));
  auto* partial = reinterpret_cast<long long*>(scratch.data_ptr<std::int64_t>());
  long long* out = partial + 2 * stat_blocks;
  cross_entropy_stats_kernel<<<static_cast<unsigned>(stat_blocks), kStatsThreads, 0, stream>>>(
      pt, rows, c, ignore_index, partial);
  NN_CUDA_CHECK_LAUNCH();
  cross_entropy_stats_final_kernel<<<1, kStatsThreads, 0, stream>>>(partial, stat_blocks, pt, rows, out);
  NN_CUDA_CHECK_LAUNCH();
  StatsReadback& readback = stats_readback();
  NN_CUDA_CHECK(cudaMemcpyAsync(readback.host, out, 3 * sizeof(long long), cudaMemcpyDeviceToHost,
                                stream));
  NN_CUDA_CHECK(cudaEventRecord(readback.done, stream));

  // Rows whose target is out of range are skipped: the kernel never reads outside a row.
  const RowPlan plan = plan_rows(c, c % 4 == 0 && aligned16(px), kRowFloats);
  const unsigned blocks = row_blocks(plan, rows);
  if (plan.items == 0) {
    cross_entropy_forward_loop_kernel<<<blocks, plan.threads, 0, stream>>>(
        px, pt, pl, pm, ps, rows, c, ignore_index, label_smoothing);
  } else {
    dispatch_cached<kRowFloats>(plan, [&]<int W, int K, bool kWarpRows>() {
      cross_entropy_forward_rows_kernel<W, K, kWarpRows><<<blocks, plan.threads, 0, stream>>>(
          px, pt, pl, pm, ps, rows, c, ignore_index, label_smoothing);
    });
  }
  NN_CUDA_CHECK_LAUNCH();

  NN_CUDA_CHECK(cudaEventSynchronize(readback.done));
  const long long* host = readback.host;
  stats.valid_rows = host[0];
  stats.bad_row = host[1];
  stats.bad_target = host[2];
  return stats;
}

// --- cross-entropy backward -----------------------------------------------------------------

// loss[n] = (1-eps) * (lse - x_y) + eps * (lse - mean_c x_c), lse = log sum_c exp(x_c)
//   -> d loss[n] / d x_c = softmax_c - (1-eps) * [c == y] - eps/C,
// softmax_c = exp((x_c - row_max) - log_sum), times w = grad_loss[n or 0] * scale; ignored
// rows get zeros. One read of logits and one write of grad_logits per element.
template <int W, bool kWarpRows>
__global__ void __launch_bounds__(kMaxRowThreads)
    cross_entropy_backward_kernel(const float* __restrict__ grad_loss, bool per_row, float scale,
                                  const float* __restrict__ x,
                                  const std::int64_t* __restrict__ target,
                                  const float* __restrict__ row_max,
                                  const float* __restrict__ log_sum, float* __restrict__ gx,
                                  std::int64_t rows, std::int64_t c, std::int64_t ignore_index,
                                  float smooth, float hit) {
  const RowGroup<kWarpRows> g;
  const std::int64_t nvec = c / W;
  for (std::int64_t row = g.first; row < rows; row += g.stride) {
    const float* xr = x + row * c;
    float* outr = gx + row * c;
    const std::int64_t y = target[row];
    if (y == ignore_index) {
      float zero[W];
#pragma unroll
      for (int w = 0; w < W; ++w) zero[w] = 0.0f;
      for (std::int64_t j = g.tid; j < nvec; j += g.size) store_vec<W>(outr + j * W, zero);
      continue;
    }
    const float weight = grad_loss[per_row ? row : 0] * scale;
    const float m = row_max[row], s = log_sum[row];
#pragma unroll 4
    for (std::int64_t j = g.tid; j < nvec; j += g.size) {
      float v[W];
      load_vec<W>(xr + j * W, v);
#pragma unroll
      for (int w = 0; w < W; ++w) {
        float out = weight * (expf((v[w] - m) - s) - smooth);
        if (j * W + w == y) out -= weight * hit;
        v[w] = out;
      }
      store_vec<W>(outr + j * W, v);
    }
  }
}

void cross_entropy_backward_cuda(const Tensor& grad_loss, float scale, const Tensor& logits,
                                 const Tensor& target, const Tensor& row_max,
                                 const Tensor& log_sum, Tensor& grad_logits,
                                 std::int64_t ignore_index, float label_smoothing) {
  // logits and grad_logits are (N,C); target, row_max, log_sum (N); grad_loss (N) or ()
  const std::int64_t rows = logits.size(0), c = logits.size(1);
  if (rows == 0 || c == 0) return;
  const float* px = logits.data_ptr<float>();
  float* po = grad_logits.data_ptr<float>();
  const bool per_row = grad_loss.numel() == rows;  // with N == 1 both readings agree
  const float smooth = label_smoothing / static_cast<float>(c);
  const float hit = 1.0f - label_smoothing;
  const RowPlan plan = plan_stream_rows(c, c % 4 == 0 && aligned16(px) && aligned16(po));
  const unsigned blocks = row_blocks(plan, rows);
  cudaStream_t stream = current_stream();
  auto launch = [&]<int W, bool kWarpRows>() {
    cross_entropy_backward_kernel<W, kWarpRows><<<blocks, plan.threads, 0, stream>>>(
        grad_loss.data_ptr<float>(), per_row, scale, px, target.data_ptr<std::int64_t>(),
        row_max.data_ptr<float>(), log_sum.data_ptr<float>(), po, rows, c, ignore_index, smooth,
        hit);
  };
  if (plan.width == 4) {
    if (plan.warp_rows) launch.template operator()<4, true>();
    else launch.template operator()<4, false>();
  } else {
    if (plan.warp_rows) launch.template operator()<1, true>();
    else launch.template operator()<1, false>();
  }
  NN_CUDA_CHECK_LAUNCH();
}

// --- binary cross-entropy with logits -------------------------------------------------------
// Elementwise, W elements per thread and iteration (float4 when every buffer allows). The
// pos_weight of element i is pw[i % L] (pw_stride 1), pw[0] (stride 0) or 1 (pw null).

struct BceArgs {
  const float* x;
  const float* t;
  const float* pw;
  std::int64_t pw_stride;
  std::int64_t l;
  const float* grad;    // backward only
  bool grad_elementwise;
  float scale;
  float* out;
};

template <int W, bool kBackward>
__global__ void __launch_bounds__(kBlock) bce_with_logits_kernel(const BceArgs a, std::int64_t n) {
  const std::int64_t nvec = n / W;
  NN_CUDA_KERNEL_LOOP(v, nvec) {
    const std::int64_t i0 = v * W;
    float x[W], t[W], g[W], out[W];
    load_vec<W>(a.x + i0, x);
    load_vec<W>(a.t + i0, t);
    if constexpr (kBackward) {
      if (a.grad_elementwise) {
        load_vec<W>(a.grad + i0, g);
      } else {
#pragma unroll
        for (int w = 0; w < W; ++w) g[w] = a.grad[0];
      }
    }
    std::int64_t j = a.pw_stride != 0 ? i0 % a.l : 0;  // pos_weight index of element i0
#pragma unroll
    for (int w = 0; w < W; ++w) {
      const float weight = a.pw != nullptr ? a.pw[j] : 1.0f;
      if (a.pw_stride != 0 && ++j == a.l) j = 0;
      if constexpr (!kBackward) {
        // -[pw t log sigmoid(x) + (1-t) log(1 - sigmoid(x))]
        //   = pw t softplus(-x) + (1-t) softplus(x): two non-negative terms, no cancellation
        const float log_term = log1pf(expf(-fabsf(x[w])));
        const float softplus_neg = fmaxf(-x[w], 0.0f) + log_term;
        const float softplus_pos = fmaxf(x[w], 0.0f) + log_term;
        out[w] = weight * t[w] * softplus_neg + (1.0f - t[w]) * softplus_pos;
      } else {
        // loss = pw t softplus(-x) + (1-t) softplus(x)
        //   -> d loss / dx = (1-t) sigmoid(x) - pw t sigmoid(-x)
        const float e = expf(-fabsf(x[w]));
        const float big = 1.0f / (1.0f + e), small = e / (1.0f + e);  // sigmoid(|x|), sigmoid(-|x|)
        const float sig_pos = x[w] >= 0.0f ? big : small;
        const float sig_neg = x[w] >= 0.0f ? small : big;
        out[w] = g[w] * a.scale * ((1.0f - t[w]) * sig_pos - weight * t[w] * sig_neg);
      }
    }
    store_vec<W>(a.out + i0, out);
  }
}

std::int64_t last_dim(const Tensor& x) { return x.dim() == 0 ? 1 : x.size(-1); }

template <bool kBackward> void launch_bce(const BceArgs& a, std::int64_t n) {
  const bool vec4 = n % 4 == 0 && aligned16(a.x) && aligned16(a.t) && aligned16(a.out) &&
                    (!kBackward || !a.grad_elementwise || aligned16(a.grad));
  cudaStream_t stream = current_stream();
  if (vec4) {
    bce_with_logits_kernel<4, kBackward><<<grid_for(n / 4), kBlock, 0, stream>>>(a, n);
  } else {
    bce_with_logits_kernel<1, kBackward><<<grid_for(n), kBlock, 0, stream>>>(a, n);
  }
  NN_CUDA_CHECK_LAUNCH();
}

BceArgs bce_args(const Tensor& logits, const Tensor& target, const Tensor& pos_weight, float* out) {
  BceArgs a{};
  a.x = logits.data_ptr<float>();
  a.t = target.data_ptr<float>();
  if (pos_weight.defined()) {
    a.pw = pos_weight.data_ptr<float>();
    a.pw_stride = pos_weight.numel() == 1 ? 0 : 1;
  }
  a.l = last_dim(logits);
  a.out = out;
  return a;
}

void bce_with_logits_forward_cuda(const Tensor& logits, const Tensor& target,
                                  const Tensor& pos_weight, Tensor& loss) {
  const std::int64_t n = logits.numel();
  if (n == 0) return;
  launch_bce<false>(bce_args(logits, target, pos_weight, loss.data_ptr<float>()), n);
}

void bce_with_logits_backward_cuda(const Tensor& grad_loss, float scale, const Tensor& logits,
                                   const Tensor& target, const Tensor& pos_weight,
                                   Tensor& grad_logits) {
  const std::int64_t n = logits.numel();
  if (n == 0) return;
  BceArgs a = bce_args(logits, target, pos_weight, grad_logits.data_ptr<float>());
  a.grad = grad_loss.data_ptr<float>();
  a.grad_elementwise = grad_loss.numel() == n;  // with n == 1 both readings agree
  a.scale = scale;
  launch_bce<true>(a, n);
}

}  // namespace

void register_loss_kernels() {
  kernels::cross_entropy_forward.set(DeviceType::CUDA, cross_entropy_forward_cuda);
  kernels::cross_entropy_backward.set(DeviceType::CUDA, cross_entropy_backward_cuda);
  kernels::bce_with_logits_forward.set(DeviceType::CUDA, bce_with_logits_forward_cuda);
  kernels::bce_with_logits_backward.set(DeviceType::CUDA, bce_with_logits_backward_cuda);
}

}  // namespace nn::cuda
