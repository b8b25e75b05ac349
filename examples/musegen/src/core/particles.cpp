#include "particles.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <string>

namespace musegen {

namespace {

// Philox draws of their own for resampling and the final choice, far from the tokens' draws
// (k × particles + i).
constexpr std::uint64_t kResampleDraws = std::uint64_t{1} << 62;
constexpr std::uint64_t kChoiceDraw = (std::uint64_t{1} << 62) - 1;

// log softmax(logits)[token]: logits may hold -infinity (a rule's), never at `token` when it
// was drawn from them.
double log_probability(std::span<const float> logits, std::int32_t token) {
  double max = -std::numeric_limits<double>::infinity();
  for (const float l : logits) max = std::max(max, static_cast<double>(l));
  double sum = 0;
  for (const float l : logits) sum += std::exp(static_cast<double>(l) - max);
  return static_cast<double>(logits[static_cast<std::size_t>(token)]) - max - std::log(sum);
}

struct Particle {
  std::unique_ptr<ParticleRule> rule;
  std::vector<std::int32_t> tokens;  // primer and new tokens: what the rule is shown
  std::vector<float> logits;         // the model's, for the next token
  std::vector<float> ruled;          // the rule's, once it has decided
  std::int32_t decision = 0;         // the rule's answer for the next token
  bool decided = false;
  bool done = false;
  std::int64_t generated = 0;
  double log_weight = 0;

  Particle copy() const {
    Particle p;
    p.rule = rule->clone();
    p.tokens = tokens;
    p.logits = logits;
    p.ruled = ruled;
    p.decision = decision;
    p.decided = decided;
    p.done = done;
    p.generated = generated;
    p.log_weight = log_weight;
    return p;
  }
};

// Normalized weights exp(log_weight - max), and their effective sample size.
std::vector<double> normalized_weights(const std::vector<Particle>& particles, double* ess) {
  double max = -std::numeric_limits<double>::infinity();
  for (const Particle& p : particles) max = std::max(max, p.log_weight);
  std::vector<double> w(particles.size());
  double sum = 0, squares = 0;
  for (std::size_t i = 0; i < particles.size(); ++i) {
    w[i] = std::exp(particles[i].log_weight - max);
    sum += w[i];
  }
  for (double& x : w) {
    x /= sum;
    squares += x * x;
  }
  *ess = 1.0 / squares;
  return w;
}

// Systematic resampling: one uniform u, particle i copies the one whose cumulative weight
// first reaches (i + u) / n. Low variance, and a particle of weight w gets ⌊nw⌋ or ⌈nw⌉ copies.
std::vector<int> systematic(const std::vector<double>& weights, double u) {
  const auto n = weights.size();
  std::vector<int> source(n);
  double cumulative = weights[0];
  std::size_t j = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double target = (static_cast<double>(i) + u) / static_cast<double>(n);
    while (cumulative < target && j + 1 < n) cumulative += weights[++j];
    source[i] = static_cast<int>(j);
  }
  return source;
}

}  // namespace

