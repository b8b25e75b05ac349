// The CUDA step kernel of nn::LSTMStepper (kernels::lstm_step, src/kernels/lstm.hpp): one
// fused launch per layer and step at small batch, float32 or float16 weights.
//
// A block owns kUnits (2) adjacent hidden units, i.e. 4 * kUnits = 8 gate rows (i, f, g, o of
// each unit), one per warp. A warp streams its row of w_ih against x and its row of w_hh
// against h_prev for up to kMaxRows (4) batch rows at once (each weight load serves every
// row), 32 lanes striding the row with 16-byte loads (4 floats, or 4 halves in 8 bytes,
// converted exactly to float); a butterfly of shuffles adds the lanes (lstm_step_detail's
// row_dot). The pre-activations go through shared memory to one thread per (row, unit), which
// adds the bias and does the cell update as the stepwise kernel of lstm.cu does. So a layer
// is one launch with no grid-wide synchronization, and the weights are read once per step
// (per group of 4 rows). Batches above 4 run in groups of 4 rows, one launch each.
//
// The token loop (nn::LSTMTokenLoop, src/kernels/token_loop.hpp) adds two kernels per token:
// the head (one warp per logit row, the same row_dot) and the sampler (one warp), and keeps
// the previous token, the draw counter and the tokens so far in device memory, so a token
// needs nothing from the host and a CUDA graph of several tokens can be replayed (below).
//
// Precision: products and sums in float32 (half weights are converted exactly), like the CPU
// stepper; the sums run in another order (lanes, then the butterfly), so the results are
// the CPU's up to float32 rounding, not its bits. Deterministic: fixed-order sums, no
// atomics, the same bits every run.
#include <cuda_fp16.h>

#include <array>
#include <memory>
#include <string>

#include "core/philox.hpp"
#include "cuda/common.cuh"
#include "cuda/lstm_step.cuh"
#include "cuda/register.hpp"
#include "kernels/lstm.hpp"
#include "kernels/token_loop.hpp"
#include "libnn/cuda.hpp"

