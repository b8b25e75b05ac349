// Define-by-run reverse-mode autograd.
//
// Every op that sees an input requiring grad (while grad mode is on) records a Node: the
// op's backward, holding what it saved from the forward, with one Edge per input pointing at
// the node that produced it (or at the AccumulateGrad node of a leaf). Tensor::backward()
// sorts the nodes reachable from the root by dependency, feeds each its output gradients
// once all have arrived (summed), and frees the saved tensors unless retain_graph is set.
// The order is fixed by the graph alone (ties broken by creation order, newest first), so the
// same program gives bit-identical gradients. Backward runs with grad mode off.
//
// Double backward (create_graph=true, as in PyTorch): the backward then runs with grad mode
// on and each node runs its differentiable backward (autograd::DoubleBackward: one written
// with recorded Tensor ops), so the gradients it returns have a grad_fn of their own and can
// be differentiated again (a WGAN-GP gradient penalty). Ops without one throw, naming the op.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "libnn/tensor.hpp"

namespace nn {

class Node;

struct Edge {
  std::shared_ptr<Node> node;   // null: the input needs no gradient
  std::uint32_t output_nr = 0;  // which output of `node` this input was
  bool valid() const { return node != nullptr; }
};

class Node {
 public:
  Node();
  virtual ~Node() = default;
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  virtual std::string name() const = 0;
  // Gradients of the outputs in (undefined = zero), gradients of the inputs out: one per
  // next_edges entry, undefined where no gradient flows.
  virtual std::vector<Tensor> apply(std::vector<Tensor>&& output_grads) = 0;
  // Frees what the forward saved; a later apply() throws.
  virtual void release_saved() {}

  std::vector<Edge> next_edges;
  std::uint32_t num_outputs = 1;
  std::uint64_t sequence_nr;  // creation order, for a deterministic schedule
  // The outputs' shapes and options (dtype, device), to give zeros on the right device to an
  // output that got no gradient, and to check that each gradient arriving has the right shape.
  std::vector<Shape> output_shapes;
  std::vector<TensorOptions> output_options;
  // The backward as recorded ops (grad mode is on when the engine calls it), for
  // create_graph=true; the default throws, naming the op.
  virtual std::vector<Tensor> apply_with_graph(std::vector<Tensor>&& output_grads);
};

// --- grad mode ------------------------------------------------------------------------
bool grad_mode_enabled();
void set_grad_mode(bool enabled);

// Turns recording off for its scope (inference, optimizer updates). The grad mode is per
// thread: a guard on one thread leaves every other thread recording (docs/libnn.md, "Threads").
class NoGradGuard {
 public:
  NoGradGuard() : previous_(grad_mode_enabled()) { set_grad_mode(false); }
  ~NoGradGuard() { set_grad_mode(previous_); }
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

// Back-propagates from several roots at once (each with its gradient, which may be
// undefined for a one-element root).
// create_graph records the backward itself (double backward); it implies retain_graph.
void backward(const std::vector<Tensor>& roots, const std::vector<Tensor>& grads = {},
              bool retain_graph = false, bool create_graph = false);

// The gradients of `outputs` (weighted by grad_outputs, each undefined = ones for a one-element
// output) with respect to `inputs`, returned instead of accumulated into .grad: libtorch's
// torch::autograd::grad. Only the part of the graph between outputs and inputs runs. With
// create_graph the results have history (for a gradient penalty); retain_graph defaults to
// create_graph. An input the outputs do not depend on throws, or gives an undefined tensor
// with allow_unused.
std::vector<Tensor> grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                         const std::vector<Tensor>& grad_outputs = {}, bool create_graph = false,
                         std::optional<bool> retain_graph = std::nullopt,
                         bool allow_unused = false);

// --- for op authors -------------------------------------------------------------------
namespace autograd {

// The backward of an op: output gradients (undefined where none arrived... see
// FunctionNode) and which inputs need a gradient -> one gradient per input.
using BackwardFn = std::function<std::vector<Tensor>(const std::vector<Tensor>& output_grads,
                                                     const std::vector<bool>& needs_grad)>;

// True when an op on these inputs must record its backward.
bool needs_history(std::initializer_list<const Tensor*> inputs);
bool needs_history(const std::vector<Tensor>& inputs);

// What an op's node runs under create_graph=true (double backward): a BackwardFn written
// with recorded Tensor ops (not raw kernels), so that its results carry history.
//   DoubleBackward::unsupported()  (the default) throws, naming the op;
//   DoubleBackward::same()         the backward itself is such a function;
//   DoubleBackward(fn)             fn is (usually: the backward, composed of ops).
// Capture outputs only via detach(), as for the backward: a differentiable backward that
// needs an output recomputes it from the inputs (or uses an op that does). How to write one:
// docs/adding-an-op.md.
struct DoubleBackward {
  DoubleBackward() = default;
  explicit DoubleBackward(BackwardFn f) : fn(std::move(f)) {}
  static DoubleBackward unsupported() { return {}; }
  static DoubleBackward same() {
    DoubleBackward d;
    d.same_as_backward = true;
    return d;
  }
  bool supported() const { return same_as_backward || fn != nullptr; }

  BackwardFn fn;
  bool same_as_backward = false;
};
inline const DoubleBackward Unsupported{};

// Records `backward` as the grad_fn of `outputs` (which get requires_grad), with one edge
// per input. Output gradients that did not arrive are passed as zeros of the output's shape.
// Call only when needs_history(inputs).
void record(const char* name, const std::vector<Tensor>& inputs, const std::vector<Tensor>& outputs,
            BackwardFn backward, DoubleBackward double_backward = Unsupported);

}  // namespace autograd
}  // namespace nn
