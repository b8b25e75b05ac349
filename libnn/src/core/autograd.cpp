// The autograd engine (libnn/autograd.hpp): recording nodes, and running backward.
#include "libnn/autograd.hpp"

#include <atomic>
#include <queue>
#include <unordered_map>

#include "core/check.hpp"
#include "kernels/elementwise.hpp"
#include "kernels/memory.hpp"
#include "libnn/ops.hpp"

namespace nn {

namespace {

thread_local bool t_grad_mode = true;
std::atomic<std::uint64_t> g_next_sequence_nr{0};

// An op's backward as a closure. release_saved() drops the closure, and with it everything
// the forward captured.
class FunctionNode final : public Node {
 public:
  FunctionNode(const char* name, autograd::BackwardFn backward,
               autograd::DoubleBackward double_backward, std::vector<bool> needs_grad)
      : name_(name),
        backward_(std::move(backward)),
        double_backward_(std::move(double_backward)),
        needs_grad_(std::move(needs_grad)) {}

  std::string name() const override { return name_; }

  std::vector<Tensor> apply(std::vector<Tensor>&& output_grads) override {
    NN_CHECK(backward_ != nullptr,
             "backward through '{}' a second time: its saved tensors were freed after the first "
             "backward (pass retain_graph=true to the first call)", name_);
    return backward_(output_grads, needs_grad_);
  }

  std::vector<Tensor> apply_with_graph(std::vector<Tensor>&& output_grads) override {
    NN_CHECK(backward_ != nullptr,
             "backward through '{}' a second time: its saved tensors were freed after the first "
             "backward (pass retain_graph=true to the first call)",
             name_);
    if (double_backward_.same_as_backward) return backward_(output_grads, needs_grad_);
    if (double_backward_.fn) return double_backward_.fn(output_grads, needs_grad_);
    return Node::apply_with_graph(std::move(output_grads));  // throws, naming the op
  }

  void release_saved() override {
    backward_ = nullptr;
    double_backward_ = autograd::DoubleBackward();
  }

 private:
  const char* name_;
  autograd::BackwardFn backward_;
  autograd::DoubleBackward double_backward_;
  std::vector<bool> needs_grad_;
};

// The sink of a leaf: adds the arriving gradient into the leaf's .grad.
class AccumulateGrad final : public Node {
 public:
  explicit AccumulateGrad(std::shared_ptr<TensorImpl> leaf) : leaf_(std::move(leaf)) {
    output_shapes.push_back(leaf_->shape);
    output_options.push_back(TensorOptions().dtype(leaf_->dtype).device(leaf_->device));
  }
  std::string name() const override { return "AccumulateGrad"; }

  std::vector<Tensor> apply(std::vector<Tensor>&& output_grads) override {
    Tensor& g = output_grads[0];
    if (!leaf_->grad) {
      // The first gradient is kept as it is when nothing else can see it -- this call holds
      // the only handle and the only reference to its storage -- as PyTorch's AccumulateGrad
      // does: copying it would move the whole gradient through memory once more (a third
      // of a cross-entropy backward's traffic). Otherwise it is copied: the tensor may be
      // shared with other consumers of the gradient, or be the caller's own.
      if (g.impl_ptr().use_count() == 1 && g.impl()->storage.use_count() == 1) {
        leaf_->grad = g.impl_ptr();
      } else {
        Tensor copy = empty(g.sizes(), g.options());
        kernels::copy(g.device(), g, copy);
        leaf_->grad = copy.impl_ptr();
      }
    } else {
      Tensor acc(leaf_->grad);
      kernels::axpy(acc.device(), 1.0f, g, acc);
    }
    return {};
  }

  // create_graph=true: .grad keeps the gradient's history (PyTorch does the same), summed
  // out of place with a recorded add.
  std::vector<Tensor> apply_with_graph(std::vector<Tensor>&& output_grads) override {
    Tensor& g = output_grads[0];
    leaf_->grad = leaf_->grad ? add(Tensor(leaf_->grad), g).impl_ptr() : g.impl_ptr();
    return {};
  }

