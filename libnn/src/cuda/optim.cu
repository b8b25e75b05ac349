// CUDA optimizer kernels (src/kernels/optim.hpp): the fused SGD, Adam/AdamW and RMSprop steps,
// and the |x|^p sum behind clip_grad_norm_.
//
// A step is memory-bound, so each one is a single pass: every element reads the parameter,
// its gradient and its moments once and writes the parameter and moments once, four floats at
// a time when the buffers allow. The arithmetic mirrors src/cpu/optim.cpp operation for
// operation, with the per-step constants computed the same way on the host (in double, then
// rounded to float), and every multiply and add rounded separately: the CPU build has no FMA,
// so letting nvcc fuse them would make the two devices drift apart over many steps.
//
// The multi-tensor steps (sgd_step_multi, ...) update every parameter of an optimizer in one
// launch; each element goes through the same update functor, with the same constants, as in
// the single-tensor kernels, so the bits are the same too (see "many tensors in one launch").
//
// abs_pow_sum reduces in double over a grid that depends on the element count only (fixed
// contiguous ranges per block, then one block over the partials in order), so its result has
// the same bits on every run; no atomics.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "cuda/common.cuh"
#include "cuda/register.hpp"
#include "kernels/optim.hpp"
#include "kernels/optim_constants.hpp"

