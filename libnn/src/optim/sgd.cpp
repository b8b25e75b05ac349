// SGD (libnn/optim/sgd.hpp): option checks and the step; the update itself is the fused
// multi-tensor kernel kernels::sgd_step_multi (src/cpu/optim.cpp), called once per device.
#include "libnn/optim/sgd.hpp"

#include "core/check.hpp"
#include "kernels/optim.hpp"

namespace nn::optim {

SGD::SGD(std::vector<Tensor> params, SGDOptions options)
    : Optimizer(std::move(params), "SGD"), options_(options) {
  NN_CHECK(options_.lr() >= 0.0, "SGD: expected lr >= 0, got {}", options_.lr());
  NN_CHECK(options_.momentum() >= 0.0, "SGD: expected momentum >= 0, got {}", options_.momentum());
  NN_CHECK(options_.weight_decay() >= 0.0, "SGD: expected weight_decay >= 0, got {}",
           options_.weight_decay());
  NN_CHECK(!options_.nesterov() || (options_.momentum() > 0.0 && options_.dampening() == 0.0),
           "SGD: nesterov momentum expects momentum > 0 and dampening = 0, got momentum {} and "
           "dampening {}", options_.momentum(), options_.dampening());
}

std::vector<std::string> SGD::buffer_names() const {
  if (options_.momentum() == 0.0) return {};
  return {"momentum_buffer"};
}

void SGD::step() {
  kernels::SgdStep h;
  h.lr = options_.lr();
  h.momentum = options_.momentum();
  h.dampening = options_.dampening();
  h.weight_decay = options_.weight_decay();
  h.nesterov = options_.nesterov();
  h.maximize = options_.maximize();
  for_each_device_update([&](Device device, std::vector<PendingUpdate>& updates) {
    std::vector<kernels::SgdTensors> tensors;
    tensors.reserve(updates.size());
    for (PendingUpdate& u : updates) {
      ParamState& state = *u.state;
      Tensor* buffer = state.buffers.empty() ? nullptr : &state.buffers[0];
      tensors.push_back({&u.param, &u.grad, buffer, state.step == 1});
    }
    kernels::sgd_step_multi(device, tensors, h);
  });
}

}  // namespace nn::optim
