// Embedding: a lookup table of V rows of size D, PyTorch's nn.Embedding (parameter "weight").
// padding_idx, max_norm and sparse gradients are not supported.
#pragma once

#include <cstdint>

#include "libnn/module.hpp"
#include "libnn/random.hpp"

namespace nn {

struct EmbeddingOptions {
  EmbeddingOptions(std::int64_t num_embeddings, std::int64_t embedding_dim)
      : num_embeddings_(num_embeddings), embedding_dim_(embedding_dim) {}
  LIBNN_ARG(std::int64_t, num_embeddings, {})
  LIBNN_ARG(std::int64_t, embedding_dim, {})
  // Draws the initial weights (the global generator when null); used only while
  // constructing or in reset_parameters().
  LIBNN_ARG(Generator*, generator, nullptr)
};

class Embedding : public Module {
 public:
  explicit Embedding(const EmbeddingOptions& options);
  Embedding(std::int64_t num_embeddings, std::int64_t embedding_dim)
      : Embedding(EmbeddingOptions(num_embeddings, embedding_dim)) {}

  // indices int64 of any shape S, in [0,V) -> S + (D)
  Tensor forward(const Tensor& indices) const;
  // PyTorch's default: weight ~ N(0, 1).
  void reset_parameters();
  std::string extra_repr() const override;

  EmbeddingOptions options;
  Tensor weight;  // (V,D)
};

}  // namespace nn
