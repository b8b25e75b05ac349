// CUDA elementwise kernels (src/kernels/elementwise.hpp): the GPU side of cpu/elementwise.cpp,
// computing the same function for every argument.
//
// Every op is a small functor run by one of two kernels, both memory-bound grid-stride loops:
//   - contiguous: each input is either walked (same numel as out) or one value broadcast, as
//     the CPU's fast path; float4 loads and stores when the pointers are 16-byte aligned (a
//     tensor starting at an odd element offset falls back to single floats).
//   - broadcast: anything else. Dimensions are merged on the host where every input is
//     contiguous across them (a bias add (N, C) + (C) becomes two dimensions; at most 8 may
//     remain), the strides go to the kernel by value, and a flat index is split by
//     multiply-shift division -- once per float4 when the innermost dimension allows.
// Element i is read and written by the same thread, so out may be an input (unary in place,
// axpy).
//
// Rounding: the CPU is compiled without FMA, so x * p0 + p1 rounds twice there; nvcc would
// fuse it into one fma. Where a product feeds a sum the functors use __fmul_rn / __fadd_rn,
// which nvcc never fuses, to round as the CPU does; everything but exp, log, tanh, sigmoid
// and pow is then bit for bit the CPU's (NaN payloads aside: the GPU makes every computed NaN
// its canonical one). Those five are CUDA's expf, logf, tanhf, powf: within 2 ulp of the
// CPU's vec_math (measured over random and special inputs).
#include <array>
#include <cmath>
#include <vector>

#include "cuda/common.cuh"
#include "cuda/divmod.cuh"
#include "cuda/register.hpp"
#include "kernels/elementwise.hpp"

