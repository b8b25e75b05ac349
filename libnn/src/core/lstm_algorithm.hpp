// Internal: the CUDA LSTM kernels (src/cuda/lstm.cu) record what they ran for
// nn::cuda::last_lstm_run() (libnn/cuda.hpp).
#pragma once

#include <string>

namespace nn::cuda::detail {
void record_lstm_run(bool backward, std::string what);
}  // namespace nn::cuda::detail
