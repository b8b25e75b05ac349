// lstm_layer with autograd: one LSTM layer over a whole sequence as one fused op (forward
// and hand-derived backward through time in src/cpu/lstm.cpp, through the kernel tables of
// src/kernels/lstm.hpp). The forward keeps the gate activations and cells for the backward
// only when the op is recorded; under NoGradGuard, or when nothing requires grad, it keeps
// only the current step's state.
#include "kernels/lstm.hpp"

#include "core/check.hpp"
#include "libnn/autograd.hpp"
#include "libnn/ops.hpp"

namespace nn {

namespace {

// An optional tensor: undefined, or float32 of `shape` on x's device.
void check_optional(const Tensor& t, const Shape& shape, const Tensor& x, const char* name,
                    const char* letters) {
  if (!t.defined()) return;
  NN_CHECK(t.dtype() == DType::Float32, "lstm_layer: expected {} of dtype float32, got {}", name,
           dtype_name(t.dtype()));
  NN_CHECK(t.sizes() == shape, "lstm_layer: expected {} of shape {} {}, got {}", name, letters,
           shape_str(shape), shape_str(t.sizes()));
  NN_CHECK(t.device() == x.device(), "lstm_layer: expected {} on {} (x's device), got {}", name,
           x.device().str(), t.device().str());
}

}  // namespace

LSTMLayerResult lstm_layer(const Tensor& x, const Tensor& h0, const Tensor& c0,
                           const Tensor& w_ih, const Tensor& w_hh, const Tensor& b_ih,
                           const Tensor& b_hh) {
  NN_CHECK(x.defined() && w_ih.defined() && w_hh.defined(),
           "lstm_layer: expected x, w_ih and w_hh to be defined tensors");
  NN_CHECK(x.dtype() == DType::Float32, "lstm_layer: expected x of dtype float32, got {}",
           dtype_name(x.dtype()));
  NN_CHECK(x.dim() == 3 && x.size(0) > 0,
           "lstm_layer: expected x of shape (T,B,I) with T >= 1, got {}", shape_str(x.sizes()));
  NN_CHECK(w_hh.dim() == 2 && w_hh.size(0) == 4 * w_hh.size(1) && w_hh.size(1) > 0,
           "lstm_layer: expected w_hh of shape (4H,H) with H >= 1, got {}",
           shape_str(w_hh.sizes()));
  const std::int64_t T = x.size(0), B = x.size(1), I = x.size(2), H = w_hh.size(1);
  check_optional(w_ih, {4 * H, I}, x, "w_ih", "(4H,I) =");
  check_optional(w_hh, {4 * H, H}, x, "w_hh", "(4H,H) =");
  check_optional(h0, {B, H}, x, "h0", "(B,H) =");
  check_optional(c0, {B, H}, x, "c0", "(B,H) =");
  check_optional(b_ih, {4 * H}, x, "b_ih", "(4H) =");
  check_optional(b_hh, {4 * H}, x, "b_hh", "(4H) =");

  const std::vector<Tensor> inputs{x, h0, c0, w_ih, w_hh, b_ih, b_hh};
  const bool record = autograd::needs_history(inputs);
  Tensor y = empty({T, B, H}, x.options());
  Tensor h_n = empty({B, H}, x.options());
  Tensor c_n = empty({B, H}, x.options());
  Tensor gates = record ? empty({T, B, 4 * H}, x.options()) : Tensor();
  Tensor cells = record ? empty({T, B, H}, x.options()) : Tensor();
  kernels::lstm_forward(x.device(), x, h0, c0, w_ih, w_hh, b_ih, b_hh, y, h_n, c_n, gates, cells);

  if (record) {
    autograd::record(
        "lstm_layer", inputs, {y, h_n, c_n},
        [x, h0, c0, w_ih, w_hh, y = y.detach(), gates, cells](const std::vector<Tensor>& g,
                                                             const std::vector<bool>& needs) {
          // per step: G = x_t w_ih^T + b_ih + h_{t-1} w_hh^T + b_hh; i, f, o = sigmoid,
          // g = tanh; c_t = f c_{t-1} + i g; h_t = o tanh(c_t) (backward in src/cpu/lstm.cpp)
          auto grad_like = [&](std::size_t i, const Tensor& like) {
            return needs[i] ? empty(like.sizes(), like.options()) : Tensor();
          };
          Tensor dx = grad_like(0, x);
          Tensor dh0 = needs[1] ? empty(h0.sizes(), x.options()) : Tensor();
          Tensor dc0 = needs[2] ? empty(c0.sizes(), x.options()) : Tensor();
          Tensor dw_ih = grad_like(3, w_ih);
          Tensor dw_hh = grad_like(4, w_hh);
          Tensor db_ih = needs[5] ? empty({w_hh.size(0)}, x.options()) : Tensor();
          Tensor db_hh = needs[6] ? empty({w_hh.size(0)}, x.options()) : Tensor();
          kernels::lstm_backward(x.device(), g[0], g[1], g[2], x, h0, c0, w_ih, w_hh, y, gates,
                                 cells, dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh);
          return std::vector<Tensor>{dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh};
        });
  }
  return {y, h_n, c_n};
}

}  // namespace nn
