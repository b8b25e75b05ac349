// nn::LSTMTokenLoop (libnn/modules/lstm_stepper.hpp): the argument checks, the state, and
// the CPU backend of the token loop (the rule: src/kernels/token_loop.hpp). The CUDA backend
// is src/cuda/lstm_step.cu.
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <utility>
#include <vector>

#include "core/check.hpp"
#include "core/philox.hpp"
#include "kernels/lstm.hpp"
#include "kernels/token_loop.hpp"
#include "libnn/autograd.hpp"
#include "libnn/modules/lstm_stepper.hpp"
#include "libnn/ops.hpp"

namespace nn {

namespace kernels {

double token_uniform(std::uint64_t seed, std::uint64_t draw) {
  return philox::uniform53(philox::philox4x32_10(seed, draw, 0));
}

std::int64_t sample_index(const float* logits, std::int64_t K, double temperature,
                          std::int64_t top_k, double top_p, double u) {
  // musegen's token_distribution and sample_token (examples/musegen/src/core/sampling.cpp),
  // step for step.
  std::vector<double> p(static_cast<std::size_t>(K));
  double max = -std::numeric_limits<double>::infinity();
  for (std::int64_t i = 0; i < K; ++i) max = std::max(max, static_cast<double>(logits[i]));
  double total = 0;
  for (std::int64_t i = 0; i < K; ++i) {
    p[static_cast<std::size_t>(i)] = std::exp((static_cast<double>(logits[i]) - max) / temperature);
    total += p[static_cast<std::size_t>(i)];
  }
  for (double& v : p) v /= total;
  // Tokens by decreasing probability, ties by index.
  std::vector<std::size_t> order(p.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return p[a] > p[b]; });
  std::size_t keep = p.size();
  if (top_k > 0) keep = std::min(keep, static_cast<std::size_t>(top_k));
  if (top_p < 1) {
    double mass = 0;
    std::size_t n = 0;
    while (n < keep) {
      mass += p[order[n]];
      ++n;
      if (mass >= top_p) break;
    }
    keep = n;
  }
  double kept = 0;
  for (std::size_t r = 0; r < keep; ++r) kept += p[order[r]];
  std::vector<double> q(p.size(), 0.0);
  for (std::size_t r = 0; r < keep; ++r) q[order[r]] = p[order[r]] / kept;
  double cumulative = 0;
  std::int64_t last_nonzero = 0;
  for (std::size_t i = 0; i < q.size(); ++i) {
    if (q[i] == 0) continue;
    cumulative += q[i];
    last_nonzero = static_cast<std::int64_t>(i);
    if (u < cumulative) return static_cast<std::int64_t>(i);
  }
  return last_nonzero;  // rounding left u just above the total
}

namespace {

// The reference: the CPU step kernel per layer, nn::linear for the head, sample_index.
class CpuTokenLoop final : public TokenLoopBackend {
 public:
  explicit CpuTokenLoop(const TokenLoopSpec& spec) : spec_(spec) {}

  void generate(std::int64_t token, Tensor& h, Tensor& c, std::int64_t n, std::uint64_t first_draw,
                std::int64_t* out) override {
    const std::int64_t L = static_cast<std::int64_t>(spec_.w_hh.size()), H = spec_.hidden_size;
    for (std::int64_t s = 0; s < n; ++s) {
      Tensor h_next = empty({L, 1, H}), c_next = empty({L, 1, H});
      Tensor input;
      for (std::int64_t k = 0; k < L; ++k) {
        const auto kk = static_cast<std::size_t>(k);
        const Tensor gx = k == 0 ? spec_.table.slice(0, token, token + 1) : Tensor();
        Tensor h_new = h_next.slice(0, k, k + 1).reshape({1, H});
        Tensor c_new = c_next.slice(0, k, k + 1).reshape({1, H});
        lstm_step(Device::cpu(), input, gx, spec_.w_ih[kk], spec_.w_hh[kk], spec_.bias[kk],
                  h.slice(0, k, k + 1).reshape({1, H}), c.slice(0, k, k + 1).reshape({1, H}), h_new,
                  c_new);
        input = h_new;
      }
      h.copy_(h_next);
      c.copy_(c_next);
      const Tensor logits = linear(input, spec_.head_weight, spec_.head_bias);
      token = sample_index(logits.data_ptr<float>(), logits.size(1), spec_.temperature, spec_.top_k,
                           spec_.top_p,
                           token_uniform(spec_.seed, first_draw + static_cast<std::uint64_t>(s)));
      out[s] = token;
    }
  }
  std::string how() const override { return "cpu"; }

 private:
  TokenLoopSpec spec_;
};

std::unique_ptr<TokenLoopBackend> make_token_loop_cpu(const TokenLoopSpec& spec) {
  return std::make_unique<CpuTokenLoop>(spec);
}

}  // namespace

Table<MakeTokenLoopFn> make_token_loop{"make_token_loop", make_token_loop_cpu};

}  // namespace kernels

