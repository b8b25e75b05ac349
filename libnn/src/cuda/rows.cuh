// The row machinery of the row-wise kernels of softmax.cu, loss.cu and norm.cu. Each works on
// rows of C contiguous floats (softmax rows, rows of logits, layer-norm rows) and is
// memory-bound, so a row is read from memory once where it fits in registers: it is held by
// one warp (short rows, several rows per block, no block barrier) or by one block of up to
// kMaxRowThreads threads, each thread keeping K loads of W floats (float4 when every row
// starts 16-byte aligned, else single floats); its max and sums come from the fixed-order
// reductions of common.cuh.
//
// The plan: plan_rows takes C and a budget, the floats of one array a thread may hold (each
// file sets its own, per kernel: 32 for one array, 16 each for two), and picks a warp per row
// while the row fits in a warp, else a block with the fewest items per thread that fit in
// kMaxRowThreads threads; a row beyond the budget gets items == 0, and the file's own loop
// kernel streams it. dispatch_cached then launches the kernel's instance for the plan,
// instantiating only the shapes plan_rows can choose for that budget. The plan depends on the
// sizes and the alignment only, so the reductions' order (and the bits) are the same on every
// run.
//
// One copy here, so that the three files plan and launch their rows the same way.
#pragma once

#include <cmath>
#include <cstdint>

#include "cuda/common.cuh"

