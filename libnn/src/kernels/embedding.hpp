// Embedding kernels: the row gather of the forward, the index check, and the row
// scatter-add of the backward. The op (src/ops/embedding.cpp) flattens the indices to (N).
#pragma once

#include <cstdint>

#include "kernels/table.hpp"
#include "libnn/tensor.hpp"

namespace nn::kernels {

// indices (N) int64 -> the first position n whose value is outside [0, V), or -1 when all
// are valid. A separate pass so that the forward never reads outside weight.
using EmbeddingCheckFn = std::int64_t(const Tensor& indices, std::int64_t N, std::int64_t V);
extern Table<EmbeddingCheckFn> embedding_check;

// out (N,D) = weight (V,D)[indices (N)]; the indices are valid (checked above).
using EmbeddingForwardFn = void(const Tensor& weight, const Tensor& indices, Tensor& out,
                                std::int64_t N, std::int64_t V, std::int64_t D);
extern Table<EmbeddingForwardFn> embedding_forward;

// dweight (V,D) = sum over the n with indices[n] == v of dout[n] (overwritten; rows never
// indexed are zero). Deterministic: each row sums its positions in ascending n, whatever the
// number of threads -- no atomics.
using EmbeddingBackwardFn = void(const Tensor& dout, const Tensor& indices, Tensor& dweight,
                                 std::int64_t N, std::int64_t V, std::int64_t D);
extern Table<EmbeddingBackwardFn> embedding_backward;

}  // namespace nn::kernels