 private:
  std::shared_ptr<TensorImpl> leaf_;
};

Edge edge_to(const Tensor& t) {
  TensorImpl* impl = t.impl();
  if (!impl->requires_grad) return {};
  if (impl->grad_fn) return {impl->grad_fn, impl->output_nr};
  std::shared_ptr<Node> acc = impl->grad_accumulator.lock();
  if (!acc) {
    acc = std::make_shared<AccumulateGrad>(t.impl_ptr());
    impl->grad_accumulator = acc;
  }
  return {acc, 0};
}

}  // namespace

Node::Node() : sequence_nr(g_next_sequence_nr.fetch_add(1, std::memory_order_relaxed)) {}

std::vector<Tensor> Node::apply_with_graph(std::vector<Tensor>&&) {
  throw Error(fmt::format(
      "double backward (create_graph=true) through '{}' is not supported: its backward is not "
      "written with differentiable ops yet (docs/libnn.md, \"Double backward\", lists the ops "
      "that have one)",
      name()));
}

bool grad_mode_enabled() { return t_grad_mode; }
void set_grad_mode(bool enabled) { t_grad_mode = enabled; }

namespace autograd {

bool needs_history(std::initializer_list<const Tensor*> inputs) {
  if (!t_grad_mode) return false;
  for (const Tensor* t : inputs) {
    if (t->defined() && t->requires_grad()) return true;
  }
  return false;
}

bool needs_history(const std::vector<Tensor>& inputs) {
  if (!t_grad_mode) return false;
  for (const Tensor& t : inputs) {
    if (t.defined() && t.requires_grad()) return true;
  }
  return false;
}

void record(const char* name, const std::vector<Tensor>& inputs, const std::vector<Tensor>& outputs,
            BackwardFn backward, DoubleBackward double_backward) {
  std::vector<bool> needs(inputs.size());
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    needs[i] = inputs[i].defined() && inputs[i].requires_grad();
  }
  auto node =
      std::make_shared<FunctionNode>(name, std::move(backward), std::move(double_backward), needs);
  node->next_edges.reserve(inputs.size());
  for (const Tensor& input : inputs) {
    node->next_edges.push_back(input.defined() ? edge_to(input) : Edge{});
  }
  node->num_outputs = static_cast<std::uint32_t>(outputs.size());
  for (std::uint32_t i = 0; i < outputs.size(); ++i) {
    TensorImpl* out = outputs[i].impl();
    node->output_shapes.push_back(out->shape);
    node->output_options.push_back(TensorOptions().dtype(out->dtype).device(out->device));
    if (out->dtype != DType::Float32 && out->dtype != DType::Float16 &&
        out->dtype != DType::BFloat16) {
      continue;  // integer outputs (argmax indices) carry no gradient
    }
    out->requires_grad = true;
    out->grad_fn = node;
    out->output_nr = i;
  }
}

}  // namespace autograd

namespace {

// Turns grad mode on or off for its scope, restoring it after.
class GradModeGuard {
 public:
  explicit GradModeGuard(bool enabled) : previous_(grad_mode_enabled()) { set_grad_mode(enabled); }
  ~GradModeGuard() { set_grad_mode(previous_); }
  GradModeGuard(const GradModeGuard&) = delete;
  GradModeGuard& operator=(const GradModeGuard&) = delete;