namespace nn::cuda {
namespace {

constexpr int kMaxRank = 8;

// --- the functors ----------------------------------------------------------------------------

struct AddOp { __device__ float operator()(float a, float b) const { return a + b; } };
struct SubOp { __device__ float operator()(float a, float b) const { return a - b; } };
struct MulOp { __device__ float operator()(float a, float b) const { return a * b; } };
struct DivOp { __device__ float operator()(float a, float b) const { return a / b; } };
struct IdentityOp { __device__ float operator()(float v) const { return v; } };

// -v by flipping the sign bit, as the CPU's negation does: the GPU's neg.f32 would turn a
// NaN into the canonical NaN, changing its bits.
__device__ __forceinline__ float negate(float v) { return __int_as_float(__float_as_int(v) ^ INT32_MIN); }
struct NegOp { __device__ float operator()(float v) const { return negate(v); } };
struct ExpOp { __device__ float operator()(float v) const { return expf(v); } };
struct LogOp { __device__ float operator()(float v) const { return logf(v); } };
struct TanhOp { __device__ float operator()(float v) const { return tanhf(v); } };
// As the CPU: E = exp(-|x|) never overflows, and E / (1 + E) for x < 0 keeps tiny results
// (sigmoid(-100) is a subnormal, not 1 / (1 + inf) = 0).
struct SigmoidOp {
  __device__ float operator()(float v) const {
    const float e = expf(-fabsf(v));
    return (v >= 0.0f ? 1.0f : e) / (1.0f + e);
  }
};
struct ReluOp { __device__ float operator()(float v) const { return v > 0.0f ? v : 0.0f; } };
struct LeakyReluOp {
  float slope;
  __device__ float operator()(float v) const { return v > 0.0f ? v : v * slope; }
};
struct SqrtOp { __device__ float operator()(float v) const { return sqrtf(v); } };
struct PowOp {
  float exponent;
  __device__ float operator()(float v) const { return powf(v, exponent); }
};
// std::min(std::max(v, lo), hi) spelled out: NaN passes through and lo > hi gives hi, as on
// the CPU (fminf / fmaxf would drop the NaN).
struct ClampOp {
  float lo, hi;
  __device__ float operator()(float v) const {
    const float low_clamped = v < lo ? lo : v;
    return hi < low_clamped ? hi : low_clamped;
  }
};
struct AffineOp {
  float scale, shift;
  __device__ float operator()(float v) const { return __fadd_rn(__fmul_rn(v, scale), shift); }
};

// Backward functors: (gy, the input they need -- x or y) -> gx, in the CPU's order of
// operations.
struct NegBackward { __device__ float operator()(float g) const { return negate(g); } };
struct ExpBackward { __device__ float operator()(float g, float y) const { return g * y; } };
struct LogBackward { __device__ float operator()(float g, float x) const { return g / x; } };
struct TanhBackward {
  __device__ float operator()(float g, float y) const {
    return __fmul_rn(g, __fsub_rn(1.0f, __fmul_rn(y, y)));
  }
};
struct SigmoidBackward {
  __device__ float operator()(float g, float y) const { return g * y * (1.0f - y); }
};
struct ReluBackward {
  __device__ float operator()(float g, float x) const { return x > 0.0f ? g : 0.0f; }
};
struct LeakyReluBackward {
  float slope;
  __device__ float operator()(float g, float x) const { return x > 0.0f ? g : g * slope; }
};
struct SqrtBackward {
  __device__ float operator()(float g, float y) const { return g * 0.5f / y; }
};
struct PowBackward {
  float exponent;
  __device__ float operator()(float g, float x) const {
    return g * exponent * powf(x, exponent - 1.0f);
  }
};
struct ClampBackward {
  float lo, hi;
  __device__ float operator()(float g, float x) const { return (x >= lo && x <= hi) ? g : 0.0f; }
};
struct AffineBackward {
  float scale;
  __device__ float operator()(float g) const { return g * scale; }
};

// A backward functor whose x or y is an undefined tensor sees 0 there, as on the CPU.
template <class Op> struct WithZero {
  Op op;
  __device__ float operator()(float g) const { return op(g, 0.0f); }
};

// y + alpha * x, rounded twice as the CPU's y[i] += alpha * x[i].
struct AxpyOp {
  float alpha;
  __device__ float operator()(float y, float x) const { return __fadd_rn(y, __fmul_rn(alpha, x)); }
};

// --- the kernels -------------------------------------------------------------------------

template <int kArity> struct Operands {
  const float* data[kArity];
  bool scalar[kArity];  // one value, broadcast to every element (contiguous kernel only)
};

template <int kArity, class Op>
__device__ __forceinline__ float apply(const Op& op, const float (&v)[kArity]) {
  if constexpr (kArity == 1) {
    return op(v[0]);
  } else {
    return op(v[0], v[1]);
  }
}

template <bool kVector, int kArity, class Op>
__global__ void contiguous_kernel(Operands<kArity> in, float* out, std::int64_t n, Op op) {
  // A broadcast value is read once, before the loop, as the CPU does.
  float held[kArity];
#pragma unroll
  for (int a = 0; a < kArity; ++a) held[a] = in.scalar[a] ? in.data[a][0] : 0.0f;
  std::int64_t done = 0;
  if constexpr (kVector) {
    const std::int64_t n4 = n / 4;
    NN_CUDA_KERNEL_LOOP(i, n4) {
      float4 v[kArity];
#pragma unroll
      for (int a = 0; a < kArity; ++a) {
        v[a] = in.scalar[a] ? make_float4(held[a], held[a], held[a], held[a])
                            : reinterpret_cast<const float4*>(in.data[a])[i];
      }
      float lanes[4][kArity];
#pragma unroll
      for (int a = 0; a < kArity; ++a) {
        lanes[0][a] = v[a].x;
        lanes[1][a] = v[a].y;
        lanes[2][a] = v[a].z;
        lanes[3][a] = v[a].w;
      }
      reinterpret_cast<float4*>(out)[i] =
          make_float4(apply<kArity>(op, lanes[0]), apply<kArity>(op, lanes[1]),
                      apply<kArity>(op, lanes[2]), apply<kArity>(op, lanes[3]));
    }
    done = n4 * 4;  // the last n % 4 elements: below, by the grid's first threads
  }
  NN_CUDA_KERNEL_LOOP(j, n - done) {
    const std::int64_t i = done + j;
    float v[kArity];
#pragma unroll
    for (int a = 0; a < kArity; ++a) v[a] = in.scalar[a] ? held[a] : in.data[a][i];
    out[i] = apply<kArity>(op, v);
  }
}

// Merged dimensions: out has sizes size[0..rank), operand a is at sum over d of
// index[d] * stride[a][d]. Division by size[d] for d >= 1 (the outermost index is what is left).
template <int kArity, class Div, class Index> struct BroadcastLayout {
  int rank;
  Div size[kMaxRank];
  Index stride[kArity][kMaxRank];
  bool walks_inner[kArity];  // stride 1 (not 0) along the innermost dimension
};

// With kVector, each thread takes 4 consecutive elements, which lie in one row of the
// innermost dimension (its size is a multiple of 4): the index is split once for the four,
// an input walking that dimension is read as a float4, one broadcast along it as one value.
template <bool kVector, int kArity, class Div, class Index, class Op>
__global__ void broadcast_kernel(Operands<kArity> in, BroadcastLayout<kArity, Div, Index> layout,
                                 float* out, Index n, Op op) {
  constexpr int kStep = kVector ? 4 : 1;
  NN_CUDA_KERNEL_LOOP(g, static_cast<std::int64_t>(n / kStep)) {
    const Index q = static_cast<Index>(g) * kStep;
    Index rest = q;
    Index offset[kArity] = {};
    // Unrolled over the maximum rank so the layout is indexed by constants (a dynamic index
    // into a kernel parameter would copy it to local memory).
#pragma unroll
    for (int d = kMaxRank - 1; d > 0; --d) {
      if (d < layout.rank) {
        const Index next = layout.size[d].div(rest);
        const Index index = rest - next * static_cast<Index>(layout.size[d].divisor);
        rest = next;
#pragma unroll
        for (int a = 0; a < kArity; ++a) offset[a] += index * layout.stride[a][d];
      }
    }
#pragma unroll
    for (int a = 0; a < kArity; ++a) offset[a] += rest * layout.stride[a][0];
    if constexpr (kVector) {
      float lanes[4][kArity];
#pragma unroll
      for (int a = 0; a < kArity; ++a) {
        const float* p = in.data[a] + offset[a];
        if (layout.walks_inner[a]) {
          const float4 v = *reinterpret_cast<const float4*>(p);
          lanes[0][a] = v.x;
          lanes[1][a] = v.y;
          lanes[2][a] = v.z;
          lanes[3][a] = v.w;
        } else {
          lanes[0][a] = lanes[1][a] = lanes[2][a] = lanes[3][a] = *p;
        }
      }
      *reinterpret_cast<float4*>(out + q) =
          make_float4(apply<kArity>(op, lanes[0]), apply<kArity>(op, lanes[1]),
                      apply<kArity>(op, lanes[2]), apply<kArity>(op, lanes[3]));
    } else {
      float v[kArity];
#pragma unroll
      for (int a = 0; a < kArity; ++a) v[a] = in.data[a][offset[a]];
      out[q] = apply<kArity>(op, v);
    }
  }
}

// --- launchers -----------------------------------------------------------------------------

bool aligned16(const void* p) { return reinterpret_cast<std::uintptr_t>(p) % 16 == 0; }

// out = op(inputs...), each input broadcast to out's shape (NumPy rules, as the CPU's
// binary_impl). out may be one of the inputs when that input has out's shape.
template <int kArity, class Op>
void launch_elementwise(const Tensor* const (&inputs)[kArity], Tensor& out, Op op) {
  const std::int64_t n = out.numel();
  if (n == 0) return;
  float* po = out.data_ptr<float>();
  cudaStream_t stream = current_stream();

  Operands<kArity> operands{};
  bool contiguous = true, vector = aligned16(po);
  for (int a = 0; a < kArity; ++a) {
    const Tensor& t = *inputs[a];
    operands.data[a] = t.data_ptr<float>();
    const std::int64_t numel = t.numel();
    operands.scalar[a] = numel == 1 && n != 1;
    contiguous = contiguous && (numel == n || numel == 1);
    if (!operands.scalar[a]) vector = vector && aligned16(operands.data[a]);
  }
  if (contiguous) {
    const unsigned grid = grid_for(vector ? std::max<std::int64_t>(n / 4, 1) : n);
    if (vector) {
      contiguous_kernel<true><<<grid, kBlock, 0, stream>>>(operands, po, n, op);
    } else {
      contiguous_kernel<false><<<grid, kBlock, 0, stream>>>(operands, po, n, op);
    }
    NN_CUDA_CHECK_LAUNCH();
    return;
  }

  // Strides of each input (contiguous over its own shape) seen from out's shape, 0 where
  // broadcast -- the CPU's broadcast_strides.
  const Shape& shape = out.sizes();
  const auto rank = static_cast<int>(shape.size());
  std::vector<std::array<std::int64_t, kArity>> strides(static_cast<std::size_t>(rank));
  for (int a = 0; a < kArity; ++a) {
    const Shape& in_shape = inputs[a]->sizes();
    const auto in_rank = static_cast<int>(in_shape.size());
    NN_CHECK(in_rank <= rank, "elementwise: cannot broadcast shape {} to {}", shape_str(in_shape),
             shape_str(shape));
    std::int64_t stride = 1;
    for (int k = 0; k < rank; ++k) {
      const int o = rank - 1 - k, i = in_rank - 1 - k;
      const std::int64_t size = i >= 0 ? in_shape[static_cast<std::size_t>(i)] : 1;
      strides[static_cast<std::size_t>(o)][static_cast<std::size_t>(a)] = size == 1 ? 0 : stride;
      stride *= size;
    }
  }
  // Merge dimensions, innermost first: drop size-1 ones, and fold a dimension into the one
  // inside it when every input steps across both as across one.
  std::vector<std::int64_t> sizes;  // innermost first
  std::vector<std::array<std::int64_t, kArity>> merged;
  for (int d = rank - 1; d >= 0; --d) {
    const std::int64_t size = shape[static_cast<std::size_t>(d)];
    const auto& st = strides[static_cast<std::size_t>(d)];
    if (size == 1) continue;
    bool fold = !sizes.empty();
    for (int a = 0; a < kArity && fold; ++a) {
      fold = st[static_cast<std::size_t>(a)] ==
             merged.back()[static_cast<std::size_t>(a)] * sizes.back();
    }
    if (fold) {
      sizes.back() *= size;
    } else {
      sizes.push_back(size);
      merged.push_back(st);
    }
  }
  const auto merged_rank = static_cast<int>(sizes.size());  // >= 1: n > 1 here
  NN_CHECK(merged_rank <= kMaxRank,
           "elementwise: broadcasting {} needs {} dimensions after merging, the CUDA kernel "
           "handles at most {}", shape_str(shape), merged_rank, kMaxRank);

  // Four elements at a time when the innermost dimension holds whole float4s of out and of
  // every input walking it (an input's other strides are multiples of that size, so its
  // float4s stay aligned).
  bool vector_rows = sizes[0] % 4 == 0 && aligned16(po);
  for (int a = 0; a < kArity; ++a) {
    if (merged[0][static_cast<std::size_t>(a)] != 0) vector_rows = vector_rows && aligned16(operands.data[a]);
  }

  auto launch = [&](auto div_of, auto index_zero) {
    using Index = decltype(index_zero);
    using Div = decltype(div_of(std::int64_t{1}));
    BroadcastLayout<kArity, Div, Index> layout{};
    layout.rank = merged_rank;
    for (int a = 0; a < kArity; ++a) layout.walks_inner[a] = merged[0][static_cast<std::size_t>(a)] != 0;
    for (int d = 0; d < merged_rank; ++d) {
      // layout dimension d counts from the outside
      const auto from_inside = static_cast<std::size_t>(merged_rank - 1 - d);
      layout.size[d] = div_of(sizes[from_inside]);
      for (int a = 0; a < kArity; ++a) {
        layout.stride[a][d] = static_cast<Index>(merged[from_inside][static_cast<std::size_t>(a)]);
      }
    }
    if (vector_rows) {
      broadcast_kernel<true, kArity><<<grid_for(n / 4), kBlock, 0, stream>>>(
          operands, layout, po, static_cast<Index>(n), op);
    } else {
      broadcast_kernel<false, kArity><<<grid_for(n), kBlock, 0, stream>>>(
          operands, layout, po, static_cast<Index>(n), op);
    }
    NN_CUDA_CHECK_LAUNCH();
  };
  // Every operand offset is below its numel <= n, so 32-bit indices serve when n does.
  if (n < INT32_MAX) {
    launch([](std::int64_t v) { return FastDivmod32(static_cast<std::uint32_t>(v)); },
           std::uint32_t{0});
  } else {
    launch([](std::int64_t v) { return Divmod64(v); }, std::int64_t{0});
  }
}

template <class Op> void launch_unary(const Tensor& x, Tensor& out, Op op) {
  const Tensor* inputs[1] = {&x};
  launch_elementwise<1>(inputs, out, op);
}
template <class Op> void launch_binary(const Tensor& a, const Tensor& b, Tensor& out, Op op) {
  const Tensor* inputs[2] = {&a, &b};
  launch_elementwise<2>(inputs, out, op);
}

void binary_cuda(kernels::BinaryOp op, const Tensor& a, const Tensor& b, Tensor& out) {
  switch (op) {
    case kernels::BinaryOp::Add: return launch_binary(a, b, out, AddOp{});
    case kernels::BinaryOp::Sub: return launch_binary(a, b, out, SubOp{});
    case kernels::BinaryOp::Mul: return launch_binary(a, b, out, MulOp{});
    case kernels::BinaryOp::Div: return launch_binary(a, b, out, DivOp{});
  }
}

void expand_cuda(const Tensor& x, Tensor& out) { launch_unary(x, out, IdentityOp{}); }

void unary_cuda(kernels::UnaryOp op, const Tensor& x, Tensor& out, float p0, float p1) {
  using kernels::UnaryOp;
  switch (op) {
    case UnaryOp::Neg: return launch_unary(x, out, NegOp{});
    case UnaryOp::Exp: return launch_unary(x, out, ExpOp{});
    case UnaryOp::Log: return launch_unary(x, out, LogOp{});
    case UnaryOp::Tanh: return launch_unary(x, out, TanhOp{});
    case UnaryOp::Sigmoid: return launch_unary(x, out, SigmoidOp{});
    case UnaryOp::Relu: return launch_unary(x, out, ReluOp{});
    case UnaryOp::LeakyRelu: return launch_unary(x, out, LeakyReluOp{p0});
    case UnaryOp::Sqrt: return launch_unary(x, out, SqrtOp{});
    case UnaryOp::Pow: return launch_unary(x, out, PowOp{p0});
    case UnaryOp::Clamp: return launch_unary(x, out, ClampOp{p0, p1});
    case UnaryOp::Affine: return launch_unary(x, out, AffineOp{p0, p1});
  }
}

// gx = op(gy, input): input is x or y, whichever the derivative reads (an undefined one
// reads as 0, as on the CPU).
template <class Op>
void launch_backward(const Tensor& gy, const Tensor& input, Tensor& gx, Op op) {
  if (input.defined()) return launch_binary(gy, input, gx, op);
  launch_unary(gy, gx, WithZero<Op>{op});
}

void unary_backward_cuda(kernels::UnaryOp op, const Tensor& gy, const Tensor& x, const Tensor& y,
                         Tensor& gx, float p0, float p1) {
  using kernels::UnaryOp;
  switch (op) {
    case UnaryOp::Neg: return launch_unary(gy, gx, NegBackward{});
    case UnaryOp::Exp: return launch_backward(gy, y, gx, ExpBackward{});
    case UnaryOp::Log: return launch_backward(gy, x, gx, LogBackward{});
    case UnaryOp::Tanh: return launch_backward(gy, y, gx, TanhBackward{});
    case UnaryOp::Sigmoid: return launch_backward(gy, y, gx, SigmoidBackward{});
    case UnaryOp::Relu: return launch_backward(gy, x, gx, ReluBackward{});
    case UnaryOp::LeakyRelu: return launch_backward(gy, x, gx, LeakyReluBackward{p0});
    case UnaryOp::Sqrt: return launch_backward(gy, y, gx, SqrtBackward{});
    case UnaryOp::Pow: return launch_backward(gy, x, gx, PowBackward{p0});
    case UnaryOp::Clamp: return launch_backward(gy, x, gx, ClampBackward{p0, p1});
    case UnaryOp::Affine: return launch_unary(gy, gx, AffineBackward{p0});
  }
}

void axpy_cuda(float alpha, const Tensor& x, Tensor& y) { launch_binary(y, x, y, AxpyOp{alpha}); }

}  // namespace

void register_elementwise_kernels() {
  kernels::binary.set(DeviceType::CUDA, binary_cuda);
  kernels::expand.set(DeviceType::CUDA, expand_cuda);
  kernels::unary.set(DeviceType::CUDA, unary_cuda);
  kernels::unary_backward.set(DeviceType::CUDA, unary_backward_cuda);
  kernels::axpy.set(DeviceType::CUDA, axpy_cuda);
}

}  // namespace nn::cuda
