// The fused LSTM kernels: one layer over a whole sequence, forward and backward through
// time (the op is nn::lstm_layer, src/ops/lstm.cpp; the CPU kernels are src/cpu/lstm.cpp).
//
// Shapes (T steps, B batch, I input features, H hidden units, gates in PyTorch's order
// i, f, g, o along the 4H dimension):
//   x (T,B,I); h0, c0 (B,H); w_ih (4H,I); w_hh (4H,H); b_ih, b_hh (4H)
//   y (T,B,H) = h_1..h_T; h_n, c_n (B,H)
//   gates (T,B,4H): the activations i, f, g, o of every step; cells (T,B,H): c_1..c_T
// One step:  G = x_t w_ih^T + b_ih + h_{t-1} w_hh^T + b_hh
//            i, f, o = sigmoid(G_i, G_f, G_o), g = tanh(G_g)
//            c_t = f * c_{t-1} + i * g,  h_t = o * tanh(c_t)
//
// Optional tensors are passed undefined: h0 / c0 (zeros), b_ih / b_hh (no bias), and the
// outputs a caller does not want. All tensors are float32, contiguous, on one device; the
// op has checked the shapes. Both kernels must be deterministic (the same bits whatever the
// number of threads): every sum has a fixed order, no atomics.
#pragma once

#include "kernels/table.hpp"
#include "libnn/tensor.hpp"

namespace nn::kernels {

// Writes y, h_n, c_n. When `gates` and `cells` are defined (the caller will differentiate)
// it also leaves there what the backward needs; when undefined, it keeps only the state of
// the current step (inference). A kernel may replace the defined `gates` and `cells` with
// tensors of its own layout, which its device's backward recognises: the CUDA cudnn
// algorithm keeps cuDNN's reserve space and packed weights there (1-D tensors;
// src/cuda/lstm_paths.hpp). The op hands the backward whatever the forward left.
using LstmForwardFn = void(const Tensor& x, const Tensor& h0, const Tensor& c0,
                           const Tensor& w_ih, const Tensor& w_hh, const Tensor& b_ih,
                           const Tensor& b_hh, Tensor& y, Tensor& h_n, Tensor& c_n,
                           Tensor& gates, Tensor& cells);
extern Table<LstmForwardFn> lstm_forward;

// Back-propagation through time. dy (T,B,H), dh_n, dc_n (B,H): the gradients arriving at
// y, h_n, c_n (all defined; zeros where none arrived). x, h0, c0, w_ih, w_hh as given to
// the forward, y, gates, cells as it left them. Writes whichever of dx (T,B,I), dh0, dc0
// (B,H), dw_ih, dw_hh, db_ih, db_hh are defined (overwritten, not accumulated).
using LstmBackwardFn = void(const Tensor& dy, const Tensor& dh_n, const Tensor& dc_n,
                            const Tensor& x, const Tensor& h0, const Tensor& c0,
                            const Tensor& w_ih, const Tensor& w_hh, const Tensor& y,
                            const Tensor& gates, const Tensor& cells, Tensor& dx, Tensor& dh0,
                            Tensor& dc0, Tensor& dw_ih, Tensor& dw_hh, Tensor& db_ih,
                            Tensor& db_hh);
extern Table<LstmBackwardFn> lstm_backward;

// One time step of one LSTM layer for nn::LSTMStepper (src/modules/lstm_stepper.cpp):
//   G = x w_ih^T (or gx, the input projection already done) + h_prev w_hh^T + bias
//   i, f, o = sigmoid(G_i, G_f, G_o), g = tanh(G_g); c = f c_prev + i g; h = o tanh(c)
// x (B,I) float32, or undefined when gx (B,4H) float32 is given; w_ih (4H,I) (unused with
// gx, may then be undefined) and w_hh (4H,H), float32 or float16, one dtype; bias (4H)
// float32 = b_ih + b_hh, or undefined; h_prev, c_prev (B,H). Writes h and c (B,H), which
// must not alias h_prev or c_prev. Shapes are checked by the caller. Deterministic: the
// same bits whatever the thread count; at B <= 4 with float32 weights the same bits as
// lstm_layer at T = 1 (the same kernels in the same order).
using LstmStepFn = void(const Tensor& x, const Tensor& gx, const Tensor& w_ih, const Tensor& w_hh,
                        const Tensor& bias, const Tensor& h_prev, const Tensor& c_prev, Tensor& h,
                        Tensor& c);
extern Table<LstmStepFn> lstm_step;

}  // namespace nn::kernels