namespace nn::cuda {
namespace {

// Separately rounded operations: nvcc would otherwise contract a * b + c into one FMA, which
// the CPU kernels (compiled without FMA) never do.
__device__ __forceinline__ float mul_rn(float a, float b) { return __fmul_rn(a, b); }
__device__ __forceinline__ float add_rn(float a, float b) { return __fadd_rn(a, b); }
__device__ __forceinline__ float sub_rn(float a, float b) { return __fsub_rn(a, b); }
__device__ __forceinline__ float div_rn(float a, float b) { return __fdiv_rn(a, b); }
__device__ __forceinline__ float sqrt_rn(float a) { return __fsqrt_rn(a); }

// --- one fused pass, shared by the three optimizers ---------------------------------------
// An Update is a functor over one element: (param, grad, state0, state1, state2), with
// kState0..2 saying which state buffers it reads and writes; the others stay null and are
// never touched.

struct StepBuffers {
  float* param;
  const float* grad;
  float* state0;
  float* state1;
  float* state2;
};

template <class Update>
__device__ __forceinline__ void update_one(const Update& u, const StepBuffers& b, std::int64_t i) {
  float p = b.param[i];
  float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f;
  if constexpr (Update::kState0) s0 = b.state0[i];
  if constexpr (Update::kState1) s1 = b.state1[i];
  if constexpr (Update::kState2) s2 = b.state2[i];
  u(p, b.grad[i], s0, s1, s2);
  b.param[i] = p;
  if constexpr (Update::kState0) b.state0[i] = s0;
  if constexpr (Update::kState1) b.state1[i] = s1;
  if constexpr (Update::kState2) b.state2[i] = s2;
}

// Elements 4i .. 4i+3 through float4 loads and stores (every buffer 16-byte aligned).
template <class Update>
__device__ __forceinline__ void update_four(const Update& u, const StepBuffers& b,
                                            std::int64_t i) {
  float4 p = reinterpret_cast<const float4*>(b.param)[i];
  const float4 g = __ldg(reinterpret_cast<const float4*>(b.grad) + i);
  float4 s0{}, s1{}, s2{};
  if constexpr (Update::kState0) s0 = reinterpret_cast<const float4*>(b.state0)[i];
  if constexpr (Update::kState1) s1 = reinterpret_cast<const float4*>(b.state1)[i];
  if constexpr (Update::kState2) s2 = reinterpret_cast<const float4*>(b.state2)[i];
  u(p.x, g.x, s0.x, s1.x, s2.x);
  u(p.y, g.y, s0.y, s1.y, s2.y);
  u(p.z, g.z, s0.z, s1.z, s2.z);
  u(p.w, g.w, s0.w, s1.w, s2.w);
  reinterpret_cast<float4*>(b.param)[i] = p;
  if constexpr (Update::kState0) reinterpret_cast<float4*>(b.state0)[i] = s0;
  if constexpr (Update::kState1) reinterpret_cast<float4*>(b.state1)[i] = s1;
  if constexpr (Update::kState2) reinterpret_cast<float4*>(b.state2)[i] = s2;
}

// Every buffer 16-byte aligned: float4 loads and stores over the first n/4*4 elements, then
// the last n%4 elements, one thread each.
template <class Update>
__global__ void __launch_bounds__(kBlock) step_vec4_kernel(const Update u, const StepBuffers b,
                                                          std::int64_t n) {
  const std::int64_t n4 = n / 4;
  NN_CUDA_KERNEL_LOOP(i, n4) update_four(u, b, i);
  const std::int64_t tail = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (tail < n - n4 * 4) update_one(u, b, n4 * 4 + tail);
}

// Some buffer misaligned (a view at an odd offset): one element per iteration.
template <class Update>
__global__ void __launch_bounds__(kBlock) step_scalar_kernel(const Update u, const StepBuffers b,
                                                            std::int64_t n) {
  NN_CUDA_KERNEL_LOOP(i, n) update_one(u, b, i);
}

bool aligned16(const void* ptr) {
  return ptr == nullptr || reinterpret_cast<std::uintptr_t>(ptr) % 16 == 0;
}

bool all_aligned16(const StepBuffers& b) {
  return aligned16(b.param) && aligned16(b.grad) && aligned16(b.state0) && aligned16(b.state1) &&
         aligned16(b.state2);
}

template <class Update>
void launch_step(const Update& u, const StepBuffers& b, std::int64_t n) {
  if (n == 0) return;
  if (all_aligned16(b)) {
    // At least one block, so that the n%4 tail has its threads even when n < 4.
    step_vec4_kernel<<<grid_for(n / 4), kBlock, 0, current_stream()>>>(u, b, n);
  } else {
    step_scalar_kernel<<<grid_for(n), kBlock, 0, current_stream()>>>(u, b, n);
  }
  NN_CUDA_CHECK_LAUNCH();
}

// --- many tensors in one launch -----------------------------------------------------------
// A model of many small parameters would pay one launch per parameter (and leave most of the
// GPU idle in each). A multi-tensor step covers them all in one launch: each parameter is cut
// into chunks of kMultiChunk elements, and block k updates the chunk that entry k of a
// (tensor, chunk) table names, reading that tensor's record: its buffers, its length, its own
// constants (Adam's bias corrections depend on its step) and which of two update functors it
// takes (SGD's first step, with a fresh momentum buffer, is another formula).
//
// The records and the table go to the device in one buffer of the caching allocator, copied
// from a host vector on the current stream; cudaMemcpyAsync returns once the pageable source
// is staged, and the buffer is given back after the launch: the allocator hands it out again
// only on the same stream, so behind this kernel. (Kernel parameters, capped at 4 KB, would
// hold a few dozen records and need a launch per few dozen tensors.)
//
// Within a chunk, threads stride over float4s (update_four) when all of that tensor's buffers
// are 16-byte aligned -- chunks start at multiples of kMultiChunk, a multiple of 4, so they
// stay aligned -- and over single elements otherwise, exactly as the single-tensor kernels do.

constexpr std::int64_t kMultiChunk = 4096;
static_assert(kMultiChunk % 4 == 0, "chunks of an aligned tensor must stay 16-byte aligned");

template <class Constants>
struct TensorRecord {
  StepBuffers b;
  std::int64_t n;
  Constants c;
  std::int32_t variant;  // 0: Update0, 1: Update1
  std::int32_t vec;      // every buffer 16-byte aligned
};

struct ChunkRef {
  std::int32_t tensor;
  std::int32_t chunk;
};

// Buffers advanced to element `offset`; the unused (null) ones stay null.
__device__ __forceinline__ StepBuffers offset_buffers(StepBuffers b, std::int64_t offset) {
  b.param += offset;
  b.grad += offset;
  if (b.state0 != nullptr) b.state0 += offset;
  if (b.state1 != nullptr) b.state1 += offset;
  if (b.state2 != nullptr) b.state2 += offset;
  return b;
}

// One chunk of `len` elements by the threads of a block.
template <class Update>
__device__ __forceinline__ void update_chunk(const Update& u, const StepBuffers& b,
                                             std::int64_t len, bool vec) {
  if (vec) {
    const std::int64_t len4 = len / 4;
    for (std::int64_t i = threadIdx.x; i < len4; i += blockDim.x) update_four(u, b, i);
    // Only a tensor's last chunk has a tail (len % 4 elements).
    if (threadIdx.x < len - len4 * 4) update_one(u, b, len4 * 4 + threadIdx.x);
  } else {
    for (std::int64_t i = threadIdx.x; i < len; i += blockDim.x) update_one(u, b, i);
  }
}

template <class Update0, class Update1>
__global__ void __launch_bounds__(kBlock) multi_step_kernel(
    const TensorRecord<typename Update0::Constants>* __restrict__ records,
    const ChunkRef* __restrict__ chunks, std::int64_t chunk_count) {
  static_assert(std::is_same_v<typename Update0::Constants, typename Update1::Constants>);
  for (std::int64_t k = blockIdx.x; k < chunk_count; k += gridDim.x) {
    const ChunkRef ref = chunks[k];
    const TensorRecord<typename Update0::Constants> r = records[ref.tensor];
    const std::int64_t begin = static_cast<std::int64_t>(ref.chunk) * kMultiChunk;
    const std::int64_t left = r.n - begin;
    const std::int64_t len = left < kMultiChunk ? left : kMultiChunk;
    const StepBuffers b = offset_buffers(r.b, begin);
    if constexpr (std::is_same_v<Update0, Update1>) {
      update_chunk(Update0{r.c}, b, len, r.vec != 0);
    } else if (r.variant == 0) {
      update_chunk(Update0{r.c}, b, len, r.vec != 0);
    } else {
      update_chunk(Update1{r.c}, b, len, r.vec != 0);
    }
  }
}

// The record of one tensor of n > 0 elements.
template <class Constants>
TensorRecord<Constants> make_record(const StepBuffers& b, std::int64_t n, const Constants& c,
                                    int variant = 0) {
  TensorRecord<Constants> r{};
  r.b = b;
  r.n = n;
  r.c = c;
  r.variant = variant;
  r.vec = all_aligned16(b) ? 1 : 0;
  return r;
}

// One launch over every record's tensor (all on `device`, each with n > 0).
template <class Update0, class Update1>
void launch_multi_step(Device device,
                       const std::vector<TensorRecord<typename Update0::Constants>>& records) {
  using Record = TensorRecord<typename Update0::Constants>;
  if (records.empty()) return;
  std::vector<ChunkRef> chunks;
  for (std::size_t t = 0; t < records.size(); ++t) {
    const std::int64_t count = (records[t].n + kMultiChunk - 1) / kMultiChunk;
    for (std::int64_t k = 0; k < count; ++k) {
      chunks.push_back({static_cast<std::int32_t>(t), static_cast<std::int32_t>(k)});
    }
  }

  // Records first (8-byte aligned, as the buffer is; sizeof(Record) is a multiple of 8, so
  // the table after them is aligned too), in 8-byte words.
  static_assert(sizeof(Record) % alignof(Record) == 0 && alignof(Record) == 8);
  const std::size_t records_bytes = records.size() * sizeof(Record);
  const std::size_t bytes = records_bytes + chunks.size() * sizeof(ChunkRef);
  std::vector<std::int64_t> host((bytes + 7) / 8);
  std::memcpy(host.data(), records.data(), records_bytes);
  std::memcpy(reinterpret_cast<char*>(host.data()) + records_bytes, chunks.data(),
              chunks.size() * sizeof(ChunkRef));
  const Tensor meta = nn::empty({static_cast<std::int64_t>(host.size())},
                                TensorOptions().dtype(DType::Int64).device(device));
  char* dev = reinterpret_cast<char*>(meta.data_ptr<std::int64_t>());
  NN_CUDA_CHECK(cudaMemcpyAsync(dev, host.data(), bytes, cudaMemcpyHostToDevice,
                                current_stream()));

  const auto chunk_count = static_cast<std::int64_t>(chunks.size());
  const auto grid = static_cast<unsigned>(std::min<std::int64_t>(chunk_count, 65535LL * 16));
  multi_step_kernel<Update0, Update1><<<grid, kBlock, 0, current_stream()>>>(
      reinterpret_cast<const Record*>(dev), reinterpret_cast<const ChunkRef*>(dev + records_bytes),
      chunk_count);
  NN_CUDA_CHECK_LAUNCH();
}

// --- SGD ----------------------------------------------------------------------------------

struct SgdConstants {
  float sign;  // -1 when maximizing
  float lr;
  float momentum;
  float keep;  // 1 - dampening
  float weight_decay;
};

SgdConstants sgd_constants(const kernels::SgdStep& h) {
  return {h.maximize ? -1.0f : 1.0f, static_cast<float>(h.lr), static_cast<float>(h.momentum),
          static_cast<float>(1.0 - h.dampening), static_cast<float>(h.weight_decay)};
}

template <bool kMomentum, bool kNesterov, bool kFirstStep>
struct SgdUpdate {
  using Constants = SgdConstants;
  static constexpr bool kState0 = kMomentum;  // momentum_buffer
  static constexpr bool kState1 = false;
  static constexpr bool kState2 = false;
  SgdConstants c;

