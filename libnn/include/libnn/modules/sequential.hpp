// Sequential: a chain of modules, each fed the previous one's output. PyTorch's nn.Sequential:
// children are named "0", "1", ... by position (or by the name given to push_back), so a
// Sequential(Linear, ReLU, Linear) has parameters "0.weight", "0.bias", "2.weight", "2.bias".
//
// Any module with a `forward(const Tensor&)` returning a Tensor can go in: the module is
// registered as a child and a type-erased callable to its forward is kept beside it (the
// role of libtorch's AnyModule). A module whose forward takes or returns something else
// (an LSTM's states) does not compile here; wrap it in a small module of your own.
#pragma once

#include <concepts>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "libnn/module.hpp"

namespace nn {

template <class M>
concept UnaryForward = std::derived_from<M, Module> && requires(M& m, const Tensor& x) {
  { m.forward(x) } -> std::convertible_to<Tensor>;
};

class Sequential : public Module {
 public:
  Sequential() = default;
  // Sequential(std::make_shared<Linear>(2, 8), std::make_shared<ReLU>(), ...)
  template <UnaryForward... Ms>
  explicit Sequential(std::shared_ptr<Ms>... modules) {
    (push_back(std::move(modules)), ...);
  }

  // Appends a module named by its position ("3").
  template <UnaryForward M>
  void push_back(std::shared_ptr<M> module) {
    push_back(std::to_string(forwards_.size()), std::move(module));
  }
  // Appends a module under a name of your choosing (PyTorch's Sequential(OrderedDict)).
  template <UnaryForward M>
  void push_back(std::string name, std::shared_ptr<M> module) {
    register_module(std::move(name), module);
    M* raw = module.get();  // kept alive by the child entry just registered
    forwards_.emplace_back([raw](const Tensor& x) -> Tensor { return raw->forward(x); });
    modules_.push_back(std::move(module));
  }

  // x -> modules[n-1](... modules[0](x))
  Tensor forward(const Tensor& x) const;

  std::size_t size() const { return modules_.size(); }
  bool empty() const { return modules_.empty(); }
  const std::shared_ptr<Module>& operator[](std::size_t index) const;
  // The module at `index` as its own type; throws nn::Error if it is another type.
  template <class M>
  std::shared_ptr<M> at(std::size_t index) const {
    auto typed = std::dynamic_pointer_cast<M>((*this)[index]);
    if (!typed) throw_wrong_type(index);
    return typed;
  }

 private:
  [[noreturn]] void throw_wrong_type(std::size_t index) const;

  std::vector<std::shared_ptr<Module>> modules_;
  std::vector<std::function<Tensor(const Tensor&)>> forwards_;
};

// A module around a function, for steps with no module of their own in a Sequential:
//   seq->push_back(std::make_shared<Functional>([](const Tensor& x) { return x.flatten(1); }));
class Functional : public Module {
 public:
  explicit Functional(std::function<Tensor(const Tensor&)> function)
      : function_(std::move(function)) {}
  Tensor forward(const Tensor& x) const { return function_(x); }

 private:
  std::function<Tensor(const Tensor&)> function_;
};

}  // namespace nn
