// BatchNorm1d: PyTorch's nn.BatchNorm1d over x (N,C) or (N,C,L).
//
// Parameters "weight" (C) and "bias" (C) when affine; buffers "running_mean" (C),
// "running_var" (C) and "num_batches_tracked" (int64, 0-dim) when track_running_stats --
// PyTorch's names, order and dtypes, so state dicts interchange. In training (or always,
// without running stats) it normalizes with the batch's statistics and updates the running
// ones; in evaluation it uses the running ones.
#pragma once

#include <cstdint>
#include <optional>

#include "libnn/module.hpp"

namespace nn {

struct BatchNormOptions {
  BatchNormOptions(std::int64_t num_features)  // NOLINT: implicit, as in libtorch
      : num_features_(num_features) {}
  LIBNN_ARG(std::int64_t, num_features, {})
  LIBNN_ARG(double, eps, 1e-5)
  // running = (1 - momentum) * running + momentum * batch. std::nullopt: a cumulative average
  // (momentum 1/num_batches_tracked), as PyTorch's momentum=None.
  LIBNN_ARG(std::optional<double>, momentum, 0.1)
  LIBNN_ARG(bool, affine, true)
  LIBNN_ARG(bool, track_running_stats, true)
};

class BatchNorm1d : public Module {
 public:
  explicit BatchNorm1d(const BatchNormOptions& options);

  // x is (N,C) or (N,C,L) -> the same shape
  Tensor forward(const Tensor& x);
  // running_mean 0, running_var 1, num_batches_tracked 0.
  void reset_running_stats();
  // reset_running_stats(), weight 1, bias 0.
  void reset_parameters();
  std::string extra_repr() const override;

  BatchNormOptions options;
  Tensor weight;               // (C); undefined unless affine
  Tensor bias;                 // (C); undefined unless affine
  Tensor running_mean;         // (C); undefined unless track_running_stats
  Tensor running_var;          // (C); undefined unless track_running_stats
  Tensor num_batches_tracked;  // () int64; undefined unless track_running_stats
};

}  // namespace nn
