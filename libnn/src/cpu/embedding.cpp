// CPU embedding kernels (src/kernels/embedding.hpp): row gather forward, index check, and a
// backward that groups positions by destination row (a counting sort) so that each row is
// summed by one thread in ascending position order -- deterministic, no atomics.
#include "kernels/embedding.hpp"

#include <algorithm>
#include <cstring>
#include <vector>

#include "cpu/parallel.hpp"

namespace nn::cpu {
namespace {

std::int64_t embedding_check_cpu(const Tensor& indices, std::int64_t N, std::int64_t V) {
  const std::int64_t* idx = indices.data_ptr<std::int64_t>();
  for (std::int64_t n = 0; n < N; ++n) {
    if (idx[n] < 0 || idx[n] >= V) return n;
  }
  return -1;
}

// weight is (V,D), indices (N), out (N,D)
void embedding_forward_cpu(const Tensor& weight, const Tensor& indices, Tensor& out, std::int64_t N,
                           std::int64_t /*V*/, std::int64_t D) {
  const float* w = weight.data_ptr<float>();
  const std::int64_t* idx = indices.data_ptr<std::int64_t>();
  float* o = out.data_ptr<float>();
  parallel_for(N, std::max<std::int64_t>(1, (1 << 14) / std::max<std::int64_t>(1, D)),
               [&](std::int64_t begin, std::int64_t end) {
                 for (std::int64_t n = begin; n < end; ++n) {
                   std::memcpy(o + n * D, w + idx[n] * D,
                               static_cast<std::size_t>(D) * sizeof(float));
                 }
               });
}

// dout is (N,D), indices (N), dweight (V,D)
void embedding_backward_cpu(const Tensor& dout, const Tensor& indices, Tensor& dweight,
                            std::int64_t N, std::int64_t V, std::int64_t D) {
  const float* g = dout.data_ptr<float>();
  const std::int64_t* idx = indices.data_ptr<std::int64_t>();
  float* dw = dweight.data_ptr<float>();

  // Counting sort of positions by row, stable: row v's positions are
  // order[start[v] .. start[v+1]) in ascending n.
  std::vector<std::int64_t> start(static_cast<std::size_t>(V) + 1, 0);
  for (std::int64_t n = 0; n < N; ++n) ++start[static_cast<std::size_t>(idx[n]) + 1];
  for (std::int64_t v = 0; v < V; ++v) start[v + 1] += start[v];
  std::vector<std::int64_t> order(static_cast<std::size_t>(N));
  {
    std::vector<std::int64_t> next(start.begin(), start.end() - 1);
    for (std::int64_t n = 0; n < N; ++n) order[next[idx[n]]++] = n;
  }

  parallel_for(V, std::max<std::int64_t>(1, (1 << 14) / std::max<std::int64_t>(1, D)),
               [&](std::int64_t begin, std::int64_t end) {
                 std::vector<double> acc(static_cast<std::size_t>(D));
                 for (std::int64_t v = begin; v < end; ++v) {
                   float* row = dw + v * D;
                   const std::int64_t first = start[v], last = start[v + 1];
                   if (first == last) {
                     std::memset(row, 0, static_cast<std::size_t>(D) * sizeof(float));
                     continue;
                   }
                   // dweight[v] += dout[n] for each n with indices[n] == v, summed in double.
                   std::fill(acc.begin(), acc.end(), 0.0);
                   for (std::int64_t k = first; k < last; ++k) {
                     const float* src = g + order[k] * D;
                     for (std::int64_t d = 0; d < D; ++d) acc[d] += src[d];
                   }
                   for (std::int64_t d = 0; d < D; ++d) row[d] = static_cast<float>(acc[d]);
                 }
               });
}

}  // namespace
}  // namespace nn::cpu

namespace nn::kernels {
Table<EmbeddingCheckFn> embedding_check{"embedding_check", cpu::embedding_check_cpu};
Table<EmbeddingForwardFn> embedding_forward{"embedding_forward", cpu::embedding_forward_cpu};
Table<EmbeddingBackwardFn> embedding_backward{"embedding_backward", cpu::embedding_backward_cpu};
}  // namespace nn::kernels