namespace nn::cuda {
namespace lstm_step_detail {

namespace {

// Loads 4 consecutive weights as float.
__device__ __forceinline__ float4 load4(const float* w, std::int64_t k) {
  return __ldg(reinterpret_cast<const float4*>(w + k));
}
__device__ __forceinline__ float4 load4(const __half* w, std::int64_t k) {
  const uint2 raw = __ldg(reinterpret_cast<const uint2*>(w + k));
  const float2 lo = __half22float2(*reinterpret_cast<const __half2*>(&raw.x));
  const float2 hi = __half22float2(*reinterpret_cast<const __half2*>(&raw.y));
  return make_float4(lo.x, lo.y, hi.x, hi.y);
}
__device__ __forceinline__ float load1(const float* w, std::int64_t k) { return __ldg(w + k); }
__device__ __forceinline__ float load1(const __half* w, std::int64_t k) {
  return __half2float(w[k]);
}

// acc[b] += w (K) . v_b (K), v_b = v + b * ldv, over this lane's share of k; the caller adds
// the lanes. vec: K, ldv a multiple of 4 and w, v 16-byte aligned (8 for half weights).
template <int NB, class W>
__device__ __forceinline__ void row_dot(const W* w, std::int64_t K, const float* v,
                                        std::int64_t ldv, bool vec, int lane, float (&acc)[NB]) {
  if (vec) {
#pragma unroll 4
    for (std::int64_t k = 4 * lane; k < K; k += 4 * kWarp) {
      const float4 a = load4(w, k);
#pragma unroll
      for (int b = 0; b < NB; ++b) {
        const float4 x = __ldg(reinterpret_cast<const float4*>(v + b * ldv + k));
        acc[b] = fmaf(a.x, x.x, acc[b]);
        acc[b] = fmaf(a.y, x.y, acc[b]);
        acc[b] = fmaf(a.z, x.z, acc[b]);
        acc[b] = fmaf(a.w, x.w, acc[b]);
      }
    }
  } else {
    for (std::int64_t k = lane; k < K; k += kWarp) {
      const float a = load1(w, k);
#pragma unroll
      for (int b = 0; b < NB; ++b) acc[b] = fmaf(a, __ldg(v + b * ldv + k), acc[b]);
    }
  }
}

__device__ __forceinline__ float sigmoid(float v) { return 1.0f / (1.0f + expf(-v)); }

template <int NB, class W>
__global__ void __launch_bounds__(kStepThreads) lstm_step_kernel(StepArgs p) {
  __shared__ float pre[kMaxRows][4 * kUnits];  // the pre-activations, [row][q * kUnits + u]
  const int warp = static_cast<int>(threadIdx.x) / kWarp,
            lane = static_cast<int>(threadIdx.x) % kWarp;
  const std::int64_t H = p.H, G4 = 4 * H;
  const std::int64_t j0 = static_cast<std::int64_t>(blockIdx.x) * kUnits;
  {
    const int q = warp / kUnits, u = warp % kUnits;
    const std::int64_t j = j0 + u;
    if (j < H) {
      const std::int64_t r = q * H + j;  // the weight row
      float a_ih[NB], a_hh[NB];
#pragma unroll
      for (int b = 0; b < NB; ++b) a_ih[b] = a_hh[b] = 0.0f;
      if (p.x)
        row_dot<NB>(static_cast<const W*>(p.w_ih) + r * p.I, p.I, p.x, p.ldx, p.vec_ih, lane, a_ih);
      row_dot<NB>(static_cast<const W*>(p.w_hh) + r * H, H, p.h_prev, H, p.vec_hh, lane, a_hh);
#pragma unroll
      for (int b = 0; b < NB; ++b) {
        const float s_ih = warp_sum(a_ih[b]), s_hh = warp_sum(a_hh[b]);
        if (lane == 0) {
          // (gx or x w_ih^T) + h_prev w_hh^T, as the CPU stepper adds them.
          float g = 0.0f;
          if (p.tokens) {
            g = p.table[p.tokens[b] * G4 + r];
          } else if (p.gx) {
            g = p.gx[b * G4 + r];
          }
          if (p.x) g += s_ih;
          pre[b][warp] = g + s_hh;
        }
      }
    }
  }
  __syncthreads();
  const int t = static_cast<int>(threadIdx.x);
  if (t < NB * kUnits) {
    const int b = t / kUnits, u = t % kUnits;
    const std::int64_t j = j0 + u;
    if (j < H) {
      float a[4];
#pragma unroll
      for (int q = 0; q < 4; ++q)
        a[q] = pre[b][q * kUnits + u] + (p.bias ? p.bias[q * H + j] : 0.0f);
      const float i = sigmoid(a[0]), f = sigmoid(a[1]), gv = tanhf(a[2]), o = sigmoid(a[3]);
      // c may be c_prev (the token loop updates it in place): this thread alone reads and
      // writes element (b, j).
      const float cc = f * p.c_prev[b * H + j] + i * gv;
      p.c[b * H + j] = cc;
      p.h[b * H + j] = o * tanhf(cc);
    }
  }
}

// logits (K) = head_w (K,H) h + head_b: one warp per row, 8 rows per block.
__global__ void __launch_bounds__(kStepThreads)
    head_kernel(const float* w, const float* bias, const float* h, std::int64_t H, std::int64_t K,
                bool vec, float* logits) {
  const int warp = static_cast<int>(threadIdx.x) / kWarp,
            lane = static_cast<int>(threadIdx.x) % kWarp;
  const std::int64_t r = static_cast<std::int64_t>(blockIdx.x) * (kStepThreads / kWarp) + warp;
  if (r >= K) return;
  float acc[1] = {0.0f};
  row_dot<1>(w + r * H, H, h, H, vec, lane, acc);
  const float s = warp_sum(acc[0]);
  if (lane == 0) logits[r] = s + (bias ? bias[r] : 0.0f);
}

// The token loop's control words (an int64 tensor of 4): the token fed next, the draw
// counter of the next sample, the tokens written to `out` since the host last reset it.
enum Control { kToken = 0, kDraw = 1, kCount = 2, kControlWords = 4 };

// The draw of one token, in one warp: weight(i) >= 0 for i < K (in index order), and the
// token is the first i whose running sum passes `target` (the last i with a nonzero weight
// when rounding leaves none). Lane l takes the l-th run of ceil(K/32) indices; the lanes'
// sums are scanned across the warp in a fixed order, and the first lane whose inclusive sum
// passes the target walks its run again from its exclusive sum. Every lane of the warp calls
// it; the result is returned to every lane.
template <class Weight>
__device__ std::int64_t draw_index(std::int64_t K, double target, const Weight& weight) {
  constexpr unsigned kAll = 0xffffffffu;
  const int lane = static_cast<int>(threadIdx.x) % kWarp;
  const std::int64_t run = (K + kWarp - 1) / kWarp;
  const std::int64_t i0 = min(K, lane * run), i1 = min(K, i0 + run);
  double sum = 0;
  for (std::int64_t i = i0; i < i1; ++i) sum += weight(i);
  double inclusive = sum;
#pragma unroll
  for (int offset = 1; offset < kWarp; offset *= 2) {
    const double v = __shfl_up_sync(kAll, inclusive, offset);
    if (lane >= offset) inclusive += v;
  }
  double exclusive = __shfl_up_sync(kAll, inclusive, 1);
  if (lane == 0) exclusive = 0;
  const unsigned crossing = __ballot_sync(kAll, target < inclusive);
  const unsigned nonzero = __ballot_sync(kAll, sum > 0);
  // With no crossing (rounding), the last lane with a nonzero weight (one has: the most
  // likely token's).
  const int walker =
      crossing ? __ffs(static_cast<int>(crossing)) - 1 : 31 - __clz(static_cast<int>(nonzero));
  std::int64_t token = -1;
  if (lane == walker) {
    double cumulative = exclusive;
    std::int64_t last_nonzero = i0;
    for (std::int64_t i = i0; i < i1; ++i) {
      const double w = weight(i);
      if (w == 0) continue;
      cumulative += w;
      last_nonzero = i;
      if (crossing && target < cumulative) {
        token = i;
        break;
      }
    }
    if (token < 0) token = last_nonzero;
  }
  return __shfl_sync(kAll, token, walker);
}

// Writes `token` as the loop's next input and its output, and advances the counters.
__device__ void record(std::int64_t token, std::uint64_t draw, std::int64_t* ctrl,
                       std::int64_t* out) {
  const std::int64_t count = ctrl[kCount];
  ctrl[kToken] = token;
  out[count] = token;
  ctrl[kCount] = count + 1;
  ctrl[kDraw] = static_cast<std::int64_t>(draw + 1);
}

// One token from logits (K) by src/kernels/token_loop.hpp's rule without top-k / top-p, in
// one warp: max, then draw_index over exp((logit_i - max) / T) with target u * total.
__global__ void sample_kernel(const float* logits, std::int64_t K, double temperature,
                              std::uint64_t seed, std::int64_t* ctrl, std::int64_t* out) {
  constexpr unsigned kAll = 0xffffffffu;
  const int lane = static_cast<int>(threadIdx.x);
  float m = -INFINITY;
  for (std::int64_t i = lane; i < K; i += kWarp) m = fmaxf(m, logits[i]);
  const double max = warp_max(m);
  const auto weight = [&](std::int64_t i) {
    return exp((static_cast<double>(logits[i]) - max) / temperature);
  };
  double part = 0;
  for (std::int64_t i = lane; i < K; i += kWarp) part += weight(i);
  const double total = warp_sum(part);
  const auto draw = static_cast<std::uint64_t>(ctrl[kDraw]);
  const double u = philox::uniform53(philox::philox4x32_10(seed, draw, 0));
  const std::int64_t token = draw_index(K, u * total, weight);
  __syncwarp(kAll);
  if (lane == 0) record(token, draw, ctrl, out);
}

// The rule with top-k / top-p, in one block of kSortThreads for K <= kMaxSortK: p_i
// normalized (block sums in a fixed order), the (p_i, i) pairs sorted by decreasing p, ties by
// index (a bitonic sort in shared memory over the next power of two, padded with p = -1),
// then thread 0 finds how many to keep and their mass in sorted order as the host does, and
// warp 0 draws over q_i = p_i / mass for the kept.
// kMaxSortK is nn::LSTMTokenLoop::kMaxFilteredVocab (libnn/modules/lstm_stepper.hpp).
constexpr int kSortThreads = 256, kMaxSortK = 2048;

__global__ void __launch_bounds__(kSortThreads)
    sample_top_kernel(const float* logits, std::int64_t K_, double temperature, std::int64_t top_k,
                      double top_p, std::uint64_t seed, std::int64_t* ctrl, std::int64_t* out) {
  __shared__ double key[kMaxSortK];
  __shared__ int index[kMaxSortK];
  __shared__ unsigned char kept[kMaxSortK];
  __shared__ double scratch[kWarp];
  __shared__ double kept_mass;
  __shared__ int keep_count;
  const int K = static_cast<int>(K_), t = static_cast<int>(threadIdx.x);
  int N = 1;
  while (N < K) N <<= 1;
  float m = -INFINITY;
  for (int i = t; i < K; i += kSortThreads) m = fmaxf(m, logits[i]);
  const double max = block_max(m, reinterpret_cast<float*>(scratch), -INFINITY);
  double part = 0;
  for (int i = t; i < K; i += kSortThreads)
    part += exp((static_cast<double>(logits[i]) - max) / temperature);
  const double total = block_sum(part, scratch);
  const auto p = [&](int i) {
    return exp((static_cast<double>(logits[i]) - max) / temperature) / total;
  };
  for (int i = t; i < N; i += kSortThreads) {
    key[i] = i < K ? p(i) : -1.0;
    index[i] = i;
    kept[i] = 0;
  }
  __syncthreads();
  for (int size = 2; size <= N; size <<= 1) {
    for (int stride = size / 2; stride > 0; stride >>= 1) {
      for (int i = t; i < N; i += kSortThreads) {
        const int j = i ^ stride;
        if (j > i) {
          const bool j_first = key[j] > key[i] || (key[j] == key[i] && index[j] < index[i]);
          if (((i & size) == 0) == j_first) {
            const double kv = key[i];
            key[i] = key[j];
            key[j] = kv;
            const int iv = index[i];
            index[i] = index[j];
            index[j] = iv;
          }
        }
      }
      __syncthreads();
    }
  }
  if (t == 0) {
    int keep = K;
    if (top_k > 0 && top_k < keep) keep = static_cast<int>(top_k);
    if (top_p < 1) {
      double mass = 0;
      int n = 0;
      while (n < keep) {
        mass += key[n];
        ++n;
        if (mass >= top_p) break;
      }
      keep = n;
    }
    double mass = 0;
    for (int r = 0; r < keep; ++r) mass += key[r];
    kept_mass = mass;
    keep_count = keep;
  }
  __syncthreads();
  for (int r = t; r < keep_count; r += kSortThreads) kept[index[r]] = 1;
  __syncthreads();
  if (t >= kWarp) return;
  const auto draw = static_cast<std::uint64_t>(ctrl[kDraw]);
  const double u = philox::uniform53(philox::philox4x32_10(seed, draw, 0));
  const double mass = kept_mass;
  const std::int64_t token = draw_index(
      K_, u, [&](std::int64_t i) { return kept[i] ? p(static_cast<int>(i)) / mass : 0.0; });
  __syncwarp();
  if (t == 0) record(token, draw, ctrl, out);
}

template <class W>
void launch_rows(const StepArgs& p, int nb) {
  const auto blocks = static_cast<unsigned>((p.H + kUnits - 1) / kUnits);
  switch (nb) {
    case 1:
      lstm_step_kernel<1, W><<<blocks, kStepThreads, 0, current_stream()>>>(p);
      break;
    case 2:
      lstm_step_kernel<2, W><<<blocks, kStepThreads, 0, current_stream()>>>(p);
      break;
    case 3:
      lstm_step_kernel<3, W><<<blocks, kStepThreads, 0, current_stream()>>>(p);
      break;
    default:
      lstm_step_kernel<4, W><<<blocks, kStepThreads, 0, current_stream()>>>(p);
      break;
  }
  NN_CUDA_CHECK_LAUNCH();
}

bool aligned(const void* p, std::size_t bytes) {
  return reinterpret_cast<std::uintptr_t>(p) % bytes == 0;
}

}  // namespace

bool can_vectorize(const void* w, bool half, std::int64_t K, const float* v, std::int64_t ldv) {
  return K % 4 == 0 && ldv % 4 == 0 && aligned(w, half ? 8 : 16) && aligned(v, 16);
}

void launch_step(StepArgs p, bool half, std::int64_t B) {
  if (B == 0 || p.H == 0) return;
  // Each group of rows starts its vectors 16-byte aligned only if ld * rows keeps it so:
  // can_vectorize looks at the first group's pointers and the leading dimensions.
  for (std::int64_t b0 = 0; b0 < B; b0 += kMaxRows) {
    StepArgs q = p;
    const int nb = static_cast<int>(B - b0 < kMaxRows ? B - b0 : kMaxRows);
    if (q.x) q.x += b0 * p.ldx;
    if (q.gx) q.gx += b0 * 4 * p.H;
    if (q.tokens) q.tokens += b0;
    q.h_prev += b0 * p.H;
    q.c_prev += b0 * p.H;
    q.h += b0 * p.H;
    q.c += b0 * p.H;
    if (half) {
      launch_rows<__half>(q, nb);
    } else {
      launch_rows<float>(q, nb);
    }
  }
}

}  // namespace lstm_step_detail

namespace {

using lstm_step_detail::StepArgs;

// The CUDA token loop. Buffers, all allocated here (never while a graph is captured): two
// (L,H) h buffers that take turns (a layer reads all of h_prev while its blocks write h;
// token t reads buffer t % 2 and writes the other), c (updated in place: each element is
// read and written by one thread), the logits, the control words and up to kOut tokens.
// A graph holds these pointers, so it stays valid for the loop's life; it is captured with
// an even number of tokens, so it starts and ends on buffer 0.
class CudaTokenLoop final : public kernels::TokenLoopBackend {
 public:
  static constexpr std::int64_t kOut = 4096;  // tokens per trip back to the host

