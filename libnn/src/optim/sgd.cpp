// SGD (libnn/optim/sgd.hpp): option checks and the loop over parameters; the update itself is
// the fused kernel kernels::sgd_step (src/cpu/optim.cpp).
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
  for_each_update([this](Tensor& param, const Tensor& grad, ParamState& state) {
    kernels::SgdStep h;
    h.lr = options_.lr();
    h.momentum = options_.momentum();
    h.dampening = options_.dampening();
    h.weight_decay = options_.weight_decay();
    h.nesterov = options_.nesterov();
    h.maximize = options_.maximize();
    h.first_step = state.step == 1;
    Tensor buffer = state.buffers.empty() ? Tensor() : state.buffers[0];
    kernels::sgd_step(param.device(), param, grad, buffer, h);
  });
}

}  // namespace nn::optim