  __device__ __forceinline__ void operator()(float& p, float grad, float& buf, float&,
                                             float&) const {
    const float g = add_rn(mul_rn(c.sign, grad), mul_rn(c.weight_decay, p));
    if constexpr (!kMomentum) {
      p = sub_rn(p, mul_rn(c.lr, g));
    } else {
      const float b = kFirstStep ? g : add_rn(mul_rn(c.momentum, buf), mul_rn(c.keep, g));
      buf = b;
      const float d = kNesterov ? add_rn(g, mul_rn(c.momentum, b)) : b;
      p = sub_rn(p, mul_rn(c.lr, d));
    }
  }
};

void sgd_step_cuda(Tensor& param, const Tensor& grad, Tensor& momentum_buffer,
                   const kernels::SgdStep& h) {
  const SgdConstants c = sgd_constants(h);
  const std::int64_t n = param.numel();
  if (n == 0) return;
  StepBuffers b{param.data_ptr<float>(), grad.data_ptr<float>(), nullptr, nullptr, nullptr};
  if (h.momentum == 0.0) return launch_step(SgdUpdate<false, false, false>{c}, b, n);
  b.state0 = momentum_buffer.data_ptr<float>();
  if (h.first_step) {
    if (h.nesterov) return launch_step(SgdUpdate<true, true, true>{c}, b, n);
    return launch_step(SgdUpdate<true, false, true>{c}, b, n);
  }
  if (h.nesterov) return launch_step(SgdUpdate<true, true, false>{c}, b, n);
  return launch_step(SgdUpdate<true, false, false>{c}, b, n);
}

// Variant 1 is the first step (a fresh momentum buffer), per tensor.
void sgd_step_multi_cuda(const std::vector<kernels::SgdTensors>& tensors,
                         const kernels::SgdStep& h) {
  if (tensors.empty()) return;
  const SgdConstants c = sgd_constants(h);
  const bool momentum = h.momentum != 0.0;
  std::vector<TensorRecord<SgdConstants>> records;
  records.reserve(tensors.size());
  for (const kernels::SgdTensors& e : tensors) {
    const std::int64_t n = e.param->numel();
    if (n == 0) continue;
    const StepBuffers b{e.param->data_ptr<float>(), e.grad->data_ptr<float>(),
                        momentum ? e.momentum_buffer->data_ptr<float>() : nullptr, nullptr,
                        nullptr};
    records.push_back(make_record(b, n, c, e.first_step ? 1 : 0));
  }
  const Device device = tensors.front().param->device();
  if (!momentum) {
    using Plain = SgdUpdate<false, false, false>;
    return launch_multi_step<Plain, Plain>(device, records);
  }
  if (h.nesterov) {
    return launch_multi_step<SgdUpdate<true, true, false>, SgdUpdate<true, true, true>>(device,
                                                                                       records);
  }
  launch_multi_step<SgdUpdate<true, false, false>, SgdUpdate<true, false, true>>(device, records);
}

// --- Adam / AdamW -------------------------------------------------------------------------

using kernels::AdamConstants;
using kernels::adam_constants;

template <bool kAmsgrad>
struct AdamUpdate {
  using Constants = AdamConstants;
  static constexpr bool kState0 = true;      // exp_avg
  static constexpr bool kState1 = true;      // exp_avg_sq
  static constexpr bool kState2 = kAmsgrad;  // max_exp_avg_sq
  AdamConstants c;

