// LSTM and LSTMCell (libnn/modules/lstm.hpp).
#include "libnn/modules/lstm.hpp"

#include <cmath>
#include <string>

#include "core/check.hpp"
#include "libnn/init.hpp"
#include "libnn/ops.hpp"

namespace nn {

namespace {

// PyTorch's RNN initialization: every parameter U(-1/sqrt(H), 1/sqrt(H)), drawn in
// registration order.
void uniform_all(const std::vector<Tensor>& params, std::int64_t hidden_size, Generator* gen) {
  const double bound = 1.0 / std::sqrt(static_cast<double>(hidden_size));
  for (const Tensor& p : params) init::uniform_(p, -bound, bound, gen);
}

// Checks one state tensor of the (h, c) pair against its expected shape.
void check_state(const Tensor& t, const Shape& shape, const char* what, const char* name,
                 const char* letters, const Tensor& input) {
  NN_CHECK(t.defined(), "{}: expected {} of shape {} {}, got an undefined tensor", what, name,
           letters, shape_str(shape));
  NN_CHECK(t.sizes() == shape, "{}: expected {} of shape {} = {}, got {}", what, name, letters,
           shape_str(shape), shape_str(t.sizes()));
  NN_CHECK(t.dtype() == DType::Float32 && t.device() == input.device(),
           "{}: expected {} of dtype float32 on {} (the input's device), got {} on {}", what, name,
           input.device().str(), dtype_name(t.dtype()), t.device().str());
}

}  // namespace

// --- LSTM -------------------------------------------------------------------------------

LSTM::LSTM(const LSTMOptions& options_) : options(options_) {
  NN_CHECK(options.input_size() > 0 && options.hidden_size() > 0 && options.num_layers() > 0,
           "LSTM: expected input_size, hidden_size and num_layers > 0, got {}, {} and {}",
           options.input_size(), options.hidden_size(), options.num_layers());
  NN_CHECK(options.dropout() >= 0.0 && options.dropout() <= 1.0,
           "LSTM: expected a dropout probability in [0,1], got {}", options.dropout());
  const std::int64_t H = options.hidden_size();
  const std::int64_t D = options.bidirectional() ? 2 : 1;
  for (std::int64_t k = 0; k < options.num_layers(); ++k) {
    const std::int64_t in = k == 0 ? options.input_size() : D * H;
    for (std::int64_t d = 0; d < D; ++d) {
      const std::string l = "_l" + std::to_string(k) + (d == 1 ? "_reverse" : "");
      weight_ih.push_back(register_parameter("weight_ih" + l, empty({4 * H, in})));
      weight_hh.push_back(register_parameter("weight_hh" + l, empty({4 * H, H})));
      bias_ih.push_back(
          register_parameter("bias_ih" + l, options.bias() ? empty({4 * H}) : Tensor()));
      bias_hh.push_back(
          register_parameter("bias_hh" + l, options.bias() ? empty({4 * H}) : Tensor()));
    }
  }
  reset_parameters();
}

void LSTM::reset_parameters() {
  std::vector<Tensor> params;
  for (std::size_t k = 0; k < weight_ih.size(); ++k) {
    for (const Tensor& p : {weight_ih[k], weight_hh[k], bias_ih[k], bias_hh[k]}) {
      if (p.defined()) params.push_back(p);
    }
  }
  uniform_all(params, options.hidden_size(), options.generator());
}

std::tuple<Tensor, LSTMState> LSTM::forward(const Tensor& input,
                                            const std::optional<LSTMState>& hx) {
  const std::int64_t I = options.input_size(), H = options.hidden_size();
  const std::int64_t L = options.num_layers();
  const std::int64_t D = options.bidirectional() ? 2 : 1;
  const char* layout = options.batch_first() ? "(B,T," : "(T,B,";
  NN_CHECK(input.dim() == 3 && input.size(2) == I, "LSTM: expected input of shape {}{}), got {}",
           layout, I, shape_str(input.sizes()));
  NN_CHECK(input.dtype() == DType::Float32, "LSTM: expected input of dtype float32, got {}",
           dtype_name(input.dtype()));
  Tensor x = options.batch_first() ? input.transpose(0, 1) : input;
  NN_CHECK(x.size(0) > 0, "LSTM: expected a sequence of at least one step, got input {}",
           shape_str(input.sizes()));
  const std::int64_t B = x.size(1);
  if (hx) {
    const char* letters = D == 2 ? "(num_layers*2,B,H)" : "(num_layers,B,H)";
    check_state(std::get<0>(*hx), {L * D, B, H}, "LSTM", "h0", letters, input);
    check_state(std::get<1>(*hx), {L * D, B, H}, "LSTM", "c0", letters, input);
  }

  // h_n, c_n: PyTorch's order, layer 0 forward, layer 0 reverse, layer 1 forward, ...
  std::vector<Tensor> h_n, c_n;
  for (std::int64_t k = 0; k < L; ++k) {
    std::vector<Tensor> outs;
    for (std::int64_t d = 0; d < D; ++d) {
      const std::int64_t j = k * D + d;
      const auto u = static_cast<std::size_t>(j);
      Tensor h0, c0;
      if (hx) {
        h0 = std::get<0>(*hx).slice(0, j, j + 1).squeeze(0);
        c0 = std::get<1>(*hx).slice(0, j, j + 1).squeeze(0);
      }
      // The reverse direction: the forward op on x reversed in time, its output reversed
      // back so that step t of both directions lines up.
      const Tensor in = d == 0 ? x : flip(x, 0);
      LSTMLayerResult r =
          lstm_layer(in, h0, c0, weight_ih[u], weight_hh[u], bias_ih[u], bias_hh[u]);
      outs.push_back(d == 0 ? r.output : flip(r.output, 0));
      h_n.push_back(r.h);
      c_n.push_back(r.c);
    }
    x = D == 1 ? outs[0] : cat(outs, 2);
    if (k + 1 < L && options.dropout() > 0.0 && is_training()) {
      x = dropout(x, options.dropout(), /*training=*/true, options.generator());
    }
  }
  Tensor output = options.batch_first() ? x.transpose(0, 1) : x;
  if (h_n.size() == 1) return {output, {h_n[0].unsqueeze(0), c_n[0].unsqueeze(0)}};
  return {output, {stack(h_n, 0), stack(c_n, 0)}};
}

std::string LSTM::extra_repr() const {
  std::string s = fmt::format("{}, {}", options.input_size(), options.hidden_size());
  if (options.num_layers() != 1) s += fmt::format(", num_layers={}", options.num_layers());
  if (!options.bias()) s += ", bias=false";
  if (options.batch_first()) s += ", batch_first=true";
  if (options.dropout() != 0.0) s += fmt::format(", dropout={}", options.dropout());
  if (options.bidirectional()) s += ", bidirectional=true";
  return s;
}

// --- LSTMCell ---------------------------------------------------------------------------

LSTMCell::LSTMCell(const LSTMCellOptions& options_) : options(options_) {
  NN_CHECK(options.input_size() > 0 && options.hidden_size() > 0,
           "LSTMCell: expected input_size and hidden_size > 0, got {} and {}",
           options.input_size(), options.hidden_size());
  const std::int64_t H = options.hidden_size();
  weight_ih = register_parameter("weight_ih", empty({4 * H, options.input_size()}));
  weight_hh = register_parameter("weight_hh", empty({4 * H, H}));
  bias_ih = register_parameter("bias_ih", options.bias() ? empty({4 * H}) : Tensor());
  bias_hh = register_parameter("bias_hh", options.bias() ? empty({4 * H}) : Tensor());
  reset_parameters();
}

void LSTMCell::reset_parameters() {
  std::vector<Tensor> params{weight_ih, weight_hh};
  if (bias_ih.defined()) params.insert(params.end(), {bias_ih, bias_hh});
  uniform_all(params, options.hidden_size(), options.generator());
}

LSTMState LSTMCell::forward(const Tensor& input, const std::optional<LSTMState>& hx) {
  const std::int64_t I = options.input_size(), H = options.hidden_size();
  NN_CHECK(input.dim() == 2 && input.size(1) == I,
           "LSTMCell: expected input of shape (B,{}), got {}", I, shape_str(input.sizes()));
  NN_CHECK(input.dtype() == DType::Float32, "LSTMCell: expected input of dtype float32, got {}",
           dtype_name(input.dtype()));
  const std::int64_t B = input.size(0);
  if (hx) {
    check_state(std::get<0>(*hx), {B, H}, "LSTMCell", "h", "(B,H)", input);
    check_state(std::get<1>(*hx), {B, H}, "LSTMCell", "c", "(B,H)", input);
  }
  // An absent state is zeros, as in PyTorch (so weight_hh gets a zero gradient, not none).
  const Tensor h_prev = hx ? std::get<0>(*hx) : zeros({B, H}, input.options());
  const Tensor c_prev = hx ? std::get<1>(*hx) : zeros({B, H}, input.options());
  // G = x w_ih^T + b_ih + h w_hh^T + b_hh
  const Tensor gates = linear(input, weight_ih, bias_ih) + linear(h_prev, weight_hh, bias_hh);
  const Tensor i = sigmoid(gates.slice(1, 0, H));
  const Tensor f = sigmoid(gates.slice(1, H, 2 * H));
  const Tensor g = tanh(gates.slice(1, 2 * H, 3 * H));
  const Tensor o = sigmoid(gates.slice(1, 3 * H, 4 * H));
  // c' = f * c + i * g; h' = o * tanh(c')
  const Tensor c = f * c_prev + i * g;
  const Tensor h = o * tanh(c);
  return {h, c};
}

std::string LSTMCell::extra_repr() const {
  std::string s = fmt::format("{}, {}", options.input_size(), options.hidden_size());
  if (!options.bias()) s += ", bias=false";
  return s;
}

}  // namespace nn