  explicit CudaTokenLoop(const kernels::TokenLoopSpec& spec)
      : spec_(spec),
        device_(spec.table.device()),
        L_(static_cast<std::int64_t>(spec.w_hh.size())),
        H_(spec.hidden_size),
        K_(spec.head_weight.size(0)),
        half_(spec.w_hh[0].dtype() == DType::Float16) {
    NN_CHECK((spec.top_k == 0 && spec.top_p >= 1) || K_ <= lstm_step_detail::kMaxSortK,
             "LSTMTokenLoop: top-k / top-p on CUDA take at most {} logits, got {}",
             lstm_step_detail::kMaxSortK, K_);
    const TensorOptions f32 = TensorOptions().device(device_);
    const TensorOptions i64 = TensorOptions(DType::Int64).device(device_);
    h_[0] = empty({L_, H_}, f32);
    h_[1] = empty({L_, H_}, f32);
    c_ = empty({L_, H_}, f32);
    logits_ = empty({K_}, f32);
    ctrl_ = zeros({lstm_step_detail::kControlWords}, i64);
    out_ = empty({kOut}, i64);
  }

  ~CudaTokenLoop() override {
    // No throw from a destructor: errors ignored.
    if (exec_) cudaGraphExecDestroy(exec_);
    if (capture_stream_) cudaStreamDestroy(capture_stream_);
  }

