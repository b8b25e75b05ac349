// Define-by-run reverse-mode autograd.
//
// Every op that sees an input requiring grad (while grad mode is on) records a Node: the
// op's backward, holding what it saved from the forward, with one Edge per input pointing at
// the node that produced it (or at the AccumulateGrad node of a leaf). Tensor::backward()
// sorts the nodes reachable from the root by dependency, feeds each its output gradients
// once all have arrived (summed), and frees the saved tensors unless retain_graph is set.
// The order is fixed by the graph alone (ties broken by creation order, newest first), so the
// same program gives bit-identical gradients. Backward runs with grad mode off.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
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
  // Shapes of the outputs, to give zeros to an output that got no gradient, and to check
  // that each gradient arriving has the right shape.
  std::vector<Shape> output_shapes;
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
void backward(const std::vector<Tensor>& roots, const std::vector<Tensor>& grads = {},
              bool retain_graph = false);

// --- for op authors -------------------------------------------------------------------
namespace autograd {

// The backward of an op: output gradients (undefined where none arrived... see
// FunctionNode) and which inputs need a gradient -> one gradient per input.
using BackwardFn = std::function<std::vector<Tensor>(const std::vector<Tensor>& output_grads,
                                                     const std::vector<bool>& needs_grad)>;

// True when an op on these inputs must record its backward.
bool needs_history(std::initializer_list<const Tensor*> inputs);
bool needs_history(const std::vector<Tensor>& inputs);

// Records `backward` as the grad_fn of `outputs` (which get requires_grad), with one edge
// per input. Output gradients that did not arrive are passed as zeros of the output's shape.
// Call only when needs_history(inputs).
void record(const char* name, const std::vector<Tensor>& inputs,
            const std::vector<Tensor>& outputs, BackwardFn backward);

}  // namespace autograd
}  // namespace nn
