// Adam and AdamW (libnn/optim/adam.hpp): option checks and the step; both call the fused
// multi-tensor kernel kernels::adam_step_multi (src/cpu/optim.cpp) once per device, AdamW
// with decoupled decay.
#include "libnn/optim/adam.hpp"

#include "core/check.hpp"
#include "kernels/optim.hpp"

namespace nn::optim {

namespace {

template <class Options>
void check_adam_options(const Options& o, const char* what) {
  NN_CHECK(o.lr() >= 0.0, "{}: expected lr >= 0, got {}", what, o.lr());
  NN_CHECK(o.eps() >= 0.0, "{}: expected eps >= 0, got {}", what, o.eps());
  NN_CHECK(o.betas().first >= 0.0 && o.betas().first < 1.0,
           "{}: expected betas[0] in [0, 1), got {}", what, o.betas().first);
  NN_CHECK(o.betas().second >= 0.0 && o.betas().second < 1.0,
           "{}: expected betas[1] in [0, 1), got {}", what, o.betas().second);
  NN_CHECK(o.weight_decay() >= 0.0, "{}: expected weight_decay >= 0, got {}", what,
           o.weight_decay());
}

std::vector<std::string> adam_buffer_names(bool amsgrad) {
  if (amsgrad) return {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"};
  return {"exp_avg", "exp_avg_sq"};
}

template <class Options>
kernels::AdamStep adam_hyper(const Options& o, bool decoupled) {
  kernels::AdamStep h;
  h.lr = o.lr();
  h.beta1 = o.betas().first;
  h.beta2 = o.betas().second;
  h.eps = o.eps();
  h.weight_decay = o.weight_decay();
  h.decoupled_weight_decay = decoupled;
  h.amsgrad = o.amsgrad();
  h.maximize = o.maximize();
  return h;
}

// One multi-tensor call for the updates of one device (Optimizer::PendingUpdate, protected,
// hence the template), each parameter with its own step count.
template <class PendingUpdates>
void adam_step_all(const kernels::AdamStep& h, Device device, PendingUpdates& updates) {
  std::vector<kernels::AdamTensors> tensors;
  tensors.reserve(updates.size());
  for (auto& u : updates) {
    std::vector<Tensor>& b = u.state->buffers;
    tensors.push_back({&u.param, &u.grad, &b[0], &b[1], h.amsgrad ? &b[2] : nullptr,
                       u.state->step});
  }
  kernels::adam_step_multi(device, tensors, h);
}

}  // namespace

Adam::Adam(std::vector<Tensor> params, AdamOptions options)
    : Optimizer(std::move(params), "Adam"), options_(options) {
  check_adam_options(options_, "Adam");
}

std::vector<std::string> Adam::buffer_names() const { return adam_buffer_names(options_.amsgrad()); }

void Adam::step() {
  const kernels::AdamStep h = adam_hyper(options_, /*decoupled=*/false);
  for_each_device_update([&](Device device, std::vector<PendingUpdate>& updates) {
    adam_step_all(h, device, updates);
  });
}

AdamW::AdamW(std::vector<Tensor> params, AdamWOptions options)
    : Optimizer(std::move(params), "AdamW"), options_(options) {
  check_adam_options(options_, "AdamW");
}

std::vector<std::string> AdamW::buffer_names() const { return adam_buffer_names(options_.amsgrad()); }

void AdamW::step() {
  const kernels::AdamStep h = adam_hyper(options_, /*decoupled=*/true);
  for_each_device_update([&](Device device, std::vector<PendingUpdate>& updates) {
    adam_step_all(h, device, updates);
  });
}

}  // namespace nn::optim
