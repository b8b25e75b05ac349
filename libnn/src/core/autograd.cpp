// The autograd engine (libnn/autograd.hpp): recording nodes, and running backward.
#include "libnn/autograd.hpp"

#include <atomic>
#include <queue>
#include <unordered_map>

#include "core/check.hpp"
#include "kernels/elementwise.hpp"
#include "kernels/memory.hpp"

namespace nn {

namespace {

thread_local bool t_grad_mode = true;
std::atomic<std::uint64_t> g_next_sequence_nr{0};

// An op's backward as a closure. release_saved() drops the closure, and with it everything
// the forward captured.
class FunctionNode final : public Node {
 public:
  FunctionNode(const char* name, autograd::BackwardFn backward, std::vector<bool> needs_grad)
      : name_(name), backward_(std::move(backward)), needs_grad_(std::move(needs_grad)) {}

  std::string name() const override { return name_; }

  std::vector<Tensor> apply(std::vector<Tensor>&& output_grads) override {
    NN_CHECK(backward_ != nullptr,
             "backward through '{}' a second time: its saved tensors were freed after the first "
             "backward (pass retain_graph=true to the first call)", name_);
    return backward_(output_grads, needs_grad_);
  }

  void release_saved() override { backward_ = nullptr; }

 private:
  const char* name_;
  autograd::BackwardFn backward_;
  std::vector<bool> needs_grad_;
};

// The sink of a leaf: adds the arriving gradient into the leaf's .grad.
class AccumulateGrad final : public Node {
 public:
  explicit AccumulateGrad(std::shared_ptr<TensorImpl> leaf) : leaf_(std::move(leaf)) {
    output_shapes.push_back(leaf_->shape);
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

void record(const char* name, const std::vector<Tensor>& inputs,
            const std::vector<Tensor>& outputs, BackwardFn backward) {
  std::vector<bool> needs(inputs.size());
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    needs[i] = inputs[i].defined() && inputs[i].requires_grad();
  }
  auto node = std::make_shared<FunctionNode>(name, std::move(backward), needs);
  node->next_edges.reserve(inputs.size());
  for (const Tensor& input : inputs) {
    node->next_edges.push_back(input.defined() ? edge_to(input) : Edge{});
  }
  node->num_outputs = static_cast<std::uint32_t>(outputs.size());
  for (std::uint32_t i = 0; i < outputs.size(); ++i) {
    TensorImpl* out = outputs[i].impl();
    node->output_shapes.push_back(out->shape);
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

void backward(const std::vector<Tensor>& roots, const std::vector<Tensor>& grads,
              bool retain_graph) {
  NN_CHECK(grads.empty() || grads.size() == roots.size(),
           "backward: expected one gradient per root ({}), got {}", roots.size(), grads.size());
  NoGradGuard no_grad;

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

  // Dependencies: how many edges reach each node from the roots' subgraph.
  std::unordered_map<Node*, int> dependencies;
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
        if (!seen[next.node.get()]) {
          seen[next.node.get()] = true;
          stack.push_back(next.node.get());
        }
      }
    }
  }

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
    for (std::uint32_t i = 0; i < node->num_outputs; ++i) {
      if (!output_grads[i].defined()) output_grads[i] = zeros(node->output_shapes[i]);
    }
    std::vector<Tensor> input_grads = node->apply(std::move(output_grads));
    if (!retain_graph) node->release_saved();
    NN_CHECK(input_grads.empty() || input_grads.size() == node->next_edges.size(),
             "backward: internal error, '{}' returned {} gradients for {} inputs", node->name(),
             input_grads.size(), node->next_edges.size());
    for (std::size_t i = 0; i < input_grads.size(); ++i) {
      const Edge& next = node->next_edges[i];
      if (!next.valid()) continue;
      if (input_grads[i].defined()) deliver(next, input_grads[i]);
      if (--dependencies[next.node.get()] == 0) ready.push(next.node.get());
    }
  }
}

}  // namespace nn
