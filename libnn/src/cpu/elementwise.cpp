// CPU elementwise kernels (src/kernels/elementwise.hpp): the reference implementation.
//
// Loops are written so GCC vectorizes them at -O3 (contiguous, no aliasing through the
// loop-invariant parameters); large tensors are split across OpenMP threads by index.
// exp, log, tanh and sigmoid go to the array functions of cpu/vec_math.hpp (AVX-512 / AVX2
// chosen at run time): a loop calling std::exp cannot be vectorized. Their backward forms
// read y (or x for log) only and need no transcendental.
#include "kernels/elementwise.hpp"

#include <cmath>
#include <limits>

#include "cpu/parallel.hpp"
#include "cpu/vec_math.hpp"

namespace nn::cpu {
namespace {

constexpr std::int64_t kGrain = 1 << 15;

template <class Op>
void binary_loop(const float* a, std::int64_t sa, const float* b, std::int64_t sb, float* out,
                 std::int64_t n, Op op) {
  // sa / sb are 1 (walk) or 0 (broadcast one value); separate loops keep them vectorizable.
  if (sa == 1 && sb == 1) {
    for (std::int64_t i = 0; i < n; ++i) out[i] = op(a[i], b[i]);
  } else if (sa == 1) {
    const float bv = b[0];
    for (std::int64_t i = 0; i < n; ++i) out[i] = op(a[i], bv);
  } else if (sb == 1) {
    const float av = a[0];
    for (std::int64_t i = 0; i < n; ++i) out[i] = op(av, b[i]);
  } else {
    const float v = op(a[0], b[0]);
    for (std::int64_t i = 0; i < n; ++i) out[i] = v;
  }
}

// Strides of `t` (contiguous over its own shape) as seen from `out_shape`: 0 where broadcast.
Shape broadcast_strides(const Shape& shape, const Shape& out_shape) {
  const std::size_t rank = out_shape.size();
  Shape strides(rank, 0);
  std::int64_t stride = 1;
  for (std::size_t k = 0; k < shape.size(); ++k) {
    const std::size_t i = shape.size() - 1 - k;
    const std::size_t o = rank - 1 - k;
    strides[o] = shape[i] == 1 ? 0 : stride;
    stride *= shape[i];
  }
  return strides;
}

template <class Op>
void binary_impl(const Tensor& a, const Tensor& b, Tensor& out, Op op) {
  const float* pa = a.data_ptr<float>();
  const float* pb = b.data_ptr<float>();
  float* po = out.data_ptr<float>();
  const std::int64_t n = out.numel();
  if (n == 0) return;
  const bool a_full = a.numel() == n, b_full = b.numel() == n;
  if ((a_full || a.numel() == 1) && (b_full || b.numel() == 1)) {
    parallel_for(n, kGrain, [&](std::int64_t begin, std::int64_t end) {
      binary_loop(pa + (a_full ? begin : 0), a_full, pb + (b_full ? begin : 0), b_full,
                  po + begin, end - begin, op);
    });
    return;
  }
  // General broadcasting: rows of the last dimension, each row's start found by an odometer.
  const Shape& shape = out.sizes();
  const std::size_t rank = shape.size();
  const Shape stride_a = broadcast_strides(a.sizes(), shape);
  const Shape stride_b = broadcast_strides(b.sizes(), shape);
  const std::int64_t inner = shape[rank - 1];
  const std::int64_t rows = n / inner;
  parallel_for(rows, std::max<std::int64_t>(1, kGrain / inner), [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t row = begin; row < end; ++row) {
      std::int64_t offset_a = 0, offset_b = 0, rest = row;
      for (std::size_t k = rank - 1; k-- > 0;) {
        const std::int64_t index = rest % shape[k];
        rest /= shape[k];
        offset_a += index * stride_a[k];
        offset_b += index * stride_b[k];
      }
      binary_loop(pa + offset_a, stride_a[rank - 1], pb + offset_b, stride_b[rank - 1],
                  po + row * inner, inner, op);
    }
  });
}

void binary_cpu(kernels::BinaryOp op, const Tensor& a, const Tensor& b, Tensor& out) {
  switch (op) {
    case kernels::BinaryOp::Add: return binary_impl(a, b, out, [](float x, float y) { return x + y; });
    case kernels::BinaryOp::Sub: return binary_impl(a, b, out, [](float x, float y) { return x - y; });
    case kernels::BinaryOp::Mul: return binary_impl(a, b, out, [](float x, float y) { return x * y; });
    case kernels::BinaryOp::Div: return binary_impl(a, b, out, [](float x, float y) { return x / y; });
  }
}

void expand_cpu(const Tensor& x, Tensor& out) {
  // out = x + 0 with x broadcast: the binary kernel's broadcasting does the walking.
  binary_impl(x, x, out, [](float v, float) { return v; });
}

template <class Fn>
void map(const Tensor& x, Tensor& out, Fn fn) {
  const float* px = x.data_ptr<float>();
  float* po = out.data_ptr<float>();
  parallel_for(x.numel(), kGrain, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t i = begin; i < end; ++i) po[i] = fn(px[i]);
  });
}

