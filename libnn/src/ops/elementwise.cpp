// Elementwise ops with autograd: add, sub, mul, div (broadcasting), affine, and the
// one-input functions. Kernels: src/cpu/elementwise.cpp.
//
// Backward closures capture inputs as they are, and outputs only through detach(): an output
// holds its grad_fn, so capturing it whole would make a cycle that is never freed.
#include "core/check.hpp"
#include "kernels/elementwise.hpp"
#include "libnn/autograd.hpp"
#include "libnn/ops.hpp"

namespace nn {

namespace {

void check_float_pair(const Tensor& a, const Tensor& b, const char* what) {
  NN_CHECK(a.dtype() == DType::Float32 && b.dtype() == DType::Float32,
           "{}: expected float32 tensors, got {} and {}", what, dtype_name(a.dtype()),
           dtype_name(b.dtype()));
  NN_CHECK(a.device() == b.device(), "{}: expected tensors on the same device, got {} and {}",
           what, a.device().str(), b.device().str());
}

Tensor binary_forward(kernels::BinaryOp op, const Tensor& a, const Tensor& b, const char* what) {
  check_float_pair(a, b, what);
  Tensor out = empty(broadcast_shapes(a.sizes(), b.sizes(), what), a.options());
  kernels::binary(out.device(), op, a, b, out);
  return out;
}

// The backward of a one-input op as recorded ops (double backward): gx = g * op'(x), with
// op'(x) itself an op of x so that it is differentiated too. For the piecewise-linear ops
// (relu, leaky_relu, clamp) op' is a constant mask where it is defined, so only g carries
// history.
Tensor unary_grad_with_graph(kernels::UnaryOp op, const Tensor& g, const Tensor& x, float p0,
                             float p1) {
  using kernels::UnaryOp;
  switch (op) {
    case UnaryOp::Neg:
      return neg(g);
    case UnaryOp::Affine:
      return affine(g, p0, 0.0);
    case UnaryOp::Exp:
      return mul(g, exp(x));
    case UnaryOp::Log:
      return div(g, x);
    case UnaryOp::Tanh: {  // 1 - tanh(x)^2
      const Tensor t = tanh(x);
      return mul(g, affine(mul(t, t), -1.0, 1.0));
    }
    case UnaryOp::Sigmoid: {  // s (1 - s)
      const Tensor s = sigmoid(x);
      return mul(g, mul(s, affine(s, -1.0, 1.0)));
    }
    case UnaryOp::Sqrt:  // 1 / (2 sqrt(x))
      return div(g, affine(sqrt(x), 2.0, 0.0));
    case UnaryOp::Pow:  // p x^(p-1); p = 0 gives zeros, as PyTorch
      if (p0 == 0.0f) return affine(g, 0.0, 0.0);
      return mul(g, affine(pow(x, static_cast<double>(p0) - 1.0), p0, 0.0));
    case UnaryOp::Relu:
    case UnaryOp::LeakyRelu:
    case UnaryOp::Clamp: {
      // The mask op'(x) from the first-order kernel applied to ones, without history.
      const Tensor xd = x.detach();
      Tensor y = empty(x.sizes(), x.options());
      kernels::unary(y.device(), op, xd, y, p0, p1);
      const Tensor one = ones(x.sizes(), x.options());
      Tensor mask = empty(x.sizes(), x.options());
      kernels::unary_backward(mask.device(), op, one, xd, y, mask, p0, p1);
      return mul(g, mask);
    }
  }
  throw Error("unary_grad_with_graph: unknown op");
}

Tensor unary_forward(kernels::UnaryOp op, const Tensor& x, float p0, float p1, const char* what) {
  NN_CHECK(x.dtype() == DType::Float32, "{}: expected a float32 tensor, got {}", what,
           dtype_name(x.dtype()));
  Tensor y = empty(x.sizes(), x.options());
  kernels::unary(y.device(), op, x, y, p0, p1);
  if (autograd::needs_history({&x})) {
    Tensor y_saved = y.detach();
    autograd::record(
        what, {x}, {y},
        [op, x, y_saved, p0, p1](const std::vector<Tensor>& g, const std::vector<bool>&) {
          Tensor gx = empty(x.sizes(), x.options());
          kernels::unary_backward(gx.device(), op, g[0], x, y_saved, gx, p0, p1);
          return std::vector<Tensor>{gx};
        },
        autograd::DoubleBackward(
            [op, x, p0, p1](const std::vector<Tensor>& g, const std::vector<bool>&) {
              return std::vector<Tensor>{unary_grad_with_graph(op, g[0], x, p0, p1)};
            }));
  }
  return y;
}

}  // namespace

Tensor add(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(kernels::BinaryOp::Add, a, b, "add");
  if (autograd::needs_history({&a, &b})) {
    autograd::record(
        "add", {a, b}, {out},
        [sa = a.sizes(), sb = b.sizes()](const std::vector<Tensor>& g,
                                         const std::vector<bool>& needs) {
          // out = a + b
          return std::vector<Tensor>{needs[0] ? sum_to(g[0], sa) : Tensor(),
                                     needs[1] ? sum_to(g[0], sb) : Tensor()};
        },
        autograd::DoubleBackward::same());
  }
  return out;
}

Tensor sub(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(kernels::BinaryOp::Sub, a, b, "sub");
  if (autograd::needs_history({&a, &b})) {
    autograd::record(
        "sub", {a, b}, {out},
        [sa = a.sizes(), sb = b.sizes()](const std::vector<Tensor>& g,
                                         const std::vector<bool>& needs) {
          // out = a - b
          return std::vector<Tensor>{needs[0] ? sum_to(g[0], sa) : Tensor(),
                                     needs[1] ? sum_to(neg(g[0]), sb) : Tensor()};
        },
        autograd::DoubleBackward::same());
  }
  return out;
}

Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(kernels::BinaryOp::Mul, a, b, "mul");
  if (autograd::needs_history({&a, &b})) {
    autograd::record(
        "mul", {a, b}, {out},
        [a, b](const std::vector<Tensor>& g, const std::vector<bool>& needs) {
          // out = a * b
          return std::vector<Tensor>{needs[0] ? sum_to(mul(g[0], b), a.sizes()) : Tensor(),
                                     needs[1] ? sum_to(mul(g[0], a), b.sizes()) : Tensor()};
        },
        autograd::DoubleBackward::same());
  }
  return out;
}

