// Embedding (libnn/modules/embedding.hpp).
#include "libnn/modules/embedding.hpp"

#include "core/check.hpp"
#include "libnn/init.hpp"
#include "libnn/ops.hpp"

namespace nn {

Embedding::Embedding(const EmbeddingOptions& options_) : options(options_) {
  NN_CHECK(options.num_embeddings() > 0 && options.embedding_dim() >= 0,
           "Embedding: expected num_embeddings > 0 and embedding_dim >= 0, got {} and {}",
           options.num_embeddings(), options.embedding_dim());
  weight = register_parameter("weight", empty({options.num_embeddings(), options.embedding_dim()}));
  reset_parameters();
}

void Embedding::reset_parameters() { init::normal_(weight, 0.0, 1.0, options.generator()); }

Tensor Embedding::forward(const Tensor& indices) const {
  NN_CHECK(indices.dtype() == DType::Int64, "Embedding: expected int64 indices, got {}",
           dtype_name(indices.dtype()));
  return embedding(weight, indices);
}

std::string Embedding::extra_repr() const {
  return fmt::format("{}, {}", options.num_embeddings(), options.embedding_dim());
}

}  // namespace nn