  void generate(std::int64_t token, Tensor& h, Tensor& c, std::int64_t n, std::uint64_t first_draw,
                std::int64_t* out) override {
    activate(device_);
    const std::size_t state_bytes = sizeof(float) * static_cast<std::size_t>(L_ * H_);
    cudaStream_t stream = current_stream();
    NN_CUDA_CHECK(cudaMemcpyAsync(h_[0].data_ptr<float>(), h.data_ptr<float>(), state_bytes,
                                  cudaMemcpyDeviceToDevice, stream));
    NN_CUDA_CHECK(cudaMemcpyAsync(c_.data_ptr<float>(), c.data_ptr<float>(), state_bytes,
                                  cudaMemcpyDeviceToDevice, stream));
    const std::array<std::int64_t, lstm_step_detail::kControlWords> control{
        token, static_cast<std::int64_t>(first_draw), 0, 0};
    // From pageable memory: the call returns once `control` has been read.
    NN_CUDA_CHECK(cudaMemcpyAsync(ctrl_.data_ptr<std::int64_t>(), control.data(), sizeof control,
                                  cudaMemcpyHostToDevice, stream));
    const std::int64_t G = spec_.graph_tokens;
    if (G > 0 && !graph_tried_ && n >= G) capture(G);
    int parity = 0;
    std::int64_t graphs = 0;
    for (std::int64_t done = 0; done < n;) {
      const std::int64_t m = std::min(kOut, n - done);
      if (done > 0) {
        NN_CUDA_CHECK(cudaMemsetAsync(ctrl_.data_ptr<std::int64_t>() + lstm_step_detail::kCount, 0,
                                      sizeof(std::int64_t), current_stream()));
      }
      std::int64_t t = 0;
      // The graph starts from buffer 0 (and, G being even, ends there): only at parity 0.
      if (exec_ && parity == 0) {
        for (; t + G <= m; t += G, ++graphs)
          NN_CUDA_CHECK(cudaGraphLaunch(exec_, current_stream()));
      }
      for (; t < m; ++t, parity ^= 1) token_step(parity);
      copy_to_host(out + done, out_.data_ptr<std::int64_t>(),
                   sizeof(std::int64_t) * static_cast<std::size_t>(m));
      done += m;
    }
    NN_CUDA_CHECK(cudaMemcpyAsync(h.data_ptr<float>(), h_[parity].data_ptr<float>(), state_bytes,
                                  cudaMemcpyDeviceToDevice, current_stream()));
    NN_CUDA_CHECK(cudaMemcpyAsync(c.data_ptr<float>(), c_.data_ptr<float>(), state_bytes,
                                  cudaMemcpyDeviceToDevice, current_stream()));
    if (graphs > 0) {
      how_ = "graph of " + std::to_string(G) + " tokens";
    } else if (!graph_error_.empty()) {
      how_ = "eager (the graph failed: " + graph_error_ + ")";
    } else {
      how_ = "eager";
    }
  }

