// RMSprop (libnn/optim/rmsprop.hpp): option checks and the loop over parameters; the update
// is the fused kernel kernels::rmsprop_step (src/cpu/optim.cpp).
#include "libnn/optim/rmsprop.hpp"

#include "core/check.hpp"
#include "kernels/optim.hpp"

namespace nn::optim {

RMSprop::RMSprop(std::vector<Tensor> params, RMSpropOptions options)
    : Optimizer(std::move(params), "RMSprop"), options_(options) {
  NN_CHECK(options_.lr() >= 0.0, "RMSprop: expected lr >= 0, got {}", options_.lr());
  NN_CHECK(options_.alpha() >= 0.0, "RMSprop: expected alpha >= 0, got {}", options_.alpha());
  NN_CHECK(options_.eps() >= 0.0, "RMSprop: expected eps >= 0, got {}", options_.eps());
  NN_CHECK(options_.weight_decay() >= 0.0, "RMSprop: expected weight_decay >= 0, got {}",
           options_.weight_decay());
  NN_CHECK(options_.momentum() >= 0.0, "RMSprop: expected momentum >= 0, got {}",
           options_.momentum());
}

// Fixed order: square_avg, then momentum_buffer, then grad_avg (as PyTorch creates them).
std::vector<std::string> RMSprop::buffer_names() const {
  std::vector<std::string> names{"square_avg"};
  if (options_.momentum() > 0.0) names.emplace_back("momentum_buffer");
  if (options_.centered()) names.emplace_back("grad_avg");
  return names;
}

void RMSprop::step() {
  const bool has_momentum = options_.momentum() > 0.0;
  for_each_update([&](Tensor& param, const Tensor& grad, ParamState& state) {
    kernels::RmspropStep h;
    h.lr = options_.lr();
    h.alpha = options_.alpha();
    h.eps = options_.eps();
    h.weight_decay = options_.weight_decay();
    h.momentum = options_.momentum();
    h.centered = options_.centered();
    h.maximize = options_.maximize();
    Tensor none;
    Tensor& momentum_buffer = has_momentum ? state.buffers[1] : none;
    Tensor& grad_avg = h.centered ? state.buffers[has_momentum ? 2 : 1] : none;
    kernels::rmsprop_step(param.device(), param, grad, state.buffers[0], grad_avg,
                          momentum_buffer, h);
  });
}

}  // namespace nn::optim
