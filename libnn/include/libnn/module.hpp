// nn::Module: the base of every layer and model, shaped like libtorch's torch::nn::Module.
//
// A module owns named parameters (trainable tensors), named buffers (state that is saved but
// not trained: BatchNorm's running statistics) and named submodules, each kept in
// registration order. Walking them gives PyTorch's dotted names ("encoder.fc1.weight",
// "0.bias"), so a state_dict() here and one from PyTorch use the same keys and the weights
// interchange through safetensors.
//
// Ownership: modules are held by std::shared_ptr (std::make_shared<nn::Linear>(...)); a
// parent keeps its children alive. libtorch's ModuleHolder / TORCH_MODULE sugar is left out.
//
// Forward: Module has no virtual forward(). Each layer has a plain, non-virtual
// `Tensor forward(const Tensor&)` (or whatever signature it needs: an LSTM returns its states
// too), as in libtorch. Sequential chains any module whose forward takes and returns one
// Tensor, by storing a type-erased callable next to the child (libtorch's AnyModule, in a
// few lines); see modules/sequential.hpp. This keeps every layer free to choose its own
// signature, and costs one indirect call per layer in a Sequential -- nothing next to the op.
//
// Threads: a module is not synchronised. Several threads may run forward() on one module
// at once when nothing writes it: in eval mode (so dropout draws nothing), under NoGradGuard
// (so no graph is recorded). train()/eval(), load_state_dict(), to() and optimizer steps
// write it, and need it to themselves (docs/libnn.md, "Threads").
#pragma once

#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "libnn/dtype.hpp"
#include "libnn/tensor.hpp"