LSTMTokenLoop::LSTMTokenLoop(const LSTMStepper& stepper, const Linear& head,
                             const TokenLoopOptions& options)
    : num_layers_(stepper.num_layers()),
      hidden_size_(stepper.hidden_size()),
      vocab_(stepper.num_embeddings()),
      device_(stepper.layers_[0].w_hh.device()) {
  NN_CHECK(stepper.table_.defined(),
           "LSTMTokenLoop: expected a stepper constructed with an Embedding (the loop feeds "
           "tokens), got one without");
  NN_CHECK(head.weight.dim() == 2 && head.weight.size(1) == hidden_size_ && head.weight.size(0) > 0,
           "LSTMTokenLoop: expected a head Linear({}, K) with K >= 1 (the LSTM's hidden size "
           "in), got a weight of shape {}",
           hidden_size_, shape_str(head.weight.sizes()));
  NN_CHECK(head.weight.dtype() == DType::Float32 && head.weight.device() == device_,
           "LSTMTokenLoop: expected the head's weight float32 on {} (the stepper's device), "
           "got {} on {}",
           device_.str(), dtype_name(head.weight.dtype()), head.weight.device().str());
  NN_CHECK(options.temperature() > 0 && std::isfinite(options.temperature()),
           "LSTMTokenLoop: expected a positive finite temperature, got {}", options.temperature());
  NN_CHECK(options.top_k() >= 0, "LSTMTokenLoop: expected top_k >= 0 (0: every token), got {}",
           options.top_k());
  NN_CHECK(options.top_p() > 0 && options.top_p() <= 1,
           "LSTMTokenLoop: expected top_p in (0, 1] (1: every token), got {}", options.top_p());
  NN_CHECK(device_.is_cpu() || (options.top_k() == 0 && options.top_p() >= 1) ||
               head.weight.size(0) <= kMaxFilteredVocab,
           "LSTMTokenLoop: top-k / top-p on {} sort the logits in one block of shared memory, "
           "which takes at most {} of them; the head has {} (sample on the host instead)",
           device_.str(), kMaxFilteredVocab, head.weight.size(0));
  NN_CHECK(options.graph_tokens() >= 0,
           "LSTMTokenLoop: expected graph_tokens >= 0 (0: no CUDA graph), got {}",
           options.graph_tokens());
  kernels::TokenLoopSpec spec;
  for (const auto& l : stepper.layers_) {
    spec.w_ih.push_back(l.w_ih);
    spec.w_hh.push_back(l.w_hh);
    spec.bias.push_back(l.bias);
  }
  spec.table = stepper.table_;
  NoGradGuard no_grad;
  spec.head_weight = head.weight.detach().clone();
  if (head.bias.defined()) spec.head_bias = head.bias.detach().clone();
  spec.hidden_size = hidden_size_;
  spec.temperature = options.temperature();
  spec.seed = options.seed();
  spec.top_k = options.top_k();
  spec.top_p = options.top_p();
  spec.graph_tokens = options.graph_tokens() + options.graph_tokens() % 2;
  backend_ = kernels::make_token_loop(device_, spec);
}

LSTMTokenLoop::~LSTMTokenLoop() = default;
LSTMTokenLoop::LSTMTokenLoop(LSTMTokenLoop&&) noexcept = default;
LSTMTokenLoop& LSTMTokenLoop::operator=(LSTMTokenLoop&&) noexcept = default;

std::vector<std::int64_t> LSTMTokenLoop::generate(std::int64_t token, LSTMState& state,
                                                  std::int64_t n, std::uint64_t first_draw) {
  NN_CHECK(token >= 0 && token < vocab_,
           "LSTMTokenLoop::generate: expected a token in [0,{}) (the embedding's rows), got {}",
           vocab_, token);
  NN_CHECK(n >= 0, "LSTMTokenLoop::generate: expected n >= 0 tokens, got {}", n);
  auto& [h, c] = state;
  const Shape shape{num_layers_, 1, hidden_size_};
  if (!h.defined() && !c.defined()) {
    h = zeros(shape, TensorOptions().device(device_));
    c = zeros(shape, TensorOptions().device(device_));
  }
  for (const auto& [t, name] : {std::pair<const Tensor&, const char*>{h, "h"}, {c, "c"}}) {
    NN_CHECK(
        t.defined() && t.sizes() == shape && t.dtype() == DType::Float32 && t.device() == device_,
        "LSTMTokenLoop::generate: expected state {} float32 of shape (num_layers,1,H) = {} "
        "on {}, got {}",
        name, shape_str(shape), device_.str(), t.defined() ? t.str() : "an undefined tensor");
  }
  std::vector<std::int64_t> out(static_cast<std::size_t>(n));
  if (n == 0) return out;
  NoGradGuard no_grad;
  backend_->generate(token, h, c, n, first_draw, out.data());
  return out;
}

std::string LSTMTokenLoop::how() const { return backend_->how(); }

}  // namespace nn