  std::string how() const override { return how_; }

 private:
  // One token's kernels: the layers (layer 0 from the table row of ctrl[kToken]), the head,
  // the sampler. Reads h buffer `parity`, writes the other.
  void token_step(int parity) {
    float* h_prev = h_[parity].data_ptr<float>();
    float* h_next = h_[parity ^ 1].data_ptr<float>();
    float* c = c_.data_ptr<float>();
    for (std::int64_t k = 0; k < L_; ++k) {
      const auto kk = static_cast<std::size_t>(k);
      StepArgs p;
      p.H = H_;
      if (k == 0) {
        p.tokens = ctrl_.data_ptr<std::int64_t>() + lstm_step_detail::kToken;
        p.table = spec_.table.data_ptr<float>();
      } else {
        p.x = h_next + (k - 1) * H_;
        p.I = p.ldx = H_;
        p.w_ih = spec_.w_ih[kk].raw_data();
        p.vec_ih = lstm_step_detail::can_vectorize(p.w_ih, half_, H_, p.x, H_);
      }
      p.w_hh = spec_.w_hh[kk].raw_data();
      p.h_prev = h_prev + k * H_;
      p.vec_hh = lstm_step_detail::can_vectorize(p.w_hh, half_, H_, p.h_prev, H_);
      p.c_prev = c + k * H_;
      p.c = c + k * H_;
      p.bias = spec_.bias[kk].defined() ? spec_.bias[kk].data_ptr<float>() : nullptr;
      p.h = h_next + k * H_;
      lstm_step_detail::launch_step(p, half_, 1);
    }
    const float* h_last = h_next + (L_ - 1) * H_;
    const float* w = spec_.head_weight.data_ptr<float>();
    const bool vec = lstm_step_detail::can_vectorize(w, false, H_, h_last, H_);
    constexpr int kRowsPerBlock = lstm_step_detail::kStepThreads / kWarp;
    const auto blocks = static_cast<unsigned>((K_ + kRowsPerBlock - 1) / kRowsPerBlock);
    lstm_step_detail::head_kernel<<<blocks, lstm_step_detail::kStepThreads, 0, current_stream()>>>(
        w, spec_.head_bias.defined() ? spec_.head_bias.data_ptr<float>() : nullptr, h_last, H_, K_,
        vec, logits_.data_ptr<float>());
    NN_CUDA_CHECK_LAUNCH();
    if (spec_.top_k == 0 && spec_.top_p >= 1) {
      lstm_step_detail::sample_kernel<<<1, kWarp, 0, current_stream()>>>(
          logits_.data_ptr<float>(), K_, spec_.temperature, spec_.seed,
          ctrl_.data_ptr<std::int64_t>(), out_.data_ptr<std::int64_t>());
    } else {
      lstm_step_detail::
          sample_top_kernel<<<1, lstm_step_detail::kSortThreads, 0, current_stream()>>>(
              logits_.data_ptr<float>(), K_, spec_.temperature, spec_.top_k, spec_.top_p,
              spec_.seed, ctrl_.data_ptr<std::int64_t>(), out_.data_ptr<std::int64_t>());
    }
    NN_CUDA_CHECK_LAUNCH();
  }