// An option of an options struct, libtorch's TORCH_ARG: `name(value)` sets it and returns
// the struct (so setters chain), `name()` reads it:
//   struct LinearOptions { LIBNN_ARG(bool, bias, true) };
//   LinearOptions(4, 8).bias(false);   options.bias();   // -> false
// (The same shape as optim's LIBNN_OPTIM_ARG.)
#define LIBNN_ARG(T, name, default_value)                                   \
 public:                                                                    \
  /* `T const&`, not `const T&`: T may be a pointer (Generator*). */        \
  auto& name(T const& new_##name) {                                         \
    name##_ = new_##name;                                                   \
    return *this;                                                           \
  }                                                                         \
  T const& name() const noexcept { return name##_; }                        \
                                                                            \
 private:                                                                   \
  T name##_ = default_value;                                                \
                                                                            \
 public:

namespace nn {

// An ordered name -> Tensor map: what named_parameters(), named_buffers() and state_dict()
// return (PyTorch's OrderedDict). Iterates in insertion order; lookups by name are O(1).
class NamedTensors {
 public:
  using Item = std::pair<std::string, Tensor>;
  using const_iterator = std::vector<Item>::const_iterator;

  // Throws nn::Error if the name is already there.
  void insert(std::string name, Tensor tensor);
  // Null when absent.
  const Tensor* find(std::string_view name) const;
  bool contains(std::string_view name) const { return find(name) != nullptr; }
  // Throws nn::Error naming the key when absent.
  const Tensor& at(std::string_view name) const;
  const Tensor& operator[](std::string_view name) const { return at(name); }

  std::size_t size() const { return items_.size(); }
  bool empty() const { return items_.empty(); }
  const_iterator begin() const { return items_.begin(); }
  const_iterator end() const { return items_.end(); }
  const std::vector<Item>& items() const { return items_; }
  std::vector<std::string> keys() const;
  std::vector<Tensor> values() const;

 private:
  std::vector<Item> items_;
  std::unordered_map<std::string, std::size_t> index_;
};

// A state dict: parameters and buffers by their dotted names.
using StateDict = NamedTensors;

class Module {
 public:
  Module() = default;
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // The type's name for printing ("Linear"); by default the demangled C++ class name without
  // namespaces. Override it in your own modules if you want something else.
  virtual std::string name() const;
  // The part inside the parentheses when printing, as PyTorch's extra_repr
  // ("in_features=4, out_features=8, bias=true").
  virtual std::string extra_repr() const { return {}; }
  // The whole tree, as PyTorch prints it.
  std::string str() const;

  // --- registration (call from the constructor) ----------------------------------------
  // `name` must be non-empty, contain no '.', and not be taken by another parameter, buffer
  // or submodule. The tensor is stored as is and returned: a Tensor is a handle, so the
  // module, the returned copy (keep it as a member: `weight = register_parameter(...)`) and
  // the caller's own copy all see every update. A parameter must be a leaf. An undefined
  // tensor registers the name with no value, like PyTorch's register_parameter("bias", None):
  // it is listed nowhere, but the name stays reserved.
  Tensor register_parameter(std::string name, Tensor tensor, bool requires_grad = true);
  Tensor register_buffer(std::string name, Tensor tensor);
  template <class M>
  std::shared_ptr<M> register_module(std::string name, std::shared_ptr<M> module) {
    register_module_impl(std::move(name), module);
    return module;
  }

  // --- walking the tree (registration order; parameters of self before those of children) --
  // A tensor registered under two names (tied weights) appears once, under the first, in
  // parameters() and buffers() (PyTorch's remove_duplicate); state_dict() lists both names.
  std::vector<Tensor> parameters(bool recurse = true) const;
  NamedTensors named_parameters(bool recurse = true) const;
  std::vector<Tensor> buffers(bool recurse = true) const;
  NamedTensors named_buffers(bool recurse = true) const;
  std::vector<std::shared_ptr<Module>> children() const;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> named_children() const;
  // Every module below this one, depth first; names are dotted paths ("" is this module).
  std::vector<std::pair<std::string, Module*>> named_modules(bool include_self = true);

  // --- mode ---------------------------------------------------------------------------
  // Sets training mode on this module and every descendant (Dropout, BatchNorm read it).
  virtual void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }

  // Clears every parameter's gradient: to undefined (set_to_none, PyTorch's default, so an
  // optimizer skips parameters that took no part) or to zeros.
  void zero_grad(bool set_to_none = true);

  // --- state ----------------------------------------------------------------------------
  // Parameters and buffers with PyTorch's names and order: for each module, its own
  // parameters, then its own buffers, then each child's entries. The tensors are the module's
  // own (detached handles sharing storage): clone() them to keep a snapshot.
  StateDict state_dict() const;
  // Copies values into the module's tensors (in place: handles held elsewhere, e.g. by an
  // optimizer, stay valid). Throws nn::Error, before changing anything, on a shape mismatch
  // ("expected fc1.weight of shape (64,784), got (32,784)") and, when strict, on missing or
  // unexpected keys. dtypes are converted as PyTorch's copy_ does.
  void load_state_dict(const StateDict& state, bool strict = true);

  // Moves every parameter and buffer to `device`, in place (handles stay valid). Throws
  // nn::Error when a tensor cannot be moved (CUDA, until that backend exists) -- and then
  // nothing has moved.
  virtual void to(Device device);

 protected:
  bool training_ = true;

 private:
  void register_module_impl(std::string name, std::shared_ptr<Module> module);
  void check_new_name(const std::string& name, const char* what) const;
  // `seen` (optional) drops tensors already listed under another name.
  void collect(const std::string& prefix, bool recurse, bool params, bool buffers,
               NamedTensors& out, std::unordered_set<const TensorImpl*>* seen) const;
  void collect_state(const std::string& prefix, StateDict& out) const;
  void print(std::ostream& out, int indent) const;

  // Entries with undefined tensors are kept (the name is reserved) but skipped when walking.
  std::vector<std::pair<std::string, Tensor>> parameters_;
  std::vector<std::pair<std::string, Tensor>> buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
};

std::ostream& operator<<(std::ostream& out, const Module& module);

}  // namespace nn
