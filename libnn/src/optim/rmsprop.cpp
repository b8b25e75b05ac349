// RMSprop (libnn/optim/rmsprop.hpp): option checks and the step; the update is the fused
// multi-tensor kernel kernels::rmsprop_step_multi (src/cpu/optim.cpp), called once per device.
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
  kernels::RmspropStep h;
  h.lr = options_.lr();
  h.alpha = options_.alpha();
  h.eps = options_.eps();
  h.weight_decay = options_.weight_decay();
  h.momentum = options_.momentum();
  h.centered = options_.centered();
  h.maximize = options_.maximize();
  const bool has_momentum = h.momentum > 0.0;
  for_each_device_update([&](Device device, std::vector<PendingUpdate>& updates) {
    std::vector<kernels::RmspropTensors> tensors;
    tensors.reserve(updates.size());
    for (PendingUpdate& u : updates) {
      std::vector<Tensor>& b = u.state->buffers;  // in buffer_names() order
      Tensor* momentum_buffer = has_momentum ? &b[1] : nullptr;
      Tensor* grad_avg = h.centered ? &b[has_momentum ? 2 : 1] : nullptr;
      tensors.push_back({&u.param, &u.grad, &b[0], grad_avg, momentum_buffer});
    }
    kernels::rmsprop_step_multi(device, tensors, h);
  });
}

}  // namespace nn::optim