  // Records G tokens (G even) of token_step into a graph, on a stream of the loop's own: a
  // capture takes in whatever any thread queues on the captured stream, so it must not be
  // libnn's shared one (another thread generating on the same GPU would land in this graph).
  // The capture waits for the current stream first (the buffers' setup). Nothing is
  // allocated or copied to the host meanwhile (every buffer exists), which is what capture
  // needs. A failure leaves the loop eager and says why in how().
  void capture(std::int64_t G) {
    graph_tried_ = true;
    cudaError_t status = cudaSuccess;
    if (!capture_stream_) {
      status = cudaStreamCreateWithFlags(&capture_stream_, cudaStreamNonBlocking);
      if (status != cudaSuccess) {
        capture_stream_ = nullptr;
        graph_error_ = std::string("cudaStreamCreateWithFlags: ") + cudaGetErrorString(status);
        cudaGetLastError();
        return;
      }
    }
    NN_CUDA_CHECK(cudaStreamSynchronize(current_stream()));
    const StreamGuard guard(capture_stream_, device_.index);
    cudaStream_t stream = capture_stream_;
    status = cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal);
    if (status != cudaSuccess) {
      graph_error_ = std::string("cudaStreamBeginCapture: ") + cudaGetErrorString(status);
      cudaGetLastError();
      return;
    }
    std::string launch_error;
    try {
      for (std::int64_t t = 0; t < G; ++t) token_step(static_cast<int>(t % 2));
    } catch (const std::exception& e) {
      launch_error = e.what();
    }
    cudaGraph_t graph = nullptr;
    status = cudaStreamEndCapture(stream, &graph);
    if (launch_error.empty() && status == cudaSuccess) {
      status = cudaGraphInstantiate(&exec_, graph, 0);
      if (status != cudaSuccess) {
        exec_ = nullptr;
        graph_error_ = std::string("cudaGraphInstantiate: ") + cudaGetErrorString(status);
      }
    } else {
      graph_error_ = !launch_error.empty()
                         ? "a launch during capture: " + launch_error
                         : std::string("cudaStreamEndCapture: ") + cudaGetErrorString(status);
    }
    if (graph) cudaGraphDestroy(graph);
    cudaGetLastError();  // a failed capture leaves its error behind: the eager path goes on
  }