ParticleResult sample_particles(SlotStepper& stepper, std::span<const std::int32_t> primer,
                                const ParticleRule& rule, const ParticleOptions& options) {
  const int n = stepper.slots();
  const std::int64_t V = stepper.vocab();
  if (n < 1)
    throw std::invalid_argument("particles: at least one particle, found " + std::to_string(n));
  if (primer.empty()) throw std::invalid_argument("particles: the primer needs at least one token");
  for (const std::int32_t t : primer)
    if (t < 0 || t >= V)
      throw std::invalid_argument("particles: primer token " + std::to_string(t) +
                                  " is outside the vocabulary of " + std::to_string(V));

  ParticleResult result;
  const auto start_time = std::chrono::steady_clock::now();
  std::vector<Particle> particles(static_cast<std::size_t>(n));
  std::vector<int> moving(static_cast<std::size_t>(n));
  std::iota(moving.begin(), moving.end(), 0);
  std::vector<std::int32_t> feed(static_cast<std::size_t>(n), primer.back());
  std::vector<float> logits(static_cast<std::size_t>(n * V));
  stepper.start(primer.first(primer.size() - 1));
  stepper.step(moving, feed, logits);
  for (int i = 0; i < n; ++i) {
    Particle& p = particles[static_cast<std::size_t>(i)];
    p.rule = rule.clone();
    p.tokens.assign(primer.begin(), primer.end());
    p.logits.assign(logits.begin() + i * V, logits.begin() + (i + 1) * V);
  }

  std::int64_t level = rule.evidence();  // particles move while their evidence is at most this
  result.min_ess = n;
  for (;;) {
    if (options.stop.stop_requested()) {
      result.stopped = true;
      break;
    }
    // Each particle's rule decides its next token (once: a waiting particle keeps its answer).
    for (Particle& p : particles) {
      if (p.done || p.decided) continue;
      p.ruled = p.logits;
      p.decision = p.rule->next(p.tokens, p.ruled);
      p.decided = true;
      if (p.decision == TokenRule::kEnd) p.done = true;
    }
    moving.clear();
    feed.clear();
    for (int i = 0; i < n; ++i) {
      Particle& p = particles[static_cast<std::size_t>(i)];
      if (p.done || p.rule->evidence() > level) continue;
      std::int32_t token = p.decision;
      if (token == TokenRule::kSample) {
        token =
            sample_token(p.ruled, options.sample, static_cast<std::uint64_t>(p.generated * n + i));
        p.log_weight += log_probability(p.logits, token) - log_probability(p.ruled, token);
      } else {
        if (token < 0 || token >= V)
          throw std::logic_error("particles: the rule forced token " + std::to_string(token) +
                                 " outside 0.." + std::to_string(V - 1));
        p.log_weight += log_probability(p.logits, token);
      }
      p.tokens.push_back(token);
      p.decided = false;
      if (++p.generated >= options.max_steps) p.done = true;
      moving.push_back(i);
      feed.push_back(token);
    }

    if (moving.empty()) {
      const bool all_done =
          std::all_of(particles.begin(), particles.end(), [](const Particle& p) { return p.done; });
      if (all_done) {
        result.ended = std::all_of(particles.begin(), particles.end(),
                                   [](const Particle& p) { return p.decision == TokenRule::kEnd; });
        break;
      }
      // A barrier: every particle has taken in one more group of known tokens.
      level = std::numeric_limits<std::int64_t>::max();
      for (const Particle& p : particles)
        if (!p.done) level = std::min(level, p.rule->evidence());
      ++result.barriers;
      double ess = 0;
      const std::vector<double> w = normalized_weights(particles, &ess);
      result.min_ess = std::min(result.min_ess, ess);
      if (n > 1 && ess < options.resample_below * n) {
        const double u = uniform(options.sample.seed,
                                 kResampleDraws + static_cast<std::uint64_t>(result.resamples), 0);
        const std::vector<int> source = systematic(w, u);
        std::vector<Particle> next;
        next.reserve(particles.size());
        for (const int s : source) {
          next.push_back(particles[static_cast<std::size_t>(s)].copy());
          next.back().log_weight = 0;
        }
        particles = std::move(next);
        stepper.reorder(source);
        ++result.resamples;
      }
      continue;
    }
    logits.resize(moving.size() * static_cast<std::size_t>(V));
    stepper.step(moving, feed, logits);
    for (std::size_t j = 0; j < moving.size(); ++j) {
      Particle& p = particles[static_cast<std::size_t>(moving[j])];
      p.logits.assign(logits.begin() + static_cast<std::ptrdiff_t>(j) * V,
                      logits.begin() + static_cast<std::ptrdiff_t>(j + 1) * V);
    }
    if (options.progress) options.progress(*particles[0].rule);
  }

  // One particle, drawn in proportion to its weight.
  double ess = 0;
  const std::vector<double> w = normalized_weights(particles, &ess);
  std::size_t chosen = 0;
  if (n > 1) {
    const double u = uniform(options.sample.seed, kChoiceDraw, 0);
    double cumulative = 0;
    for (chosen = 0; chosen + 1 < w.size(); ++chosen) {
      cumulative += w[chosen];
      if (u < cumulative) break;
    }
  }
  Particle& p = particles[chosen];
  result.tokens = std::move(p.tokens);
  result.generated = p.generated;
  result.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_time).count();
  return result;
}

namespace {

// A tensor's values readable on the host: itself on the CPU, a copy from a GPU (which waits
// for the work that makes it).
nn::Tensor on_host(const nn::Tensor& t) {
  return t.device().is_cpu() ? t : t.to(nn::Device::cpu());
}

// The slots' states stay on the host (reordering them is host work); each step copies the
// slots it runs to the model's device and their new states back.
class ModelSlots final : public SlotStepper {
 public:
  ModelSlots(MusicModel& model, int slots, nn::DType weights)
      : model_(model),
        device_(model.device()),
        stepper_(*model.embedding(), model.lstm(), nn::LSTMStepperOptions().weight_dtype(weights)),
        slots_(slots),
        layers_(model.lstm().options.num_layers()),
        hidden_(model.lstm().options.hidden_size()) {
    if (model.is_training()) model.eval();
    const auto size = static_cast<std::size_t>(layers_ * slots_ * hidden_);
    h_.assign(size, 0.0f);
    c_.assign(size, 0.0f);
  }