  __device__ __forceinline__ void operator()(float& p, float grad, float& m, float& v,
                                             float& vmax) const {
    const float pi = mul_rn(p, c.decay);
    const float g = add_rn(mul_rn(c.sign, grad), mul_rn(c.l2, p));
    const float mi = add_rn(mul_rn(c.beta1, m), mul_rn(c.one_minus_beta1, g));
    const float vi = add_rn(mul_rn(c.beta2, v), mul_rn(c.one_minus_beta2, mul_rn(g, g)));
    m = mi;
    v = vi;
    float vhat = vi;
    if constexpr (kAmsgrad) {
      // std::max(vmax, vi) as the CPU writes it: a NaN in vi keeps vmax, one in vmax stays.
      vhat = vmax < vi ? vi : vmax;
      vmax = vhat;
    }
    const float denom = add_rn(mul_rn(sqrt_rn(vhat), c.inv_bc2_sqrt), c.eps);
    p = sub_rn(pi, mul_rn(c.step_size, div_rn(mi, denom)));
  }
};

void adam_step_cuda(Tensor& param, const Tensor& grad, Tensor& exp_avg, Tensor& exp_avg_sq,
                    Tensor& max_exp_avg_sq, const kernels::AdamStep& h) {
  const AdamConstants c = adam_constants(h, h.step);
  const std::int64_t n = param.numel();
  if (n == 0) return;
  StepBuffers b{param.data_ptr<float>(), grad.data_ptr<float>(), exp_avg.data_ptr<float>(),
                exp_avg_sq.data_ptr<float>(), nullptr};
  if (h.amsgrad) {
    b.state2 = max_exp_avg_sq.data_ptr<float>();
    return launch_step(AdamUpdate<true>{c}, b, n);
  }
  launch_step(AdamUpdate<false>{c}, b, n);
}

// Each tensor's constants from its own step.
void adam_step_multi_cuda(const std::vector<kernels::AdamTensors>& tensors,
                          const kernels::AdamStep& h) {
  if (tensors.empty()) return;
  std::vector<TensorRecord<AdamConstants>> records;
  records.reserve(tensors.size());
  for (const kernels::AdamTensors& e : tensors) {
    const std::int64_t n = e.param->numel();
    if (n == 0) continue;
    const StepBuffers b{e.param->data_ptr<float>(), e.grad->data_ptr<float>(),
                        e.exp_avg->data_ptr<float>(), e.exp_avg_sq->data_ptr<float>(),
                        h.amsgrad ? e.max_exp_avg_sq->data_ptr<float>() : nullptr};
    records.push_back(make_record(b, n, adam_constants(h, e.step)));
  }
  const Device device = tensors.front().param->device();
  if (h.amsgrad) return launch_multi_step<AdamUpdate<true>, AdamUpdate<true>>(device, records);
  launch_multi_step<AdamUpdate<false>, AdamUpdate<false>>(device, records);
}

// --- RMSprop ------------------------------------------------------------------------------

using kernels::RmspropConstants;
using kernels::rmsprop_constants;

template <bool kCentered, bool kMomentum>
struct RmspropUpdate {
  using Constants = RmspropConstants;
  static constexpr bool kState0 = true;       // square_avg
  static constexpr bool kState1 = kCentered;  // grad_avg
  static constexpr bool kState2 = kMomentum;  // momentum_buffer
  RmspropConstants c;

