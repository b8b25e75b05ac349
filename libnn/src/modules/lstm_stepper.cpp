// LSTMStepper (libnn/modules/lstm_stepper.hpp): the weights copied (float32) or rounded to
// float16 once, then one kernel call per layer and step (kernels::lstm_step,
// src/kernels/lstm.hpp: src/cpu/lstm_gemv.cpp, src/cuda/lstm_step.cu).
#include "libnn/modules/lstm_stepper.hpp"

#include <cstdint>
#include <string>
#include <utility>

#include "core/check.hpp"
#include "cpu/lstm_gemv.hpp"
#include "kernels/lstm.hpp"
#include "libnn/autograd.hpp"
#include "libnn/ops.hpp"

namespace nn {

namespace {

// w as IEEE half (round to nearest even), on w's device (converted on the CPU).
Tensor to_half(const Tensor& w) {
  const Tensor src = w.detach().to(Device::cpu());
  Tensor out = empty(src.sizes(), TensorOptions().dtype(DType::Float16));
  const float* p = src.data_ptr<float>();
  auto* q = static_cast<std::uint16_t*>(out.raw_data());
  for (std::int64_t i = 0, n = src.numel(); i < n; ++i) q[i] = cpu::lstm_detail::float_to_half(p[i]);
  return w.device().is_cpu() ? out : out.to(w.device());
}

// The float32 values of a half tensor (exact).
Tensor from_half(const Tensor& h) {
  const Tensor src = h.to(Device::cpu());
  Tensor out = empty(src.sizes());
  const auto* p = static_cast<const std::uint16_t*>(src.raw_data());
  float* q = out.data_ptr<float>();
  for (std::int64_t i = 0, n = src.numel(); i < n; ++i) q[i] = cpu::lstm_detail::half_to_float(p[i]);
  return h.device().is_cpu() ? out : out.to(h.device());
}

}  // namespace

LSTMStepper::LSTMStepper(const LSTM& lstm, const LSTMStepperOptions& options)
    : input_size_(lstm.options.input_size()), hidden_size_(lstm.options.hidden_size()),
      weight_dtype_(options.weight_dtype()) {
  NN_CHECK(weight_dtype_ == DType::Float32 || weight_dtype_ == DType::Float16,
           "LSTMStepper: expected weight_dtype float32 or float16, got {}",
           dtype_name(weight_dtype_));
  NN_CHECK(!lstm.options.bidirectional(),
           "LSTMStepper: expected a unidirectional LSTM, got a bidirectional one (its reverse "
           "direction reads the whole sequence backwards, so it cannot be stepped forward one "
           "step at a time)");
  NoGradGuard no_grad;
  const bool half = weight_dtype_ == DType::Float16;
  for (std::size_t k = 0; k < lstm.weight_ih.size(); ++k) {
    Layer l;
    l.w_ih = half ? to_half(lstm.weight_ih[k]) : lstm.weight_ih[k].detach().clone();
    l.w_hh = half ? to_half(lstm.weight_hh[k]) : lstm.weight_hh[k].detach().clone();
    // b_ih + b_hh, as lstm_layer adds them (src/cpu/lstm.cpp), so the float32 mode gives
    // the same bits.
    if (lstm.bias_ih[k].defined()) l.bias = lstm.bias_ih[k].detach() + lstm.bias_hh[k].detach();
    layers_.push_back(std::move(l));
  }
}

LSTMStepper::LSTMStepper(const Embedding& embedding, const LSTM& lstm,
                         const LSTMStepperOptions& options)
    : LSTMStepper(lstm, options) {
  NN_CHECK(embedding.weight.dim() == 2 && embedding.weight.size(1) == input_size_,
           "LSTMStepper: expected an embedding of shape (V,{}) (the LSTM's input_size), got {}",
           input_size_, shape_str(embedding.weight.sizes()));
  NoGradGuard no_grad;
  const Tensor& w = layers_[0].w_ih;
  // table (V,4H) = E (V,I) · w_ih^T, with w_ih as the stepper stores it.
  table_ = linear(embedding.weight.detach(), w.dtype() == DType::Float16 ? from_half(w) : w);
}

void LSTMStepper::prepare_state(LSTMState& state, std::int64_t batch, const char* what) const {
  auto& [h, c] = state;
  const Shape shape{num_layers(), batch, hidden_size_};
  const Device device = layers_[0].w_hh.device();
  if (!h.defined() && !c.defined()) {
    h = zeros(shape, TensorOptions().device(device));
    c = zeros(shape, TensorOptions().device(device));
    return;
  }
  for (const auto& [t, name] : {std::pair<const Tensor&, const char*>{h, "h"}, {c, "c"}}) {
    NN_CHECK(t.defined(), "LSTMStepper::{}: expected state {} of shape (num_layers,B,H) = {}, got "
             "an undefined tensor (both h and c undefined start from zeros)", what, name,
             shape_str(shape));
    NN_CHECK(t.sizes() == shape, "LSTMStepper::{}: expected state {} of shape (num_layers,B,H) = {}, "
             "got {}", what, name, shape_str(shape), shape_str(t.sizes()));
    NN_CHECK(t.dtype() == DType::Float32 && t.device() == device,
             "LSTMStepper::{}: expected state {} of dtype float32 on {}, got {} on {}", what, name,
             device.str(), dtype_name(t.dtype()), t.device().str());
  }
}

Tensor LSTMStepper::run(const Tensor& x, const Tensor& gx, LSTMState& state) const {
  NoGradGuard no_grad;
  const std::int64_t B = (x.defined() ? x : gx).size(0), H = hidden_size_, L = num_layers();
  const Device device = layers_[0].w_hh.device();
  auto& [h, c] = state;
  // The new state of every layer, copied into `state` after the last layer (the kernel must
  // not write its inputs): one allocation and one copy each per step, whatever L.
  Tensor h_next = empty({L, B, H}, TensorOptions().device(device));
  Tensor c_next = empty({L, B, H}, TensorOptions().device(device));
  Tensor input = x;
  for (std::int64_t k = 0; k < L; ++k) {
    const Layer& l = layers_[static_cast<std::size_t>(k)];
    const Tensor h_k = h.slice(0, k, k + 1).reshape({B, H});
    const Tensor c_k = c.slice(0, k, k + 1).reshape({B, H});
    Tensor h_new = h_next.slice(0, k, k + 1).reshape({B, H});
    Tensor c_new = c_next.slice(0, k, k + 1).reshape({B, H});
    kernels::lstm_step(device, input, k == 0 ? gx : Tensor(), l.w_ih, l.w_hh, l.bias, h_k, c_k,
                       h_new, c_new);
    input = h_new;
  }
  h.copy_(h_next);
  c.copy_(c_next);
  return input;
}

Tensor LSTMStepper::step(const Tensor& x, LSTMState& state) const {
  NN_CHECK(x.defined() && x.dim() == 2 && x.size(1) == input_size_,
           "LSTMStepper::step: expected x of shape (B,{}), got {}", input_size_,
           x.defined() ? shape_str(x.sizes()) : std::string("an undefined tensor"));
  const Device device = layers_[0].w_hh.device();
  NN_CHECK(x.dtype() == DType::Float32 && x.device() == device,
           "LSTMStepper::step: expected x of dtype float32 on {}, got {} on {}", device.str(),
           dtype_name(x.dtype()), x.device().str());
  prepare_state(state, x.size(0), "step");
  return run(x.detach(), Tensor(), state);
}

Tensor LSTMStepper::step_tokens(const Tensor& tokens, LSTMState& state) const {
  NN_CHECK(table_.defined(),
           "LSTMStepper::step_tokens: this stepper has no embedding; construct it with "
           "LSTMStepper(embedding, lstm, options), or call step() with the embedded input");
  NN_CHECK(tokens.defined() && tokens.dim() == 1 && tokens.dtype() == DType::Int64,
           "LSTMStepper::step_tokens: expected tokens of shape (B) and dtype int64, got {}",
           tokens.defined() ? tokens.str() : std::string("an undefined tensor"));
  // The rows of the folded table (embedding checks every index against V), before the
  // state is touched: a bad token leaves it as it was.
  const Tensor gx = embedding(table_, tokens);
  prepare_state(state, tokens.size(0), "step_tokens");
  return run(Tensor(), gx, state);
}

}  // namespace nn
