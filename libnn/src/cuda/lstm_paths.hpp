// The CUDA LSTM's other algorithms, called by src/cuda/lstm.cu (which owns the stepwise one
// and picks; nn::cuda::set_lstm_algorithm in libnn/cuda.hpp):
//   lstm_persistent.cu  the recurrence of all steps in one cooperative kernel, w_hh on chip
//   lstm_cudnn.cu       cuDNN's RNN, opened with dlopen
// All pointers are device float32 arrays in the layouts of src/kernels/lstm.hpp, on the
// current device and stream.
#pragma once

#include <cstdint>
#include <string>

#include "kernels/lstm_plan.hpp"
#include "libnn/tensor.hpp"

namespace nn::cuda::lstm {

// The persistent kernels' plan for (B, H) on the current device, with its occupancy asked;
// `bf16`: w_hh kept on chip in bf16 and the products' operands rounded to bf16 (the bf16
// matmul precision), float32 otherwise. The forward and backward run what the plan says.
kernels::LstmPersistentPlan persistent_plan(std::int64_t B, std::int64_t H, bool bf16);

// The forward recurrence. g (T,B,4H) holds x_t w_ih^T for every step; each step adds
// h_{t-1} w_hh^T and the biases and applies the cell update, leaving the activations in g
// when `save`. h0, c0, b_ih, b_hh may be null. Cells go to cbuf: (T,B,H) when `save`, else
// two (B,H) buffers taking turns (step t in t % 2). y (T,B,H) out. `plan` must fit.
void persistent_forward(const kernels::LstmPersistentPlan& plan, float* g, const float* b_ih,
                        const float* b_hh, const float* h0, const float* c0, const float* w_hh,
                        float* y, float* cbuf, bool save, std::int64_t T, std::int64_t B,
                        std::int64_t H);

// The backward recurrence: from dy (T,B,H), dh_n, dc_n (B,H) and the forward's activations
// a (T,B,4H) and cells cs (T,B,H) (c0 may be null), writes dg (T,B,4H), the gradients at the
// pre-activations, and dc0 (B,H) when not null. dc_work: (B,H) scratch. `plan` must fit.
void persistent_backward(const kernels::LstmPersistentPlan& plan, const float* a, const float* cs,
                         const float* c0, const float* dy, const float* dh_n, const float* dc_n,
                         const float* w_hh, float* dg, float* dc_work, float* dc0, std::int64_t T,
                         std::int64_t B, std::int64_t H);

// cuDNN (lstm_cudnn.cu). The forward writes y, h_n, c_n and, when `train`, replaces `gates`
// and `cells` with what its backward needs: gates becomes a 1-D byte-sized float tensor
// holding cuDNN's reserve space, cells the packed weights (is_cudnn_saved tells them apart
// from the other algorithms' (T,B,4H) gates). Throws nn::Error when cuDNN is missing.
void cudnn_forward(const Tensor& x, const Tensor& h0, const Tensor& c0, const Tensor& w_ih,
                   const Tensor& w_hh, const Tensor& b_ih, const Tensor& b_hh, Tensor& y,
                   Tensor& h_n, Tensor& c_n, Tensor& gates, Tensor& cells);
bool is_cudnn_saved(const Tensor& gates);
void cudnn_backward(const Tensor& dy, const Tensor& dh_n, const Tensor& dc_n, const Tensor& x,
                    const Tensor& h0, const Tensor& c0, const Tensor& w_ih, const Tensor& w_hh,
                    const Tensor& y, const Tensor& gates, const Tensor& cells, Tensor& dx,
                    Tensor& dh0, Tensor& dc0, Tensor& dw_ih, Tensor& dw_hh, Tensor& db_ih,
                    Tensor& db_hh);

}  // namespace nn::cuda::lstm
