// The CUDA kernel families, each registering its kernels with the kernel tables
// (src/kernels/*.hpp). nn::cuda::init() (src/cuda/context.cu) calls every one, once.
//
// libnn is a static library: a registrar relying on a static initializer in a .cu file would
// be dropped by the linker when nothing else references that file, so registration is an
// explicit call. Adding a CUDA kernel: write it in src/cuda/<family>.cu next to its
// family's others and set() it in that family's register function below.
#pragma once

namespace nn::cuda {

void register_memory_kernels();       // memory.cu: fill, copy, copy_block, transpose, random, convert
void register_elementwise_kernels();  // elementwise.cu: binary, expand, unary(+backward), axpy
void register_gemm_kernels();         // gemm.cu: gemm, gemm_batched (cuBLAS)
void register_reduce_kernels();       // reduce.cu: sum_dim, max_dim, max_dim_backward
void register_softmax_kernels();      // softmax.cu
void register_loss_kernels();         // loss.cu: cross-entropy, BCE with logits
void register_norm_kernels();         // norm.cu: layer norm, batch norm
void register_embedding_kernels();    // embedding.cu
void register_optim_kernels();        // optim.cu: SGD, Adam(W), RMSprop steps, abs_pow_sum
void register_lstm_kernels();         // lstm.cu: lstm_forward, lstm_backward
void register_lstm_step_kernels();    // lstm_step.cu: lstm_step, make_token_loop (nn::LSTMStepper,
                                      // LSTMTokenLoop)
void register_conv_kernels();         // conv.cu: im2col, col2im

}  // namespace nn::cuda