 private:
  bool previous_;
};

// Where nn::grad() wants a gradient: output `output_nr` of `node` (an AccumulateGrad for a
// leaf), for the input at `index`.
struct Capture {
  Edge edge;
  std::size_t index;
};

// The engine behind backward() and grad(). With `captures` (grad()), only the nodes from which
// a captured edge can be reached run, the gradient arriving at each captured edge is stored in
// `captured`, and no AccumulateGrad runs.
void run_backward(const std::vector<Tensor>& roots, const std::vector<Tensor>& grads,
                  bool retain_graph, bool create_graph, const std::vector<Capture>* captures,
                  std::vector<Tensor>* captured) {
  NN_CHECK(grads.empty() || grads.size() == roots.size(),
           "backward: expected one gradient per root ({}), got {}", roots.size(), grads.size());
  // Plain backward runs with grad mode off; create_graph records the backward's own ops.
  GradModeGuard grad_mode(create_graph);

  // Gradients waiting for each node, one slot per output.
  std::unordered_map<Node*, std::vector<Tensor>> pending;
  auto deliver = [&](const Edge& edge, const Tensor& grad) {
    Node* node = edge.node.get();
    NN_CHECK(grad.sizes() == node->output_shapes[edge.output_nr],
             "backward: internal error, '{}' received a gradient of shape {} for an output of "
             "shape {}", node->name(), shape_str(grad.sizes()),
             shape_str(node->output_shapes[edge.output_nr]));
    auto& slots = pending[node];
    if (slots.empty()) slots.resize(node->num_outputs);
    Tensor& slot = slots[edge.output_nr];
    if (!slot.defined()) {
      slot = grad;
    } else if (create_graph) {
      slot = add(slot, grad);  // recorded: the sum is part of the gradient's history
    } else {
      // Out of place: `slot` may alias a gradient another node still holds.
      Tensor sum = empty(slot.sizes(), slot.options());
      kernels::binary(sum.device(), kernels::BinaryOp::Add, slot, grad, sum);
      slot = sum;
    }
  };

  std::vector<Edge> root_edges;
  for (std::size_t i = 0; i < roots.size(); ++i) {
    const Tensor& root = roots[i];
    NN_CHECK(root.requires_grad(),
             "backward: expected a tensor that requires grad, got one with no history ({}); "
             "did an input set requires_grad, and was grad mode on?", root.str());
    Tensor grad = grads.empty() ? Tensor() : grads[i];
    if (!grad.defined()) {
      NN_CHECK(root.numel() == 1,
               "backward: a gradient can be implied only for a one-element output, got shape {} "
               "(pass the gradient explicitly)", shape_str(root.sizes()));
      grad = ones(root.sizes(), root.options());
    }
    NN_CHECK(grad.sizes() == root.sizes(), "backward: expected a gradient of shape {}, got {}",
             shape_str(root.sizes()), shape_str(grad.sizes()));
    Edge edge = edge_to(root);
    root_edges.push_back(edge);
    deliver(edge, grad);
  }

  // Dependencies: how many edges reach each node from the roots' subgraph; and, for grad(),
  // each node's predecessors, to find the nodes that lead to a captured edge.
  std::unordered_map<Node*, int> dependencies;
  std::unordered_map<Node*, std::vector<Node*>> predecessors;
  {
    std::vector<Node*> stack;
    std::unordered_map<Node*, bool> seen;
    for (const Edge& e : root_edges) {
      if (!seen[e.node.get()]) {
        seen[e.node.get()] = true;
        stack.push_back(e.node.get());
      }
    }
    while (!stack.empty()) {
      Node* node = stack.back();
      stack.pop_back();
      for (const Edge& next : node->next_edges) {
        if (!next.valid()) continue;
        ++dependencies[next.node.get()];
        if (captures != nullptr) predecessors[next.node.get()].push_back(node);
        if (!seen[next.node.get()]) {
          seen[next.node.get()] = true;
          stack.push_back(next.node.get());
        }
      }
    }
  }

  // grad(): the nodes a captured edge can be reached from (captured nodes included). A node
  // runs only if one of its next edges leads to one of them.
  std::unordered_map<Node*, bool> useful;
  std::unordered_map<Node*, std::vector<const Capture*>> captures_at;
  if (captures != nullptr) {
    std::vector<Node*> stack;
    for (const Capture& c : *captures) {
      captures_at[c.edge.node.get()].push_back(&c);
      if (!useful[c.edge.node.get()]) {
        useful[c.edge.node.get()] = true;
        stack.push_back(c.edge.node.get());
      }
    }
    while (!stack.empty()) {
      Node* node = stack.back();
      stack.pop_back();
      for (Node* pred : predecessors[node]) {
        if (!useful[pred]) {
          useful[pred] = true;
          stack.push_back(pred);
        }
      }
    }
  }
  auto should_run = [&](Node* node) {
    if (captures == nullptr) return true;
    for (const Edge& next : node->next_edges) {
      if (next.valid() && useful.count(next.node.get()) != 0 && useful[next.node.get()]) {
        return true;
      }
    }
    return false;
  };

  // Newest node first among the ready ones: a deterministic order fixed by the graph.
  auto later = [](Node* a, Node* b) { return a->sequence_nr < b->sequence_nr; };
  std::priority_queue<Node*, std::vector<Node*>, decltype(later)> ready(later);
  {
    std::unordered_map<Node*, bool> queued;
    for (const Edge& e : root_edges) {
      if (dependencies[e.node.get()] == 0 && !queued[e.node.get()]) {
        queued[e.node.get()] = true;
        ready.push(e.node.get());
      }
    }
  }

  while (!ready.empty()) {
    Node* node = ready.top();
    ready.pop();
    std::vector<Tensor> output_grads = std::move(pending[node]);
    pending.erase(node);
    output_grads.resize(node->num_outputs);
    if (captures != nullptr) {
      auto it = captures_at.find(node);
      if (it != captures_at.end()) {
        for (const Capture* c : it->second) {
          const Tensor& g = output_grads[c->edge.output_nr];
          Tensor& slot = (*captured)[c->index];
          if (!g.defined()) continue;
          // The same input listed twice gets the same gradient twice.
          slot = g;
        }
      }
    }
    std::vector<Tensor> input_grads;
    if (should_run(node)) {
      for (std::uint32_t i = 0; i < node->num_outputs; ++i) {
        if (!output_grads[i].defined()) {
          output_grads[i] = zeros(node->output_shapes[i], node->output_options[i]);
        }
      }
      input_grads = create_graph ? node->apply_with_graph(std::move(output_grads))
                                 : node->apply(std::move(output_grads));
      if (!retain_graph) node->release_saved();
    }
    NN_CHECK(input_grads.empty() || input_grads.size() == node->next_edges.size(),
             "backward: internal error, '{}' returned {} gradients for {} inputs", node->name(),
             input_grads.size(), node->next_edges.size());
    for (std::size_t i = 0; i < node->next_edges.size(); ++i) {
      const Edge& next = node->next_edges[i];
      if (!next.valid()) continue;
      if (i < input_grads.size() && input_grads[i].defined()) deliver(next, input_grads[i]);
      if (--dependencies[next.node.get()] == 0) ready.push(next.node.get());
    }
  }
}

}  // namespace

