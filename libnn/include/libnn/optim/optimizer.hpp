// The common part of every optimizer: its parameters, zero_grad, the learning rate, and the
// per-parameter state (step count, moment tensors) with its export to and import from a
// TrainingState, the in-memory form the training-state file (libnn/io/state_file.hpp) stores.
//
// Shaped like libtorch's torch::optim: an optimizer is built from a parameter list and an
// options struct with chained setters, e.g.
//   nn::optim::Adam opt(model.parameters(), nn::optim::AdamOptions(1e-3).weight_decay(0.1));
//   opt.zero_grad(); loss.backward(); opt.step();
// One parameter group; lr() / set_lr() is what learning-rate schedules change.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "libnn/autograd.hpp"
#include "libnn/tensor.hpp"

// An option of an options struct: `name(value)` sets it and returns the struct (so setters
// chain), `name()` reads it. The same shape as libtorch's TORCH_ARG.
#define LIBNN_OPTIM_ARG(T, name, default_value)      \
 public:                                             \
  auto& name(const T& value) {                       \
    name##_ = value;                                 \
    return *this;                                    \
  }                                                  \
  const T& name() const { return name##_; }          \
                                                     \
 private:                                            \
  T name##_ = default_value;                         \
                                                     \
 public:

namespace nn::optim {

// Named tensors and numbers: what an optimizer or a schedule needs to resume exactly.
// Tensors in a saved dict are copies (later steps do not change them); load_state copies
// them again. Keys are documented by each save_state.
struct TrainingState {
  std::map<std::string, Tensor> tensors;
  std::map<std::string, std::int64_t> ints;
  std::map<std::string, double> floats;
  std::map<std::string, std::string> strings;

  bool empty() const;
  // A copy with `prefix` before every key, to keep several objects in one dict or file:
  // state.merge(optimizer_state.prefixed("optimizer.")).
  TrainingState prefixed(std::string_view prefix) const;
  // The entries whose key starts with `prefix`, with the prefix removed (the inverse).
  TrainingState sub(std::string_view prefix) const;
  // Adds every entry of `other`; throws nn::Error if a key is already present.
  void merge(const TrainingState& other);
};

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  const std::vector<Tensor>& parameters() const { return params_; }

  // Sets every parameter's gradient to undefined (set_to_none, PyTorch's default) or to 0.
  void zero_grad(bool set_to_none = true);

  // One update of every parameter whose gradient is defined; a parameter without one is
  // skipped and its state left as it was (PyTorch's rule). Throws nn::Error for a gradient
  // whose shape, dtype or device differs from its parameter's.
  virtual void step() = 0;

  // "SGD", "Adam", "AdamW", "RMSprop": the name saved with the state, checked on load.
  virtual std::string name() const = 0;

  virtual double lr() const = 0;
  virtual void set_lr(double lr) = 0;

  // The lr that learning-rate schedules start from (PyTorch's param_group["initial_lr"]):
  // unset until the first schedule attached to this optimizer sets it to lr().
  std::optional<double> initial_lr() const { return initial_lr_; }
  void set_initial_lr(double lr) { initial_lr_ = lr; }

  // How many updates parameter i has had (0 until its first defined gradient).
  std::int64_t step_count(std::size_t i) const;

  // Writes into `out` (adding to what is there; nn::Error if a key is taken):
  //   strings "optimizer"          name()
  //   ints    "num_params"         parameters().size()
  //   floats  "lr"                 lr(), and "initial_lr" when set
  //   ints    "param.<i>.step"     for each parameter i that has been updated
  //   tensors "param.<i>.<buffer>" its buffers, e.g. "param.3.exp_avg" (PyTorch's names)
  // Hyper-parameters other than lr are the constructor's options and are not saved.
  void save_state(TrainingState& out) const;
  // Restores what save_state wrote, after checking all of it: the optimizer name, the
  // number of parameters, that every key is known, that each updated parameter has all its
  // buffers with its parameter's shape and dtype. On any mismatch throws nn::Error naming the
  // key, what was expected and what was found, and leaves this optimizer unchanged.
  void load_state(const TrainingState& in);

 protected:
  // Checks the parameter list (non-empty, defined float32 leaf tensors). `what` names the
  // optimizer in messages.
  Optimizer(std::vector<Tensor> params, const char* what);

  // The names of the per-parameter buffers, which depend on the options (e.g. "max_exp_avg_sq"
  // only with amsgrad). Each buffer has its parameter's shape.
  virtual std::vector<std::string> buffer_names() const = 0;

  struct ParamState {
    std::int64_t step = 0;        // updates done
    std::vector<Tensor> buffers;  // in buffer_names() order; zeros when first created
  };
  // The gradient of parameter i, or undefined to skip it; checks it against the parameter.
  Tensor grad_for_step(std::size_t i) const;
  // Parameter i's state, its buffers created (zeros) before the first update.
  ParamState& state_for(std::size_t i);

  // One parameter's part of a step: the parameter, its checked gradient and its state, whose
  // step already counts this update (1 at the first).
  struct PendingUpdate {
    Tensor param;
    Tensor grad;
    ParamState* state;
  };
  // The updates of one device, in parameter order.
  struct DeviceUpdates {
    Device device;
    std::vector<PendingUpdate> updates;
  };
  // The parameters whose gradient is defined, grouped by device (in the order of each
  // device's first parameter). Checks every gradient before changing anything, so a bad one
  // throws with every step count and buffer as it was; then advances each one's step count.
  std::vector<DeviceUpdates> collect_updates();
  // The loop of every step(): calls update(device, updates) once per device with the updates
  // of collect_updates(), with grad mode off. One call per device lets the optimizer hand the
  // whole list to a multi-tensor kernel (one launch on a GPU, not one per parameter).
  template <class Update> void for_each_device_update(const Update& update);

  std::vector<Tensor> params_;

 private:
  std::string what_;
  std::vector<ParamState> state_;
  std::optional<double> initial_lr_;
};

template <class Update>
void Optimizer::for_each_device_update(const Update& update) {
  NoGradGuard no_grad;
  for (DeviceUpdates& group : collect_updates()) update(group.device, group.updates);
}

}  // namespace nn::optim
