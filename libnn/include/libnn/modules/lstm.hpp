// LSTM and LSTMCell: PyTorch's nn.LSTM (stacked, unidirectional or bidirectional) and
// nn.LSTMCell, with the same parameter names, shapes and order, so state dicts interchange
// with PyTorch's.
//
// LSTM runs each layer as one fused op over the whole sequence (nn::lstm_layer, ops.hpp);
// calling it with T = 1 and carrying the state is the way to generate step by step. A
// bidirectional LSTM runs the same op a second time per layer on the input reversed in time
// and reverses that output back (no second set of kernels).
// LSTMCell is one step written with the elementwise ops (linear, sigmoid, tanh, ...), as
// PyTorch's formula reads: simple, differentiable by autograd, and an independent check of
// the fused layer (tests/libnn/test_lstm.cpp).
#pragma once

#include <cstdint>
#include <optional>
#include <tuple>
#include <vector>

#include "libnn/module.hpp"
#include "libnn/random.hpp"

namespace nn {

// (h, c): each (num_layers * D, B, H) for LSTM (D = 2 when bidirectional, else 1), (B, H)
// for LSTMCell.
using LSTMState = std::tuple<Tensor, Tensor>;

struct LSTMOptions {
  LSTMOptions(std::int64_t input_size, std::int64_t hidden_size)
      : input_size_(input_size), hidden_size_(hidden_size) {}
  LIBNN_ARG(std::int64_t, input_size, {})
  LIBNN_ARG(std::int64_t, hidden_size, {})
  LIBNN_ARG(std::int64_t, num_layers, 1)
  LIBNN_ARG(bool, bias, true)
  // Input and output (B,T,*) instead of (T,B,*); the state stays (num_layers*D,B,H).
  LIBNN_ARG(bool, batch_first, false)
  // A second LSTM per layer reads the sequence backwards (PyTorch's): the output is
  // (T,B,2H), [forward, reverse] along the last dimension; layer l > 0 takes 2H inputs; the
  // state is (num_layers*2,B,H) ordered layer 0 forward, layer 0 reverse, layer 1 forward...
  LIBNN_ARG(bool, bidirectional, false)
  // Dropout on the output of every layer but the last, in training mode only (PyTorch's).
  LIBNN_ARG(double, dropout, 0.0)
  // Draws the initial weights and the dropout masks (the global generator when null); must
  // outlive the module.
  LIBNN_ARG(Generator*, generator, nullptr)
};

class LSTM : public Module {
 public:
  explicit LSTM(const LSTMOptions& options);
  LSTM(std::int64_t input_size, std::int64_t hidden_size)
      : LSTM(LSTMOptions(input_size, hidden_size)) {}

  // input (T,B,I), or (B,T,I) with batch_first; hx = (h0, c0), each (num_layers*D,B,H),
  // zeros when absent. Returns the last layer's output (T,B,D*H) (or (B,T,D*H)) and the
  // final state (h_n, c_n), each (num_layers*D,B,H); D = 2 when bidirectional, else 1.
  std::tuple<Tensor, LSTMState> forward(const Tensor& input,
                                        const std::optional<LSTMState>& hx = std::nullopt);
  // PyTorch's default: every weight and bias U(-1/sqrt(H), 1/sqrt(H)).
  void reset_parameters();
  std::string extra_repr() const override;

  LSTMOptions options;
  // Per layer k and direction d (index k*D + d; D = 2 when bidirectional, else 1), PyTorch's
  // weight_ih_l{k}[_reverse] (4H, I for k = 0 else D*H), weight_hh_l{k}[_reverse] (4H,H),
  // bias_ih_l{k}[_reverse], bias_hh_l{k}[_reverse] (4H; undefined without bias), registered
  // in PyTorch's order (layer by layer, forward before reverse). Gates i, f, g, o along 4H.
  std::vector<Tensor> weight_ih, weight_hh, bias_ih, bias_hh;
};

struct LSTMCellOptions {
  LSTMCellOptions(std::int64_t input_size, std::int64_t hidden_size)
      : input_size_(input_size), hidden_size_(hidden_size) {}
  LIBNN_ARG(std::int64_t, input_size, {})
  LIBNN_ARG(std::int64_t, hidden_size, {})
  LIBNN_ARG(bool, bias, true)
  // Draws the initial weights (the global generator when null).
  LIBNN_ARG(Generator*, generator, nullptr)
};

class LSTMCell : public Module {
 public:
  explicit LSTMCell(const LSTMCellOptions& options);
  LSTMCell(std::int64_t input_size, std::int64_t hidden_size)
      : LSTMCell(LSTMCellOptions(input_size, hidden_size)) {}

  // input (B,I); hx = (h, c), each (B,H), zeros when absent -> the next (h, c).
  LSTMState forward(const Tensor& input, const std::optional<LSTMState>& hx = std::nullopt);
  // PyTorch's default: every weight and bias U(-1/sqrt(H), 1/sqrt(H)).
  void reset_parameters();
  std::string extra_repr() const override;

  LSTMCellOptions options;
  Tensor weight_ih;  // (4H,I)
  Tensor weight_hh;  // (4H,H)
  Tensor bias_ih;    // (4H), undefined without bias
  Tensor bias_hh;    // (4H), undefined without bias
};

}  // namespace nn