Tensor div(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(kernels::BinaryOp::Div, a, b, "div");
  if (autograd::needs_history({&a, &b})) {
    autograd::record(
        "div", {a, b}, {out},
        [a, b, out_saved = out.detach()](const std::vector<Tensor>& g,
                                         const std::vector<bool>& needs) {
          // out = a / b:  d/da = 1/b,  d/db = -a/b^2 = -out/b
          Tensor g_over_b = div(g[0], b);
          return std::vector<Tensor>{
              needs[0] ? sum_to(g_over_b, a.sizes()) : Tensor(),
              needs[1] ? sum_to(neg(mul(g_over_b, out_saved)), b.sizes()) : Tensor()};
        },
        autograd::DoubleBackward(
            [a, b](const std::vector<Tensor>& g, const std::vector<bool>& needs) {
              // the same, with out recomputed as a / b so that it carries history
              Tensor g_over_b = div(g[0], b);
              return std::vector<Tensor>{
                  needs[0] ? sum_to(g_over_b, a.sizes()) : Tensor(),
                  needs[1] ? sum_to(neg(mul(g_over_b, div(a, b))), b.sizes()) : Tensor()};
            }));
  }
  return out;
}

Tensor affine(const Tensor& a, double scale, double shift) {
  return unary_forward(kernels::UnaryOp::Affine, a, static_cast<float>(scale),
                       static_cast<float>(shift), "affine");
}

Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
Tensor operator-(const Tensor& a) { return neg(a); }
Tensor operator+(const Tensor& a, double b) { return affine(a, 1.0, b); }
Tensor operator+(double a, const Tensor& b) { return affine(b, 1.0, a); }
Tensor operator-(const Tensor& a, double b) { return affine(a, 1.0, -b); }
Tensor operator-(double a, const Tensor& b) { return affine(b, -1.0, a); }
Tensor operator*(const Tensor& a, double b) { return affine(a, b, 0.0); }
Tensor operator*(double a, const Tensor& b) { return affine(b, a, 0.0); }
Tensor operator/(const Tensor& a, double b) { return affine(a, 1.0 / b, 0.0); }

Tensor neg(const Tensor& x) { return unary_forward(kernels::UnaryOp::Neg, x, 0, 0, "neg"); }
Tensor exp(const Tensor& x) { return unary_forward(kernels::UnaryOp::Exp, x, 0, 0, "exp"); }
Tensor log(const Tensor& x) { return unary_forward(kernels::UnaryOp::Log, x, 0, 0, "log"); }
Tensor tanh(const Tensor& x) { return unary_forward(kernels::UnaryOp::Tanh, x, 0, 0, "tanh"); }
Tensor sigmoid(const Tensor& x) { return unary_forward(kernels::UnaryOp::Sigmoid, x, 0, 0, "sigmoid"); }
Tensor relu(const Tensor& x) { return unary_forward(kernels::UnaryOp::Relu, x, 0, 0, "relu"); }
Tensor leaky_relu(const Tensor& x, double negative_slope) {
  return unary_forward(kernels::UnaryOp::LeakyRelu, x, static_cast<float>(negative_slope), 0,
                       "leaky_relu");
}
Tensor sqrt(const Tensor& x) { return unary_forward(kernels::UnaryOp::Sqrt, x, 0, 0, "sqrt"); }
Tensor pow(const Tensor& x, double exponent) {
  return unary_forward(kernels::UnaryOp::Pow, x, static_cast<float>(exponent), 0, "pow");
}
Tensor clamp(const Tensor& x, std::optional<double> min, std::optional<double> max) {
  NN_CHECK(min || max, "clamp: expected at least one of min and max, got neither");
  constexpr float kInf = std::numeric_limits<float>::infinity();
  return unary_forward(kernels::UnaryOp::Clamp, x, min ? static_cast<float>(*min) : -kInf,
                       max ? static_cast<float>(*max) : kInf, "clamp");
}

}  // namespace nn
