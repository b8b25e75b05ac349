// Gradient clipping (libnn/optim/clip_grad.hpp). The norm comes from kernels::abs_pow_sum,
// which sums in double in a fixed order, so the clipping factor is the same whatever the
// thread count; the scaling and clamping reuse the elementwise unary kernel in place.
#include "libnn/optim/clip_grad.hpp"

#include <cmath>

#include "core/check.hpp"
#include "kernels/elementwise.hpp"
#include "kernels/optim.hpp"

namespace nn::optim {

namespace {

std::vector<Tensor> defined_grads(const std::vector<Tensor>& params, const char* what) {
  std::vector<Tensor> grads;
  for (std::size_t i = 0; i < params.size(); ++i) {
    NN_CHECK(params[i].defined(), "{}: parameter {} is an undefined tensor", what, i);
    Tensor g = params[i].grad();
    if (!g.defined()) continue;
    NN_CHECK(g.dtype() == DType::Float32, "{}: expected float32 gradients, parameter {}'s is {}",
             what, i, dtype_name(g.dtype()));
    grads.push_back(std::move(g));
  }
  return grads;
}

}  // namespace

double clip_grad_norm_(const std::vector<Tensor>& params, double max_norm, double norm_type,
                       bool error_if_nonfinite) {
  const bool inf_norm = std::isinf(norm_type) && norm_type > 0.0;
  NN_CHECK(inf_norm || (std::isfinite(norm_type) && norm_type > 0.0),
           "clip_grad_norm_: expected norm_type > 0 or infinity, got {}", norm_type);
  const std::vector<Tensor> grads = defined_grads(params, "clip_grad_norm_");
  if (grads.empty()) return 0.0;

  double total = 0.0;
  for (const Tensor& g : grads) {
    const double part = kernels::abs_pow_sum(g.device(), g, norm_type);
    total = inf_norm ? ((part > total || std::isnan(part)) ? part : total) : total + part;
  }
  if (!inf_norm) total = norm_type == 2.0 ? std::sqrt(total) : std::pow(total, 1.0 / norm_type);

  NN_CHECK(!error_if_nonfinite || std::isfinite(total),
           "clip_grad_norm_: the total norm of order {} of the gradients is {}, so they "
           "cannot be clipped (error_if_nonfinite is set)", norm_type, total);
  // PyTorch: clip_coef = max_norm / (total_norm + 1e-6), applied when below 1 (a NaN total
  // makes every gradient NaN, as there).
  const double coef = max_norm / (total + 1e-6);
  if (coef < 1.0 || std::isnan(coef)) {
    for (const Tensor& g : grads) {
      Tensor out = g;
      kernels::unary(g.device(), kernels::UnaryOp::Affine, g, out, static_cast<float>(coef), 0.0f);
    }
  }
  return total;
}

void clip_grad_value_(const std::vector<Tensor>& params, double clip_value) {
  NN_CHECK(clip_value >= 0.0, "clip_grad_value_: expected clip_value >= 0, got {}", clip_value);
  const auto c = static_cast<float>(clip_value);
  for (const Tensor& g : defined_grads(params, "clip_grad_value_")) {
    Tensor out = g;
    kernels::unary(g.device(), kernels::UnaryOp::Clamp, g, out, -c, c);
  }
}

}  // namespace nn::optim
