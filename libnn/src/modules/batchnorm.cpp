// BatchNorm1d (libnn/modules/batchnorm.hpp). Follows torch.nn.modules.batchnorm._BatchNorm:
// num_batches_tracked counts training steps and gives the factor of a cumulative average
// when momentum is None.
#include "libnn/modules/batchnorm.hpp"

#include "core/check.hpp"
#include "libnn/autograd.hpp"
#include "libnn/init.hpp"
#include "libnn/ops.hpp"

namespace nn {

BatchNorm1d::BatchNorm1d(const BatchNormOptions& options_) : options(options_) {
  const std::int64_t C = options.num_features();
  NN_CHECK(C > 0, "BatchNorm1d: expected num_features > 0, got {}", C);
  weight = register_parameter("weight", options.affine() ? empty({C}) : Tensor());
  bias = register_parameter("bias", options.affine() ? empty({C}) : Tensor());
  const bool track = options.track_running_stats();
  running_mean = register_buffer("running_mean", track ? zeros({C}) : Tensor());
  running_var = register_buffer("running_var", track ? ones({C}) : Tensor());
  num_batches_tracked =
      register_buffer("num_batches_tracked", track ? zeros({}, DType::Int64) : Tensor());
  reset_parameters();
}

void BatchNorm1d::reset_running_stats() {
  if (!options.track_running_stats()) return;
  init::zeros_(running_mean);
  init::ones_(running_var);
  init::zeros_(num_batches_tracked);
}

void BatchNorm1d::reset_parameters() {
  reset_running_stats();
  if (weight.defined()) init::ones_(weight);
  if (bias.defined()) init::zeros_(bias);
}

Tensor BatchNorm1d::forward(const Tensor& x) {
  const std::int64_t C = options.num_features();
  NN_CHECK((x.dim() == 2 || x.dim() == 3) && x.size(1) == C,
           "BatchNorm1d: expected input of shape (N,{}) or (N,{},L), got {}", C, C,
           shape_str(x.sizes()));
  double momentum = options.momentum().value_or(0.0);
  if (is_training() && options.track_running_stats()) {
    // item + fill_ rather than data_ptr: works wherever the buffer lives.
    const std::int64_t count = num_batches_tracked.item<std::int64_t>() + 1;
    num_batches_tracked.fill_(static_cast<double>(count));
    if (!options.momentum()) momentum = 1.0 / static_cast<double>(count);
  }
  // Batch statistics in training, and always when there are no running stats (PyTorch).
  // batch_norm updates the running stats when it uses batch statistics and they are defined
  // (they are undefined without track_running_stats), and reads them otherwise.
  const bool use_batch_stats = is_training() || !options.track_running_stats();
  return batch_norm(x, running_mean, running_var, weight, bias, use_batch_stats, momentum,
                    options.eps());
}

std::string BatchNorm1d::extra_repr() const {
  return fmt::format("{}, eps={}, momentum={}, affine={}, track_running_stats={}",
                     options.num_features(), options.eps(),
                     options.momentum() ? fmt::format("{}", *options.momentum()) : "None",
                     options.affine(), options.track_running_stats());
}

}  // namespace nn