namespace nn::cuda {

constexpr int kMaxRowThreads = 512;  // a block per row: at most this many threads (128 registers)
constexpr int kWarpRowsBlock = 256;  // a warp per row: 8 rows per block
constexpr std::int64_t kMaxBlocks = 65535LL * 16;

// W consecutive floats: one float4 when every row starts 16-byte aligned (W == 4), else one.
template <int W> __device__ __forceinline__ void load_vec(const float* p, float (&v)[W]) {
  if constexpr (W == 4) {
    const float4 t = *reinterpret_cast<const float4*>(p);
    v[0] = t.x;
    v[1] = t.y;
    v[2] = t.z;
    v[3] = t.w;
  } else {
    v[0] = *p;
  }
}
template <int W> __device__ __forceinline__ void store_vec(float* p, const float (&v)[W]) {
  if constexpr (W == 4) {
    *reinterpret_cast<float4*>(p) = make_float4(v[0], v[1], v[2], v[3]);
  } else {
    *p = v[0];
  }
}

// The threads that own one row: a warp (several rows per block, no block barrier) or the
// whole block. Thread `tid` takes the row's vectors tid, tid + size, tid + 2 size, ...
// sum() serves float and double partials (scratch of the same type), max() float.
template <bool kWarpRows> struct RowGroup {
  int tid, size;
  std::int64_t first, stride;  // rows (or runs of rows) first, first + stride, ...

  __device__ RowGroup() {
    if constexpr (kWarpRows) {
      const int per_block = blockDim.x / kWarp;
      tid = threadIdx.x % kWarp;
      size = kWarp;
      first = static_cast<std::int64_t>(blockIdx.x) * per_block + threadIdx.x / kWarp;
      stride = static_cast<std::int64_t>(gridDim.x) * per_block;
    } else {
      tid = threadIdx.x;
      size = blockDim.x;
      first = blockIdx.x;
      stride = gridDim.x;
    }
  }
  template <class T> __device__ T sum(T v, T* scratch) const {
    if constexpr (kWarpRows) return warp_sum(v);
    else return block_sum(v, scratch);
  }
  __device__ float max(float v, float* scratch) const {
    if constexpr (kWarpRows) return warp_max(v);
    else return block_max(v, scratch, -INFINITY);
  }
};

// The first pass of a row kernel: loads the K vectors of W floats of row `xr` that thread
// g.tid owns into v (those from nvec on are left unset) and hands each float, in order, to
// fold -- the thread's part of the row's max (softmax, cross-entropy) or sum (layer norm),
// which the group then reduces.
template <int W, int K, bool kWarpRows, class Fold>
__device__ __forceinline__ void load_row(const RowGroup<kWarpRows>& g, const float* xr, int nvec,
                                         float (&v)[K][W], const Fold& fold) {
#pragma unroll
  for (int k = 0; k < K; ++k) {
    const int j = g.tid + k * g.size;
    if (j < nvec) {
      load_vec<W>(xr + j * W, v[k]);
#pragma unroll
      for (int w = 0; w < W; ++w) fold(v[k][w]);
    }
  }
}

// How a row kernel is launched for rows of C floats.
struct RowPlan {
  int width = 1;           // floats per load: 4 or 1
  int items = 0;           // loads per thread held in registers; 0: stream the row (loop kernel)
  bool warp_rows = false;  // a warp per row instead of a block per row
  int threads = kMaxRowThreads;
};

// The most floats of one array a thread holds in registers: max_floats with float4 loads,
// half that with scalar ones (their per-load addressing costs registers of its own).
constexpr int max_floats_for(int width, int max_floats) {
  return width == 4 ? max_floats : max_floats / 2;
}

// A warp per row while the row fits in a warp's registers (items the least power of two that
// covers it); else a block, with the fewest items per thread (a quarter of the budget at the
// least) that fit in kMaxRowThreads threads; else items == 0 (stream it).
inline RowPlan plan_rows(std::int64_t c, bool vec4, int max_floats) {
  RowPlan plan;
  plan.width = vec4 ? 4 : 1;
  const std::int64_t nvec = c / plan.width;
  const int max_items = max_floats_for(plan.width, max_floats) / plan.width;
  if (nvec <= std::int64_t{kWarp} * max_items) {
    plan.warp_rows = true;
    plan.threads = kWarpRowsBlock;
    plan.items = 1;
    while (std::int64_t{plan.items} * kWarp < nvec) plan.items *= 2;
    return plan;
  }
  // Fewer items, more threads first: more loads in flight per row.
  for (int items = std::max(1, max_items / 4); items <= max_items; items *= 2) {
    if (nvec <= std::int64_t{kMaxRowThreads} * items) {
      plan.items = items;
      plan.threads = static_cast<int>(((nvec + items - 1) / items + kWarp - 1) / kWarp * kWarp);
      return plan;
    }
  }
  plan.items = 0;
  plan.threads = kMaxRowThreads;
  return plan;
}

// Blocks for `rows` rows under the plan (a grid-stride loop over rows beyond kMaxBlocks).
inline unsigned row_blocks(const RowPlan& plan, std::int64_t rows) {
  const std::int64_t per_block = plan.warp_rows ? plan.threads / kWarp : 1;
  return static_cast<unsigned>(std::clamp<std::int64_t>((rows + per_block - 1) / per_block, 1, kMaxBlocks));
}

// Calls launch.operator()<W, K, kWarpRows>() for the plan's width and items, instantiating
// only the shapes plan_rows can choose for kMaxFloats.
template <int W, int K, int kMaxFloats, class Launch>
bool launch_if(const RowPlan& plan, const Launch& launch) {
  constexpr int kMaxItems = max_floats_for(W, kMaxFloats) / W;
  if constexpr (K <= kMaxItems) {
    if (plan.items != K) return false;
    if (plan.warp_rows) {
      launch.template operator()<W, K, true>();
      return true;
    } else if constexpr (K >= kMaxItems / 4) {
      launch.template operator()<W, K, false>();
      return true;
    }
  }
  return false;
}
template <int W, int kMaxFloats, class Launch>
bool dispatch_items(const RowPlan& plan, const Launch& launch) {
  return launch_if<W, 1, kMaxFloats>(plan, launch) || launch_if<W, 2, kMaxFloats>(plan, launch) ||
         launch_if<W, 4, kMaxFloats>(plan, launch) || launch_if<W, 8, kMaxFloats>(plan, launch) ||
         launch_if<W, 16, kMaxFloats>(plan, launch);
}
template <int kMaxFloats, class Launch>
void dispatch_cached(const RowPlan& plan, const Launch& launch) {
  const bool launched = plan.width == 4 ? dispatch_items<4, kMaxFloats>(plan, launch)
                                        : dispatch_items<1, kMaxFloats>(plan, launch);
  NN_CHECK(launched, "internal error: no row kernel for width {}, {} items, {} rows", plan.width,
           plan.items, plan.warp_rows ? "warp" : "block");
}

inline bool aligned16(const void* p) { return reinterpret_cast<std::uintptr_t>(p) % 16 == 0; }

// --- rows streamed with an online max-and-sum -----------------------------------------------
// For rows too long for registers (softmax, cross-entropy): one pass keeps a running max and
// sum of exp(value - max) per thread, then the threads' pairs are combined at the row's max.

// Adds v to a running (max m, sum s of exp(value - m)). -inf values (masks) add nothing,
// also before any finite value has been seen.
__device__ __forceinline__ void online_add(float& m, float& s, float v) {
  if (v > m) {
    s = s * expf(m - v) + 1.0f;
    m = v;
  } else if (m != -INFINITY) {
    s += expf(v - m);
  }
}
// A thread's (m, s) rescaled to the row's max.
__device__ __forceinline__ float rescale(float m, float s, float row_max) {
  return m == -INFINITY ? 0.0f : s * expf(m - row_max);
}

}  // namespace nn::cuda