// out = fn(x) for an array function of vec_math.hpp, each thread on its own chunk.
void map_array(const Tensor& x, Tensor& out, void (*fn)(const float*, float*, std::int64_t)) {
  const float* px = x.data_ptr<float>();
  float* po = out.data_ptr<float>();
  parallel_for(x.numel(), kGrain, [&](std::int64_t begin, std::int64_t end) {
    fn(px + begin, po + begin, end - begin);
  });
}

void unary_cpu(kernels::UnaryOp op, const Tensor& x, Tensor& out, float p0, float p1) {
  using kernels::UnaryOp;
  switch (op) {
    case UnaryOp::Neg: return map(x, out, [](float v) { return -v; });
    case UnaryOp::Exp: return map_array(x, out, vexp);
    case UnaryOp::Log: return map_array(x, out, vlog);
    case UnaryOp::Tanh: return map_array(x, out, vtanh);
    case UnaryOp::Sigmoid: return map_array(x, out, vsigmoid);  // 1 / (1 + exp(-x))
    case UnaryOp::Relu: return map(x, out, [](float v) { return v > 0.0f ? v : 0.0f; });
    case UnaryOp::LeakyRelu: return map(x, out, [p0](float v) { return v > 0.0f ? v : v * p0; });
    case UnaryOp::Sqrt: return map(x, out, [](float v) { return std::sqrt(v); });
    case UnaryOp::Pow: return map(x, out, [p0](float v) { return std::pow(v, p0); });
    case UnaryOp::Clamp: return map(x, out, [p0, p1](float v) { return std::min(std::max(v, p0), p1); });
    case UnaryOp::Affine: return map(x, out, [p0, p1](float v) { return v * p0 + p1; });
  }
}

template <class Fn>
void map_backward(const Tensor& gy, const Tensor& x, const Tensor& y, Tensor& gx, Fn fn) {
  const float* pg = gy.data_ptr<float>();
  const float* px = x.defined() ? x.data_ptr<float>() : nullptr;
  const float* py = y.defined() ? y.data_ptr<float>() : nullptr;
  float* po = gx.data_ptr<float>();
  parallel_for(gy.numel(), kGrain, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t i = begin; i < end; ++i) {
      po[i] = fn(pg[i], px ? px[i] : 0.0f, py ? py[i] : 0.0f);
    }
  });
}

void unary_backward_cpu(kernels::UnaryOp op, const Tensor& gy, const Tensor& x, const Tensor& y,
                        Tensor& gx, float p0, float p1) {
  using kernels::UnaryOp;
  switch (op) {
    case UnaryOp::Neg: return map_backward(gy, x, y, gx, [](float g, float, float) { return -g; });
    // y = exp(x): dy/dx = y
    case UnaryOp::Exp: return map_backward(gy, x, y, gx, [](float g, float, float v) { return g * v; });
    // y = log(x): dy/dx = 1/x
    case UnaryOp::Log: return map_backward(gy, x, y, gx, [](float g, float u, float) { return g / u; });
    // y = tanh(x): dy/dx = 1 - y^2
    case UnaryOp::Tanh: return map_backward(gy, x, y, gx, [](float g, float, float v) { return g * (1.0f - v * v); });
    // y = sigmoid(x): dy/dx = y (1 - y)
    case UnaryOp::Sigmoid: return map_backward(gy, x, y, gx, [](float g, float, float v) { return g * v * (1.0f - v); });
    case UnaryOp::Relu: return map_backward(gy, x, y, gx, [](float g, float u, float) { return u > 0.0f ? g : 0.0f; });
    case UnaryOp::LeakyRelu: return map_backward(gy, x, y, gx, [p0](float g, float u, float) { return u > 0.0f ? g : g * p0; });
    // y = sqrt(x): dy/dx = 1 / (2 y)
    case UnaryOp::Sqrt: return map_backward(gy, x, y, gx, [](float g, float, float v) { return g * 0.5f / v; });
    // y = x^p: dy/dx = p x^(p-1)
    case UnaryOp::Pow: return map_backward(gy, x, y, gx, [p0](float g, float u, float) { return g * p0 * std::pow(u, p0 - 1.0f); });
    // y = clamp(x, lo, hi): gradient where lo <= x <= hi (PyTorch passes it at the bounds)
    case UnaryOp::Clamp: return map_backward(gy, x, y, gx, [p0, p1](float g, float u, float) { return (u >= p0 && u <= p1) ? g : 0.0f; });
    case UnaryOp::Affine: return map_backward(gy, x, y, gx, [p0](float g, float, float) { return g * p0; });
  }
  (void)p1;
}

void axpy_cpu(float alpha, const Tensor& x, Tensor& y) {
  const float* px = x.data_ptr<float>();
  float* py = y.data_ptr<float>();
  parallel_for(x.numel(), kGrain, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t i = begin; i < end; ++i) py[i] += alpha * px[i];
  });
}

}  // namespace
}  // namespace nn::cpu

namespace nn::kernels {
Table<BinaryFn> binary{"binary", cpu::binary_cpu};
Table<ExpandFn> expand{"expand", cpu::expand_cpu};
Table<UnaryFn> unary{"unary", cpu::unary_cpu};
Table<UnaryBackwardFn> unary_backward{"unary_backward", cpu::unary_backward_cpu};
Table<AxpyFn> axpy{"axpy", cpu::axpy_cpu};
}  // namespace nn::kernels
