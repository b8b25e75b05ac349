// CUDA reductions over one dimension (src/kernels/reduce.hpp): the GPU side of
// cpu/reduce.cpp. x is viewed as (outer, R, inner).
//
// Deterministic: no atomics; every output is combined in an order fixed by the shapes alone
// (not by timing, nor by the GPU's size), so the same inputs give the same bits every run.
// The work is split so that the GPU is full whatever the shape:
//   - inner == 1, rows of R contiguous values: a thread per short row, a warp per row
//     (R <= 1024), a block per row, or -- for few long rows (the loss sums 100M items as
//     one row) -- a block per fixed segment of a row, writing partial results.
//   - inner > 1: a thread per output walking r in order, coalesced across inner: the CPU's
//     loop, and for the sum the CPU's float additions in the CPU's order, so the same bits.
//     When there are too few outputs to fill the GPU that way (a bias gradient sums a big
//     batch into a few columns), each output gets `lanes` threads, lane c taking rows c,
//     c + lanes, ... -- still coalesced, neighbouring threads reading neighbouring addresses
//     -- each writing a partial result.
// Partial results (outer, lanes, inner) are combined the same way, lanes ascending, until one
// per output is left. Where inner is a multiple of 4 a thread takes 4 neighbouring columns
// (float4 loads); where rows are 16-byte aligned a block reads float4s of them.
//
// Sums accumulate in double except on that CPU-matching path (the CPU accumulates rows in
// double, columns in float); max carries (value, index) pairs through a combine that keeps
// the CPU's answer whatever the grouping: NaN beats everything, then larger values, and among
// equals the first index.
#include <cmath>
#include <limits>
#include <type_traits>

#include "cuda/common.cuh"
#include "cuda/register.hpp"
#include "kernels/reduce.hpp"

