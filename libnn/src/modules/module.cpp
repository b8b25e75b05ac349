// nn::Module (libnn/module.hpp): registration, walking the tree with PyTorch's dotted names,
// train/eval, zero_grad, state_dict / load_state_dict, moving to a device, printing.
#include "libnn/module.hpp"

#include <cxxabi.h>

#include <cstdlib>
#include <ostream>
#include <sstream>
#include <typeinfo>
#include <unordered_set>

#include "core/check.hpp"
#include "libnn/autograd.hpp"

namespace nn {

// --- NamedTensors ---------------------------------------------------------------------------

void NamedTensors::insert(std::string name, Tensor tensor) {
  NN_CHECK(!index_.contains(name), "NamedTensors: key '{}' is already present", name);
  index_.emplace(name, items_.size());
  items_.emplace_back(std::move(name), std::move(tensor));
}

const Tensor* NamedTensors::find(std::string_view name) const {
  const auto it = index_.find(std::string(name));
  return it == index_.end() ? nullptr : &items_[it->second].second;
}

const Tensor& NamedTensors::at(std::string_view name) const {
  const Tensor* t = find(name);
  NN_CHECK(t != nullptr, "expected a tensor named '{}', found none (there are {})", name,
           items_.size());
  return *t;
}

std::vector<std::string> NamedTensors::keys() const {
  std::vector<std::string> out;
  out.reserve(items_.size());
  for (const auto& item : items_) out.push_back(item.first);
  return out;
}

std::vector<Tensor> NamedTensors::values() const {
  std::vector<Tensor> out;
  out.reserve(items_.size());
  for (const auto& item : items_) out.push_back(item.second);
  return out;
}

// --- naming and printing -----------------------------------------------------------------------

std::string Module::name() const {
  const char* mangled = typeid(*this).name();
  int status = 0;
  char* demangled = abi::__cxa_demangle(mangled, nullptr, nullptr, &status);
  std::string full = status == 0 && demangled ? demangled : mangled;
  std::free(demangled);
  // "nn::Linear" -> "Linear", "(anonymous namespace)::Net" -> "Net"
  const auto colon = full.rfind("::");
  return colon == std::string::npos ? full : full.substr(colon + 2);
}

void Module::print(std::ostream& out, int indent) const {
  out << name() << "(" << extra_repr();
  if (!children_.empty()) {
    out << "\n";
    for (const auto& [child_name, child] : children_) {
      out << std::string(static_cast<std::size_t>(indent + 2), ' ') << "(" << child_name << "): ";
      child->print(out, indent + 2);
      out << "\n";
    }
    out << std::string(static_cast<std::size_t>(indent), ' ');
  }
  out << ")";
}

std::string Module::str() const {
  std::ostringstream out;
  print(out, 0);
  return out.str();
}

std::ostream& operator<<(std::ostream& out, const Module& module) { return out << module.str(); }

// --- registration ---------------------------------------------------------------------------

void Module::check_new_name(const std::string& name, const char* what) const {
  NN_CHECK(!name.empty(), "{}: expected a non-empty name in {}", what, this->name());
  NN_CHECK(name.find('.') == std::string::npos, "{}: expected a name without '.', got '{}' in {}",
           what, name, this->name());
  auto taken = [&](const auto& entries) {
    for (const auto& entry : entries)
      if (entry.first == name) return true;
    return false;
  };
  NN_CHECK(!taken(parameters_) && !taken(buffers_) && !taken(children_),
           "{}: the name '{}' is already taken in {}", what, name, this->name());
}

Tensor Module::register_parameter(std::string name, Tensor tensor, bool requires_grad) {
  check_new_name(name, "register_parameter");
  if (tensor.defined()) {
    NN_CHECK(tensor.is_leaf(),
             "register_parameter: expected a leaf tensor for '{}', got the output of an op "
             "(use detach())", name);
    tensor.set_requires_grad(requires_grad);
  }
  parameters_.emplace_back(std::move(name), std::move(tensor));
  return parameters_.back().second;
}

Tensor Module::register_buffer(std::string name, Tensor tensor) {
  check_new_name(name, "register_buffer");
  if (tensor.defined()) {
    NN_CHECK(!tensor.requires_grad(),
             "register_buffer: expected a tensor that does not require grad for '{}' "
             "(buffers are not trained; use register_parameter)", name);
  }
  buffers_.emplace_back(std::move(name), std::move(tensor));
  return buffers_.back().second;
}

void Module::register_module_impl(std::string name, std::shared_ptr<Module> module) {
  check_new_name(name, "register_module");
  NN_CHECK(module != nullptr, "register_module: expected a module for '{}', got null", name);
  NN_CHECK(module.get() != this, "register_module: a module cannot be its own child ('{}')", name);
  children_.emplace_back(std::move(name), std::move(module));
}

// --- walking ------------------------------------------------------------------------------

void Module::collect(const std::string& prefix, bool recurse, bool params, bool buffers,
                     NamedTensors& out, std::unordered_set<const TensorImpl*>* seen) const {
  // A tensor registered twice (tied weights) is listed once, under its first name, as
  // PyTorch's remove_duplicate does: an optimizer must not step it twice.
  auto add = [&](const std::string& n, const Tensor& t) {
    if (!t.defined()) return;
    if (seen != nullptr && !seen->insert(t.impl()).second) return;
    out.insert(prefix + n, t);
  };
  if (params)
    for (const auto& [n, t] : parameters_) add(n, t);
  if (buffers)
    for (const auto& [n, t] : buffers_) add(n, t);
  if (!recurse) return;
  for (const auto& [n, child] : children_)
    child->collect(prefix + n + ".", true, params, buffers, out, seen);
}

NamedTensors Module::named_parameters(bool recurse) const {
  NamedTensors out;
  std::unordered_set<const TensorImpl*> seen;
  collect("", recurse, true, false, out, &seen);
  return out;
}

std::vector<Tensor> Module::parameters(bool recurse) const {
  return named_parameters(recurse).values();
}

NamedTensors Module::named_buffers(bool recurse) const {
  NamedTensors out;
  std::unordered_set<const TensorImpl*> seen;
  collect("", recurse, false, true, out, &seen);
  return out;
}

std::vector<Tensor> Module::buffers(bool recurse) const { return named_buffers(recurse).values(); }

std::vector<std::shared_ptr<Module>> Module::children() const {
  std::vector<std::shared_ptr<Module>> out;
  out.reserve(children_.size());
  for (const auto& entry : children_) out.push_back(entry.second);
  return out;
}

std::vector<std::pair<std::string, std::shared_ptr<Module>>> Module::named_children() const {
  return children_;
}

std::vector<std::pair<std::string, Module*>> Module::named_modules(bool include_self) {
  std::vector<std::pair<std::string, Module*>> out;
  if (include_self) out.emplace_back("", this);
  for (const auto& [n, child] : children_) {
    out.emplace_back(n, child.get());
    for (auto& [sub_name, sub] : child->named_modules(false)) out.emplace_back(n + "." + sub_name, sub);
  }
  return out;
}

// --- mode and gradients -----------------------------------------------------------------------

void Module::train(bool on) {
  training_ = on;
  for (const auto& entry : children_) entry.second->train(on);
}

void Module::zero_grad(bool set_to_none) {
  for (const Tensor& p : parameters()) p.zero_grad(set_to_none);
}

// --- state ---------------------------------------------------------------------------------

void Module::collect_state(const std::string& prefix, StateDict& out) const {
  for (const auto& [n, t] : parameters_)
    if (t.defined()) out.insert(prefix + n, t.detach());
  for (const auto& [n, t] : buffers_)
    if (t.defined()) out.insert(prefix + n, t.detach());
  for (const auto& [n, child] : children_) child->collect_state(prefix + n + ".", out);
}

StateDict Module::state_dict() const {
  StateDict out;
  collect_state("", out);
  return out;
}

namespace {

std::string join_quoted(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + ("'" + n + "'");
  return out;
}

}  // namespace

void Module::load_state_dict(const StateDict& state, bool strict) {
  // The module's own tensors (not detached: copy_ must write into them).
  NamedTensors own;
  collect("", true, true, true, own, nullptr);

  // Check everything first, so that a failed load leaves the module as it was.
  std::vector<std::string> problems, missing, unexpected;
  for (const auto& [key, target] : own) {
    const Tensor* source = state.find(key);
    if (source == nullptr) {
      missing.push_back(key);
    } else if (!source->defined()) {
      problems.push_back(fmt::format("expected {} of shape {}, got an undefined tensor", key,
                                     shape_str(target.sizes())));
    } else if (source->sizes() != target.sizes()) {
      problems.push_back(fmt::format("expected {} of shape {}, got {}", key,
                                     shape_str(target.sizes()), shape_str(source->sizes())));
    }
  }
  for (const auto& [key, source] : state)
    if (!own.contains(key)) unexpected.push_back(key);
  if (strict && !missing.empty()) problems.push_back("missing key(s) " + join_quoted(missing));
  if (strict && !unexpected.empty())
    problems.push_back("unexpected key(s) " + join_quoted(unexpected));
  if (!problems.empty()) {
    std::string message;
    for (const auto& p : problems) message += (message.empty() ? "" : "; ") + p;
    throw Error(fmt::format("load_state_dict for {}: {}", name(), message));
  }

  NoGradGuard no_grad;
  for (const auto& [key, target] : own) {
    const Tensor* source = state.find(key);
    if (source == nullptr) continue;
    Tensor value = source->to(target.dtype()).to(target.device());
    Tensor(target).copy_(value);
  }
}

void Module::to(Device device) {
  NamedTensors own;
  collect("", true, true, true, own, nullptr);
  // Copy everything first: if one copy fails (no CUDA backend), nothing has moved.
  std::vector<std::pair<TensorImpl*, Tensor>> moved;
  std::vector<std::pair<TensorImpl*, Tensor>> moved_grads;
  try {
    for (const auto& [key, t] : own) {
      if (t.device() == device) continue;
      moved.emplace_back(t.impl(), t.detach().to(device));
      if (t.grad().defined()) moved_grads.emplace_back(t.impl(), t.grad().to(device));
    }
  } catch (const Error& e) {
    throw Error(fmt::format("{}.to({}): {}", name(), device.str(), e.what()));
  }
  // Swap the storage inside each TensorImpl, so every handle to the tensor sees the move.
  for (auto& [impl, value] : moved) {
    impl->storage = value.impl()->storage;
    impl->offset = value.impl()->offset;
    impl->device = value.impl()->device;
    impl->grad.reset();
  }
  for (auto& [impl, grad] : moved_grads) impl->grad = grad.impl_ptr();
}

}  // namespace nn