  int slots() const override { return slots_; }
  std::int64_t vocab() const override { return model_.config().vocab; }

  void start(std::span<const std::int32_t> tokens) override {
    std::fill(h_.begin(), h_.end(), 0.0f);
    std::fill(c_.begin(), c_.end(), 0.0f);
    if (tokens.empty()) return;
    nn::NoGradGuard no_grad;
    const std::vector<std::int64_t> ids(tokens.begin(), tokens.end());
    auto [logits, state] =
        model_.forward(nn::from_vector(ids, {static_cast<std::int64_t>(ids.size()), 1},
                                       nn::TensorOptions(nn::DType::Int64).device(device_)));
    const nn::Tensor h_host = on_host(std::get<0>(state)), c_host = on_host(std::get<1>(state));
    const float* h = h_host.data_ptr<float>();
    const float* c = c_host.data_ptr<float>();
    for (std::int64_t l = 0; l < layers_; ++l)
      for (int s = 0; s < slots_; ++s) {
        std::copy(h + l * hidden_, h + (l + 1) * hidden_, h_.begin() + offset(l, s));
        std::copy(c + l * hidden_, c + (l + 1) * hidden_, c_.begin() + offset(l, s));
      }
  }

  void step(std::span<const int> slots, std::span<const std::int32_t> tokens,
            std::span<float> logits) override {
    nn::NoGradGuard no_grad;
    const auto B = static_cast<std::int64_t>(slots.size());
    std::vector<float> h(static_cast<std::size_t>(layers_ * B * hidden_)), c(h.size());
    for (std::int64_t l = 0; l < layers_; ++l)
      for (std::int64_t j = 0; j < B; ++j) {
        const auto from = offset(l, slots[static_cast<std::size_t>(j)]);
        std::copy_n(h_.begin() + from, hidden_, h.begin() + (l * B + j) * hidden_);
        std::copy_n(c_.begin() + from, hidden_, c.begin() + (l * B + j) * hidden_);
      }
    const nn::TensorOptions on_device = nn::TensorOptions().device(device_);
    nn::LSTMState state{nn::from_vector(h, {layers_, B, hidden_}, on_device),
                        nn::from_vector(c, {layers_, B, hidden_}, on_device)};
    const std::vector<std::int64_t> ids(tokens.begin(), tokens.end());
    const nn::Tensor out = on_host(model_.head().forward(stepper_.step_tokens(
        nn::from_vector(ids, {B}, nn::TensorOptions(nn::DType::Int64).device(device_)), state)));
    const float* row = out.data_ptr<float>();
    std::copy(row, row + B * vocab(), logits.begin());
    const nn::Tensor hs_host = on_host(std::get<0>(state)), cs_host = on_host(std::get<1>(state));
    const float* hs = hs_host.data_ptr<float>();
    const float* cs = cs_host.data_ptr<float>();
    for (std::int64_t l = 0; l < layers_; ++l)
      for (std::int64_t j = 0; j < B; ++j) {
        const auto to = offset(l, slots[static_cast<std::size_t>(j)]);
        std::copy_n(hs + (l * B + j) * hidden_, hidden_, h_.begin() + to);
        std::copy_n(cs + (l * B + j) * hidden_, hidden_, c_.begin() + to);
      }
  }

  void reorder(std::span<const int> source) override {
    std::vector<float> h(h_.size()), c(c_.size());
    for (std::int64_t l = 0; l < layers_; ++l)
      for (int s = 0; s < slots_; ++s) {
        std::copy_n(h_.begin() + offset(l, source[static_cast<std::size_t>(s)]), hidden_,
                    h.begin() + offset(l, s));
        std::copy_n(c_.begin() + offset(l, source[static_cast<std::size_t>(s)]), hidden_,
                    c.begin() + offset(l, s));
      }
    h_ = std::move(h);
    c_ = std::move(c);
  }

 private:
  std::ptrdiff_t offset(std::int64_t layer, std::int64_t slot) const {
    return static_cast<std::ptrdiff_t>((layer * slots_ + slot) * hidden_);
  }

  MusicModel& model_;
  nn::Device device_;  // the model's: where each step runs
  nn::LSTMStepper stepper_;
  int slots_;
  std::int64_t layers_, hidden_;
  std::vector<float> h_, c_;  // (layers, slots, hidden): every slot's LSTM state
};

}  // namespace

std::unique_ptr<SlotStepper> model_slots(MusicModel& model, int slots, nn::DType weights) {
  if (model.config().frames())
    throw std::invalid_argument("particles: the model must take tokens, not frames");
  if (slots < 1)
    throw std::invalid_argument("particles: at least one particle, found " + std::to_string(slots));
  return std::make_unique<ModelSlots>(model, slots, weights);
}

}  // namespace musegen