  __device__ __forceinline__ void operator()(float& p, float grad, float& sq, float& gavg,
                                             float& buf) const {
    const float g = add_rn(mul_rn(c.sign, grad), mul_rn(c.weight_decay, p));
    const float s = add_rn(mul_rn(c.alpha, sq), mul_rn(c.one_minus_alpha, mul_rn(g, g)));
    sq = s;
    float var = s;
    if constexpr (kCentered) {
      const float a = add_rn(mul_rn(c.alpha, gavg), mul_rn(c.one_minus_alpha, g));
      gavg = a;
      var = sub_rn(s, mul_rn(a, a));
    }
    const float d = add_rn(sqrt_rn(var), c.eps);
    if constexpr (kMomentum) {
      const float bv = add_rn(mul_rn(c.momentum, buf), div_rn(g, d));
      buf = bv;
      p = sub_rn(p, mul_rn(c.lr, bv));
    } else {
      p = sub_rn(p, mul_rn(c.lr, div_rn(g, d)));
    }
  }
};

void rmsprop_step_cuda(Tensor& param, const Tensor& grad, Tensor& square_avg, Tensor& grad_avg,
                       Tensor& momentum_buffer, const kernels::RmspropStep& h) {
  const RmspropConstants c = rmsprop_constants(h);
  const std::int64_t n = param.numel();
  if (n == 0) return;
  StepBuffers b{param.data_ptr<float>(), grad.data_ptr<float>(), square_avg.data_ptr<float>(),
                h.centered ? grad_avg.data_ptr<float>() : nullptr,
                h.momentum > 0.0 ? momentum_buffer.data_ptr<float>() : nullptr};
  if (b.state1 && b.state2) return launch_step(RmspropUpdate<true, true>{c}, b, n);
  if (b.state1) return launch_step(RmspropUpdate<true, false>{c}, b, n);
  if (b.state2) return launch_step(RmspropUpdate<false, true>{c}, b, n);
  launch_step(RmspropUpdate<false, false>{c}, b, n);
}

void rmsprop_step_multi_cuda(const std::vector<kernels::RmspropTensors>& tensors,
                             const kernels::RmspropStep& h) {
  if (tensors.empty()) return;
  const RmspropConstants c = rmsprop_constants(h);
  std::vector<TensorRecord<RmspropConstants>> records;
  records.reserve(tensors.size());
  for (const kernels::RmspropTensors& e : tensors) {
    const std::int64_t n = e.param->numel();
    if (n == 0) continue;
    const StepBuffers b{e.param->data_ptr<float>(), e.grad->data_ptr<float>(),
                        e.square_avg->data_ptr<float>(),
                        h.centered ? e.grad_avg->data_ptr<float>() : nullptr,
                        h.momentum > 0.0 ? e.momentum_buffer->data_ptr<float>() : nullptr};
    records.push_back(make_record(b, n, c));
  }
  const Device device = tensors.front().param->device();
  const bool centered = h.centered, momentum = h.momentum > 0.0;
  if (centered && momentum) {
    using U = RmspropUpdate<true, true>;
    return launch_multi_step<U, U>(device, records);
  }
  if (centered) {
    using U = RmspropUpdate<true, false>;
    return launch_multi_step<U, U>(device, records);
  }
  if (momentum) {
    using U = RmspropUpdate<false, true>;
    return launch_multi_step<U, U>(device, records);
  }
  using U = RmspropUpdate<false, false>;
  launch_multi_step<U, U>(device, records);
}

// --- sum of |x|^p -------------------------------------------------------------------------
// Pass 1: block b reduces the contiguous range [b * chunk, (b + 1) * chunk) into partial[b];
// pass 2: one block reduces the partials into partial[blocks]. The grid depends on n only,
// and each thread walks the same quads of four elements whether it loads them as a float4 or
// one by one, so the order of the additions -- and the bits -- never depend on alignment.
//
// The max: |x| is a non-negative float or a positive NaN, and those order as their bit
// patterns do, with every NaN above +inf. The max of the bits as unsigned integers is then the
// max of |x|, or a NaN when there is one: NaN propagates as in the CPU kernel, exactly.

enum class PowKind { Max, One, Two, General };

constexpr std::int64_t kPowMinChunk = 4096;  // elements per block, at least
constexpr std::int64_t kPowMaxBlocks = 1024;

template <PowKind kKind>
__device__ __forceinline__ void accumulate(double& acc, unsigned& best, float x, double p) {
  if constexpr (kKind == PowKind::Max) {
    best = max(best, __float_as_uint(fabsf(x)));
  } else if constexpr (kKind == PowKind::One) {
    acc += fabs(static_cast<double>(x));
  } else if constexpr (kKind == PowKind::Two) {
    const double v = x;
    acc += v * v;  // exact product in double: an FMA here changes nothing
  } else {
    acc += pow(fabs(static_cast<double>(x)), p);
  }
}

template <PowKind kKind>
__global__ void __launch_bounds__(kBlock) abs_pow_partial_kernel(const float* __restrict__ x,
                                                                 std::int64_t n,
                                                                 std::int64_t chunk, double p,
                                                                 bool vec, double* partial) {
  __shared__ double sum_scratch[kWarp];
  __shared__ unsigned max_scratch[kWarp];
  const std::int64_t begin = static_cast<std::int64_t>(blockIdx.x) * chunk;
  const std::int64_t len = std::min(n, begin + chunk) - begin;
  const float* xb = x + begin;
  double acc = 0.0;
  unsigned best = 0u;
  const std::int64_t quads = (len + 3) / 4;
  for (std::int64_t q = threadIdx.x; q < quads; q += blockDim.x) {
    const std::int64_t first = 4 * q;
    if (vec && first + 4 <= len) {
      const float4 v = __ldg(reinterpret_cast<const float4*>(xb + first));
      accumulate<kKind>(acc, best, v.x, p);
      accumulate<kKind>(acc, best, v.y, p);
      accumulate<kKind>(acc, best, v.z, p);
      accumulate<kKind>(acc, best, v.w, p);
    } else {
      const std::int64_t count = std::min<std::int64_t>(4, len - first);
      for (std::int64_t c = 0; c < count; ++c) accumulate<kKind>(acc, best, xb[first + c], p);
    }
  }
  if constexpr (kKind == PowKind::Max) {
    best = block_max(best, max_scratch, 0u);
    if (threadIdx.x == 0) partial[blockIdx.x] = static_cast<double>(__uint_as_float(best));
  } else {
    acc = block_sum(acc, sum_scratch);
    if (threadIdx.x == 0) partial[blockIdx.x] = acc;
  }
}

// One block: partial[count] = the sum (or the NaN-propagating max) of partial[0..count).
template <bool kMax>
__global__ void __launch_bounds__(kBlock) abs_pow_final_kernel(double* partial,
                                                               std::int64_t count) {
  __shared__ double sum_scratch[kWarp];
  __shared__ unsigned long long max_scratch[kWarp];
  if constexpr (kMax) {
    // The same bit-order argument in double: float to double keeps a NaN a positive NaN.
    unsigned long long best = 0ull;
    for (std::int64_t i = threadIdx.x; i < count; i += blockDim.x) {
      best = max(best, static_cast<unsigned long long>(__double_as_longlong(partial[i])));
    }
    best = block_max(best, max_scratch, 0ull);
    if (threadIdx.x == 0) partial[count] = __longlong_as_double(static_cast<long long>(best));
  } else {
    double acc = 0.0;
    for (std::int64_t i = threadIdx.x; i < count; i += blockDim.x) acc += partial[i];
    acc = block_sum(acc, sum_scratch);
    if (threadIdx.x == 0) partial[count] = acc;
  }
}

template <PowKind kKind>
void launch_abs_pow_partial(unsigned blocks, const float* x, std::int64_t n, std::int64_t chunk,
                            double p, bool vec, double* partial) {
  abs_pow_partial_kernel<kKind><<<blocks, kBlock, 0, current_stream()>>>(x, n, chunk, p, vec,
                                                                         partial);
  NN_CUDA_CHECK_LAUNCH();
}

double abs_pow_sum_cuda(const Tensor& x, double norm_type) {
  const std::int64_t n = x.numel();
  if (n == 0) return 0.0;
  const float* px = x.data_ptr<float>();

  // A multiple of 4, so that every block's range starts 16-byte aligned when x does.
  std::int64_t chunk = std::max(kPowMinChunk, (n + kPowMaxBlocks - 1) / kPowMaxBlocks);
  chunk = (chunk + 3) / 4 * 4;
  const std::int64_t blocks = (n + chunk - 1) / chunk;
  const bool vec = aligned16(px);

  // blocks partials and the result, as doubles in an 8-byte-element scratch tensor.
  Tensor scratch = nn::empty({blocks + 1}, TensorOptions().dtype(DType::Int64).device(x.device()));
  auto* partial = reinterpret_cast<double*>(scratch.data_ptr<std::int64_t>());

  const auto grid = static_cast<unsigned>(blocks);
  const bool is_max = std::isinf(norm_type);
  if (is_max) {
    launch_abs_pow_partial<PowKind::Max>(grid, px, n, chunk, norm_type, vec, partial);
  } else if (norm_type == 2.0) {
    launch_abs_pow_partial<PowKind::Two>(grid, px, n, chunk, norm_type, vec, partial);
  } else if (norm_type == 1.0) {
    launch_abs_pow_partial<PowKind::One>(grid, px, n, chunk, norm_type, vec, partial);
  } else {
    launch_abs_pow_partial<PowKind::General>(grid, px, n, chunk, norm_type, vec, partial);
  }
  if (is_max) {
    abs_pow_final_kernel<true><<<1, kBlock, 0, current_stream()>>>(partial, blocks);
  } else {
    abs_pow_final_kernel<false><<<1, kBlock, 0, current_stream()>>>(partial, blocks);
  }
  NN_CUDA_CHECK_LAUNCH();

  double result = 0.0;
  copy_to_host(&result, partial + blocks, sizeof(double));
  return result;
}

}  // namespace

void register_optim_kernels() {
  kernels::sgd_step.set(DeviceType::CUDA, sgd_step_cuda);
  kernels::adam_step.set(DeviceType::CUDA, adam_step_cuda);
  kernels::rmsprop_step.set(DeviceType::CUDA, rmsprop_step_cuda);
  kernels::sgd_step_multi.set(DeviceType::CUDA, sgd_step_multi_cuda);
  kernels::adam_step_multi.set(DeviceType::CUDA, adam_step_multi_cuda);
  kernels::rmsprop_step_multi.set(DeviceType::CUDA, rmsprop_step_multi_cuda);
  kernels::abs_pow_sum.set(DeviceType::CUDA, abs_pow_sum_cuda);
}

}  // namespace nn::cuda
