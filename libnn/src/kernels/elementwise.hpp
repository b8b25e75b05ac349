// Elementwise kernels: binary ops with broadcasting, one-input ops and their backward.
#pragma once

#include "kernels/table.hpp"
#include "libnn/tensor.hpp"

namespace nn::kernels {

enum class BinaryOp { Add, Sub, Mul, Div };

// out = a (op) b, where a and b broadcast to out's shape (all float32, same device).
using BinaryFn = void(BinaryOp op, const Tensor& a, const Tensor& b, Tensor& out);
extern Table<BinaryFn> binary;

// out = x broadcast to out's shape (the backward of sum, the forward of expand).
using ExpandFn = void(const Tensor& x, Tensor& out);
extern Table<ExpandFn> expand;

enum class UnaryOp {
  Neg,
  Exp,
  Log,
  Tanh,
  Sigmoid,
  Relu,
  LeakyRelu,  // p0 = negative slope
  Sqrt,
  Pow,        // p0 = exponent
  Clamp,      // p0 = min, p1 = max (+-infinity when absent)
  Affine,     // x * p0 + p1
};

// out = op(x); x and out have the same shape (out may be x: in place).
using UnaryFn = void(UnaryOp op, const Tensor& x, Tensor& out, float p0, float p1);
extern Table<UnaryFn> unary;

// gx = gy * op'(x), given x and y = op(x) (each kernel reads whichever is cheaper).
using UnaryBackwardFn = void(UnaryOp op, const Tensor& gy, const Tensor& x, const Tensor& y,
                             Tensor& gx, float p0, float p1);
extern Table<UnaryBackwardFn> unary_backward;

// y += alpha * x (same shape): gradient accumulation and optimizer updates.
using AxpyFn = void(float alpha, const Tensor& x, Tensor& y);
extern Table<AxpyFn> axpy;

}  // namespace nn::kernels