void backward(const std::vector<Tensor>& roots, const std::vector<Tensor>& grads, bool retain_graph,
              bool create_graph) {
  run_backward(roots, grads, retain_graph || create_graph, create_graph, nullptr, nullptr);
}

std::vector<Tensor> grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                         const std::vector<Tensor>& grad_outputs, bool create_graph,
                         std::optional<bool> retain_graph, bool allow_unused) {
  NN_CHECK(!outputs.empty(), "grad: expected at least one output, got none");
  NN_CHECK(!inputs.empty(), "grad: expected at least one input, got none");
  std::vector<Capture> captures;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    NN_CHECK(inputs[i].defined(), "grad: input {} is undefined", i);
    NN_CHECK(inputs[i].requires_grad(),
             "grad: expected input {} to require grad, got one that does not ({})", i,
             inputs[i].str());
    captures.push_back({edge_to(inputs[i]), i});
  }
  std::vector<Tensor> result(inputs.size());
  run_backward(outputs, grad_outputs, retain_graph.value_or(create_graph), create_graph, &captures,
               &result);
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    NN_CHECK(result[i].defined() || allow_unused,
             "grad: input {} ({}) was not used to compute the outputs (pass allow_unused=true "
             "to get an undefined gradient for it)",
             i, inputs[i].str());
  }
  return result;
}

}  // namespace nn