namespace nn::cuda {
namespace {

constexpr std::int64_t kSerialRow = 32;     // rows up to this long: a thread per row
constexpr std::int64_t kWarpRow = 1024;     // ... up to this long: a warp per row
constexpr std::int64_t kManyRows = 256;     // this many rows fill the GPU a block per row
constexpr std::int64_t kMinSegment = 4096;  // values a block reduces at least, when splitting
constexpr std::int64_t kMaxBlocks = 2048;   // blocks to aim for when splitting rows
constexpr std::int64_t kTargetThreads = 1 << 18;  // about what an H100 / H200 holds at once
constexpr std::int64_t kMinPerLane = 16;    // rows a lane walks at least, when splitting
constexpr std::int64_t kSerialCombine = 64;  // partials a thread combines alone
constexpr std::int64_t kWarpCombine = 2048;  // ... a warp; more go through another pass

std::int64_t ceil_div(std::int64_t a, std::int64_t b) { return (a + b - 1) / b; }
bool aligned16(const void* p) { return reinterpret_cast<std::uintptr_t>(p) % 16 == 0; }

// --- what is reduced ---------------------------------------------------------------------
// A policy: the accumulator, its identity, take (add value x[.., k, ..]; k ascends within a
// thread) and combine (two accumulators of disjoint ranges, in any grouping).

struct SumPolicy {
  using Acc = double;
  __device__ static Acc identity() { return 0.0; }
  __device__ static Acc take(Acc acc, float v, std::int64_t) { return acc + static_cast<double>(v); }
  __device__ static Acc combine(Acc a, Acc b) { return a + b; }
  __device__ static Acc shuffle_xor(Acc a, int mask) { return __shfl_xor_sync(0xffffffffu, a, mask); }
};

// The CPU's column sum: float additions, r ascending. Only for a thread per output, which
// combines nothing (hence no combine).
struct FloatSumPolicy {
  using Acc = float;
  __device__ static Acc identity() { return 0.0f; }
  __device__ static Acc take(Acc acc, float v, std::int64_t) { return acc + v; }
};

struct MaxAcc {
  float value;
  std::int64_t index;
};
struct MaxPolicy {
  using Acc = MaxAcc;
  static constexpr std::int64_t kNone = std::numeric_limits<std::int64_t>::max();
  // No element yet; loses to any (to -inf by its index).
  __device__ static Acc identity() { return {-INFINITY, kNone}; }
  __device__ static Acc combine(Acc a, Acc b) {
    const bool a_nan = a.value != a.value, b_nan = b.value != b.value;
    if (a_nan != b_nan) return a_nan ? a : b;
    if (!a_nan && a.value != b.value) return a.value > b.value ? a : b;
    return a.index <= b.index ? a : b;  // equal (or both NaN): the first
  }
  // k is above every index in acc: the CPU's `if (v > best || (v != v && best == best))`.
  __device__ static Acc take(Acc acc, float v, std::int64_t k) {
    if (acc.index == kNone || v > acc.value || (v != v && acc.value == acc.value)) return {v, k};
    return acc;
  }
  __device__ static Acc shuffle_xor(Acc a, int mask) {
    return {__shfl_xor_sync(0xffffffffu, a.value, mask),
            static_cast<std::int64_t>(
                __shfl_xor_sync(0xffffffffu, static_cast<long long>(a.index), mask))};
  }
};

// Where a finished accumulator goes: output j (flat over (outer, inner)) or partial j.
template <class Acc> struct SumOut {
  float* out;
  __device__ void operator()(std::int64_t j, Acc acc) const { out[j] = static_cast<float>(acc); }
};
struct MaxOut {
  float* values;
  std::int64_t* indices;
  __device__ void operator()(std::int64_t j, MaxAcc acc) const {
    values[j] = acc.value;
    indices[j] = acc.index;
  }
};
template <class Acc> struct PartialOut {
  Acc* partial;
  __device__ void operator()(std::int64_t j, Acc acc) const { partial[j] = acc; }
};

// Butterfly over the warp: a fixed order (and every lane ends with the same value, the
// combines being commutative).
template <class P> __device__ typename P::Acc warp_reduce(typename P::Acc acc) {
#pragma unroll
  for (int offset = kWarp / 2; offset > 0; offset /= 2) acc = P::combine(acc, P::shuffle_xor(acc, offset));
  return acc;
}

// The block's result, in thread 0; ends synchronized so `scratch` can be reused at once.
template <class P> __device__ typename P::Acc block_reduce(typename P::Acc acc, typename P::Acc* scratch) {
  const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp;
  acc = warp_reduce<P>(acc);
  if (lane == 0) scratch[warp] = acc;
  __syncthreads();
  if (warp == 0) {
    acc = lane < static_cast<int>(blockDim.x / kWarp) ? scratch[lane] : P::identity();
    acc = warp_reduce<P>(acc);
  }
  __syncthreads();
  return acc;
}

// --- kernels -----------------------------------------------------------------------------

// Thread t = (o, c, g) over (outer, lanes, inner / kVec) reduces x[o, k, g*kVec + l] for
// k = c, c + lanes, ... and l < kVec, and writes results t*kVec + l -- output (o, i) when
// lanes == 1, partial (o, c, i) otherwise. kVec = 4 needs inner % 4 == 0 and x aligned.
template <class P, int kVec, class Out>
__global__ void columns_kernel(const float* x, std::int64_t outer, std::int64_t r,
                               std::int64_t inner, std::int64_t lanes, Out out) {
  const std::int64_t groups = inner / kVec;
  const std::int64_t span = lanes * groups;
  const std::int64_t step = lanes * inner;  // between a thread's rows
  NN_CUDA_KERNEL_LOOP(t, outer * span) {
    const std::int64_t o = t / span, f = t - o * span, c = f / groups, g = f - c * groups;
    const float* src = x + (o * r + c) * inner + g * kVec;
    typename P::Acc acc[kVec];
#pragma unroll
    for (int l = 0; l < kVec; ++l) acc[l] = P::identity();
    std::int64_t offset = 0;
#pragma unroll 4
    for (std::int64_t k = c; k < r; k += lanes, offset += step) {
      if constexpr (kVec == 4) {
        const float4 v = *reinterpret_cast<const float4*>(src + offset);
        acc[0] = P::take(acc[0], v.x, k);
        acc[1] = P::take(acc[1], v.y, k);
        acc[2] = P::take(acc[2], v.z, k);
        acc[3] = P::take(acc[3], v.w, k);
      } else {
        acc[0] = P::take(acc[0], src[offset], k);
      }
    }
#pragma unroll
    for (int l = 0; l < kVec; ++l) out(t * kVec + l, acc[l]);
  }
}

// The CPU's sum of a short contiguous row, a thread per row, to the bit: 8 double lanes,
// the leftover values, then the lanes in order.
__global__ void sum_short_rows_kernel(const float* x, float* out, std::int64_t outer,
                                      std::int64_t r) {
  NN_CUDA_KERNEL_LOOP(o, outer) {
    const float* src = x + o * r;
    double lanes[8] = {};
    std::int64_t k = 0;
    for (; k + 8 <= r; k += 8) {
#pragma unroll
      for (int l = 0; l < 8; ++l) lanes[l] += src[k + l];
    }
    double total = 0.0;
    for (; k < r; ++k) total += src[k];
#pragma unroll
    for (int l = 0; l < 8; ++l) total += lanes[l];
    out[o] = static_cast<float>(total);
  }
}

// A warp per row (inner == 1): lane l takes k = l, l + 32, ...
template <class P, class Out>
__global__ void row_warps_kernel(const float* x, std::int64_t outer, std::int64_t r, Out out) {
  const std::int64_t first = (static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / kWarp;
  const std::int64_t warps = static_cast<std::int64_t>(blockDim.x) * gridDim.x / kWarp;
  const int lane = threadIdx.x % kWarp;
  for (std::int64_t o = first; o < outer; o += warps) {  // the same o across the warp
    const float* row = x + o * r;
    typename P::Acc acc = P::identity();
#pragma unroll 4
    for (std::int64_t k = lane; k < r; k += kWarp) acc = P::take(acc, row[k], k);
    acc = warp_reduce<P>(acc);
    if (lane == 0) out(o, acc);
  }
}

// A block per segment (inner == 1): block b = (o, c) reduces x[o, c*segment, (c+1)*segment)
// and writes result b (output o when there is one segment per row). With kVec4 the segments
// start 16-byte aligned and are read as float4s, the last n % 4 values singly.
template <class P, bool kVec4, class Out>
__global__ void row_segments_kernel(const float* x, std::int64_t r, std::int64_t segments,
                                    std::int64_t segment, std::int64_t total, Out out) {
  __shared__ typename P::Acc scratch[kWarp];
  const std::int64_t step = blockDim.x;
  for (std::int64_t b = blockIdx.x; b < total; b += gridDim.x) {  // uniform across the block
    const std::int64_t o = b / segments, c = b - o * segments;
    const float* row = x + o * r;
    const std::int64_t begin = c * segment, end = std::min(r, begin + segment);
    typename P::Acc acc = P::identity();
    std::int64_t k = begin + threadIdx.x;
    if constexpr (kVec4) {
      // Thread t takes quads t, t + step, ...: values 4j .. 4j+3 in ascending order.
      const auto* quads = reinterpret_cast<const float4*>(row + begin);
      const std::int64_t count = (end - begin) / 4;
      std::int64_t j = threadIdx.x;
      for (; j + step < count; j += 2 * step) {  // two loads in flight
        const float4 a = quads[j], b4 = quads[j + step];
        const std::int64_t ka = begin + 4 * j, kb = begin + 4 * (j + step);
        acc = P::take(acc, a.x, ka);
        acc = P::take(acc, a.y, ka + 1);
        acc = P::take(acc, a.z, ka + 2);
        acc = P::take(acc, a.w, ka + 3);
        acc = P::take(acc, b4.x, kb);
        acc = P::take(acc, b4.y, kb + 1);
        acc = P::take(acc, b4.z, kb + 2);
        acc = P::take(acc, b4.w, kb + 3);
      }
      if (j < count) {
        const float4 a = quads[j];
        const std::int64_t ka = begin + 4 * j;
        acc = P::take(acc, a.x, ka);
        acc = P::take(acc, a.y, ka + 1);
        acc = P::take(acc, a.z, ka + 2);
        acc = P::take(acc, a.w, ka + 3);
      }
      k = begin + 4 * count + threadIdx.x;  // at most 3 left
    } else {
      // Four loads in flight per thread, then taken in ascending k.
      for (; k + 3 * step < end; k += 4 * step) {
        const float v0 = row[k], v1 = row[k + step], v2 = row[k + 2 * step], v3 = row[k + 3 * step];
        acc = P::take(acc, v0, k);
        acc = P::take(acc, v1, k + step);
        acc = P::take(acc, v2, k + 2 * step);
        acc = P::take(acc, v3, k + 3 * step);
      }
    }
    for (; k < end; k += step) acc = P::take(acc, row[k], k);
    acc = block_reduce<P>(acc, scratch);
    if (threadIdx.x == 0) out(b, acc);
  }
}

// Partials (outer, lanes, inner) -> (outer, next, inner): thread t = (o, c2, i) combines
// partial[o, c, i] for c = c2, c2 + next, ... and writes result t (output (o, i) when
// next == 1). Coalesced across (c2, i), as the columns kernel.
template <class P, class Out>
__global__ void combine_columns_kernel(const typename P::Acc* partial, std::int64_t outer,
                                       std::int64_t lanes, std::int64_t inner, std::int64_t next,
                                       Out out) {
  const std::int64_t span = next * inner;
  NN_CUDA_KERNEL_LOOP(t, outer * span) {
    const std::int64_t o = t / span, f = t - o * span;
    const typename P::Acc* p = partial + o * lanes * inner + f;
    typename P::Acc acc = P::identity();
    std::int64_t offset = 0;
    for (std::int64_t c = f / inner; c < lanes; c += next, offset += span) acc = P::combine(acc, p[offset]);
    out(t, acc);
  }
}

// A warp per output (o, i): lane l combines partial[o, c, i] for c = l, l + 32, ...
template <class P, class Out>
__global__ void combine_warps_kernel(const typename P::Acc* partial, std::int64_t outer,
                                     std::int64_t lanes, std::int64_t inner, Out out) {
  const std::int64_t first = (static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / kWarp;
  const std::int64_t warps = static_cast<std::int64_t>(blockDim.x) * gridDim.x / kWarp;
  const int lane = threadIdx.x % kWarp;
  for (std::int64_t t = first; t < outer * inner; t += warps) {
    const std::int64_t o = t / inner, i = t - o * inner;
    const typename P::Acc* p = partial + o * lanes * inner + i;
    typename P::Acc acc = P::identity();
    for (std::int64_t c = lane; c < lanes; c += kWarp) acc = P::combine(acc, p[c * inner]);
    acc = warp_reduce<P>(acc);
    if (lane == 0) out(t, acc);
  }
}

__global__ void max_backward_kernel(const float* gy, const std::int64_t* indices, float* gx,
                                    std::int64_t outer, std::int64_t r, std::int64_t inner) {
  NN_CUDA_KERNEL_LOOP(t, outer * inner) {
    const std::int64_t o = t / inner, i = t - o * inner, k = indices[t];
    if (k >= 0 && k < r) gx[(o * r + k) * inner + i] = gy[t];
  }
}

// --- launchers -----------------------------------------------------------------------------

// Device memory for `count` partial results, alive while the launcher runs (the allocator
// hands a freed block out again only to work queued after ours on this stream).
template <class Acc> struct Partials {
  Tensor storage;
  Acc* data;
};
template <class Acc> Partials<Acc> partials_for(std::int64_t count, Device device) {
  const auto words = ceil_div(count * static_cast<std::int64_t>(sizeof(Acc)), 8);
  Tensor storage = empty({words}, TensorOptions().dtype(DType::Int64).device(device));
  return {storage, static_cast<Acc*>(storage.raw_data())};
}

unsigned warp_grid(std::int64_t warps) { return grid_for(warps * kWarp); }
unsigned block_grid(std::int64_t blocks) {
  return static_cast<unsigned>(std::clamp<std::int64_t>(blocks, 1, INT32_MAX));
}

// Combines partials (outer, lanes, inner) into out: a thread per output, a warp per output
// when inner == 1 (a warp then reads contiguous partials), or first a pass down to lanes / 32
// partials per output.
template <class P, class Out>
void launch_combine(const typename P::Acc* partial, std::int64_t outer, std::int64_t lanes,
                    std::int64_t inner, Device device, Out out) {
  using Acc = typename P::Acc;
  cudaStream_t stream = current_stream();
  const std::int64_t outputs = outer * inner;
  if (lanes <= kSerialCombine) {
    combine_columns_kernel<P><<<grid_for(outputs), kBlock, 0, stream>>>(partial, outer, lanes, inner, 1, out);
  } else if (inner == 1 && lanes <= kWarpCombine) {
    combine_warps_kernel<P><<<warp_grid(outputs), kBlock, 0, stream>>>(partial, outer, lanes, inner, out);
  } else {
    const std::int64_t next = ceil_div(lanes, kWarp);
    const Partials<Acc> fewer = partials_for<Acc>(outputs * next, device);
    combine_columns_kernel<P><<<grid_for(outputs * next), kBlock, 0, stream>>>(
        partial, outer, lanes, inner, next, PartialOut<Acc>{fewer.data});
    NN_CUDA_CHECK_LAUNCH();
    return launch_combine<P>(fewer.data, outer, next, inner, device, out);
  }
  NN_CUDA_CHECK_LAUNCH();
}

template <class P, int kVec, class Out>
void launch_columns(const float* x, std::int64_t outer, std::int64_t r, std::int64_t inner,
                    std::int64_t lanes, Out out) {
  columns_kernel<P, kVec><<<grid_for(outer * lanes * inner / kVec), kBlock, 0, current_stream()>>>(
      x, outer, r, inner, lanes, out);
  NN_CUDA_CHECK_LAUNCH();
}

// The reduction of x (outer, r, inner) into `out` by policy P, choosing the split above.
// Direct is the policy for a thread per output with nothing to combine (FloatSumPolicy for
// the sum, to match the CPU's float columns).
template <class P, class Direct, class Out>
void reduce_dim(const Tensor& x, std::int64_t outer, std::int64_t r, std::int64_t inner, Out out) {
  using Acc = typename P::Acc;
  const float* px = x.data_ptr<float>();
  const Device device = x.device();
  cudaStream_t stream = current_stream();
  if (inner == 1 && r > kSerialRow) {
    if (r <= kWarpRow) {
      row_warps_kernel<P><<<warp_grid(outer), kBlock, 0, stream>>>(px, outer, r, out);
      NN_CUDA_CHECK_LAUNCH();
      return;
    }
    std::int64_t segments = 1;
    if (outer < kManyRows) {
      segments = std::max<std::int64_t>(
          1, std::min(ceil_div(r, kMinSegment), ceil_div(kMaxBlocks, outer)));
    }
    // Segments of a multiple of 4 values, none empty; float4s when every row and segment
    // starts 16-byte aligned.
    const std::int64_t segment = ceil_div(ceil_div(r, segments), 4) * 4;
    segments = ceil_div(r, segment);
    const bool vec4 = aligned16(px) && (r % 4 == 0 || outer == 1);
    auto launch = [&](auto vec, std::int64_t seg, std::int64_t blocks, auto sink) {
      row_segments_kernel<P, decltype(vec)::value><<<block_grid(blocks), kBlock, 0, stream>>>(
          px, r, blocks / outer, seg, blocks, sink);
      NN_CUDA_CHECK_LAUNCH();
    };
    if (segments == 1) {
      if (vec4) launch(std::true_type{}, r, outer, out);
      else launch(std::false_type{}, r, outer, out);
      return;
    }
    const Partials<Acc> partial = partials_for<Acc>(outer * segments, device);
    if (vec4) launch(std::true_type{}, segment, outer * segments, PartialOut<Acc>{partial.data});
    else launch(std::false_type{}, segment, outer * segments, PartialOut<Acc>{partial.data});
    launch_combine<P>(partial.data, outer, segments, 1, device, out);
    return;
  }
  // Threads per lane: one per column, or per 4 columns with float4 loads.
  const int vec = inner % 4 == 0 && aligned16(px) ? 4 : 1;
  const std::int64_t threads_per_lane = outer * inner / vec;
  std::int64_t lanes = 1;
  if (threads_per_lane < kTargetThreads / 2 && r > 4 * kMinPerLane) {
    lanes = std::max<std::int64_t>(
        1, std::min(ceil_div(kTargetThreads, threads_per_lane), ceil_div(r, kMinPerLane)));
  }
  if (lanes == 1) {
    if (vec == 4) launch_columns<Direct, 4>(px, outer, r, inner, 1, out);
    else launch_columns<Direct, 1>(px, outer, r, inner, 1, out);
    return;
  }
  const Partials<Acc> partial = partials_for<Acc>(outer * lanes * inner, device);
  if (vec == 4) launch_columns<P, 4>(px, outer, r, inner, lanes, PartialOut<Acc>{partial.data});
  else launch_columns<P, 1>(px, outer, r, inner, lanes, PartialOut<Acc>{partial.data});
  launch_combine<P>(partial.data, outer, lanes, inner, device, out);
}

void sum_dim_cuda(const Tensor& x, Tensor& out, std::int64_t outer, std::int64_t r,
                  std::int64_t inner) {
  if (outer * inner == 0) return;
  float* po = out.data_ptr<float>();
  if (inner == 1 && r <= kSerialRow) {
    sum_short_rows_kernel<<<grid_for(outer), kBlock, 0, current_stream()>>>(x.data_ptr<float>(), po, outer, r);
    NN_CUDA_CHECK_LAUNCH();
    return;
  }
  // SumOut<double> also takes FloatSumPolicy's float (exactly: float -> double -> float).
  reduce_dim<SumPolicy, FloatSumPolicy>(x, outer, r, inner, SumOut<double>{po});
}

void max_dim_cuda(const Tensor& x, Tensor& values, Tensor& indices, std::int64_t outer,
                  std::int64_t r, std::int64_t inner) {
  if (outer * inner == 0) return;
  reduce_dim<MaxPolicy, MaxPolicy>(x, outer, r, inner,
                                   MaxOut{values.data_ptr<float>(), indices.data_ptr<std::int64_t>()});
}

// gx = 0, then each (o, i) puts gy[o, i] at its index: no two write the same element.
void max_dim_backward_cuda(const Tensor& gy, const Tensor& indices, Tensor& gx,
                           std::int64_t outer, std::int64_t r, std::int64_t inner) {
  if (gx.numel() == 0) return;
  cudaStream_t stream = current_stream();
  NN_CUDA_CHECK(cudaMemsetAsync(gx.raw_data(), 0, gx.nbytes(), stream));  // all-zero bits: 0.0f
  if (outer * inner == 0) return;
  max_backward_kernel<<<grid_for(outer * inner), kBlock, 0, stream>>>(
      gy.data_ptr<float>(), indices.data_ptr<std::int64_t>(), gx.data_ptr<float>(), outer, r, inner);
  NN_CUDA_CHECK_LAUNCH();
}

}  // namespace

void register_reduce_kernels() {
  kernels::sum_dim.set(DeviceType::CUDA, sum_dim_cuda);
  kernels::max_dim.set(DeviceType::CUDA, max_dim_cuda);
  kernels::max_dim_backward.set(DeviceType::CUDA, max_dim_backward_cuda);
}

}  // namespace nn::cuda