  kernels::TokenLoopSpec spec_;
  Device device_;
  std::int64_t L_, H_, K_;
  bool half_;
  Tensor h_[2], c_, logits_, ctrl_, out_;
  cudaGraphExec_t exec_ = nullptr;
  cudaStream_t capture_stream_ = nullptr;
  bool graph_tried_ = false;
  std::string graph_error_, how_;
};

std::unique_ptr<kernels::TokenLoopBackend> make_token_loop_cuda(
    const kernels::TokenLoopSpec& spec) {
  return std::make_unique<CudaTokenLoop>(spec);
}

// kernels::lstm_step on CUDA: the table's contract (src/kernels/lstm.hpp).
void lstm_step_cuda(const Tensor& x, const Tensor& gx, const Tensor& w_ih, const Tensor& w_hh,
                    const Tensor& bias, const Tensor& h_prev, const Tensor& c_prev, Tensor& h,
                    Tensor& c) {
  const std::int64_t B = h_prev.size(0), H = w_hh.size(1);
  if (B == 0 || H == 0) return;
  const bool half = w_hh.dtype() == DType::Float16;
  StepArgs p;
  p.H = H;
  if (!gx.defined()) {
    p.x = x.data_ptr<float>();
    p.I = x.size(1);
    p.ldx = p.I;
    p.w_ih = w_ih.raw_data();
    p.vec_ih = lstm_step_detail::can_vectorize(p.w_ih, half, p.I, p.x, p.ldx);
  } else {
    p.gx = gx.data_ptr<float>();
  }
  p.w_hh = w_hh.raw_data();
  p.h_prev = h_prev.data_ptr<float>();
  p.vec_hh = lstm_step_detail::can_vectorize(p.w_hh, half, H, p.h_prev, H);
  p.c_prev = c_prev.data_ptr<float>();
  p.bias = bias.defined() ? bias.data_ptr<float>() : nullptr;
  p.h = h.data_ptr<float>();
  p.c = c.data_ptr<float>();
  lstm_step_detail::launch_step(p, half, B);
}

}  // namespace

void register_lstm_step_kernels() {
  kernels::lstm_step.set(DeviceType::CUDA, lstm_step_cuda);
  kernels::make_token_loop.set(DeviceType::CUDA, make_token_loop_cuda);
}

}  // namespace nn::cuda
