// Sampling under a rule that feeds in known tokens (accompaniment's given parts), by
// sequential Monte Carlo: several candidate continuations ("particles") are sampled side by
// side, each weighted by how likely the model finds the known tokens that follow its choices,
// and the unlikely ones are replaced by copies of the likely ones as the known tokens arrive.
//
// Why: one left-to-right sample chooses the alto's note without knowing the soprano's next
// one, and nothing corrects it when the soprano arrives. What the user asks for is a sample of
// the written parts given *all* the given ones, p(written | given) ∝ p(written, given), and
// the model's own probability of the given tokens is exactly the importance weight that
// turns left-to-right samples into samples of that (docs/musegen.md, "Accompaniment with
// particles"). With one particle this is plain sampling, token for token the same as
// generate() with the same rule and seed.
//
// The weights: a token the rule forces adds log p(token), the model's probability at
// temperature 1; a sampled token adds log p(token) − log q(token), where q is the rule's
// distribution (the logits it returned, at temperature 1), which accounts for the probability
// the rule took away or moved. Temperature, top-k and top-p shape the proposals only.
// Particles are compared, and resampled (systematic resampling, when the effective sample
// size falls below `resample_below` × particles), only when every one of them has taken in
// the same number of known tokens (ParticleRule::evidence): a particle that gets there first
// waits for the others. At the end one particle is drawn in proportion to its weight.
//
// Deterministic: randomness comes from Philox at (seed, draw) as in generate(); particle i's
// k-th sampled token uses draw k × particles + i, resampling and the final choice draws of
// their own.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <stop_token>
#include <vector>

#include "generate.hpp"
#include "model.hpp"
#include "sampling.hpp"

namespace musegen {

// A token rule that can be copied with its state (a resampled particle takes a copy of
// another's), and that counts the known tokens it has fed in so far (accompaniment: the given
// notes whose tokens have all been fed). Weights are compared only at equal counts.
class ParticleRule : public TokenRule {
 public:
  virtual std::unique_ptr<ParticleRule> clone() const = 0;
  virtual std::int64_t evidence() const = 0;
};

// What the particles run on: a batch of token sequences, one per slot, each with its own
// state. The model's LSTM is one (model_slots); tests use small exact ones.
class SlotStepper {
 public:
  virtual ~SlotStepper() = default;
  virtual int slots() const = 0;
  virtual std::int64_t vocab() const = 0;
  // Every slot takes the state after `tokens` (the primer without its last token, which the
  // first step() feeds).
  virtual void start(std::span<const std::int32_t> tokens) = 0;
  // Feeds tokens[j] to slot slots[j], and writes the logits of that slot's next token to row j
  // of `logits` (slots.size() × vocab()).
  virtual void step(std::span<const int> slots, std::span<const std::int32_t> tokens,
                    std::span<float> logits) = 0;
  // Slot i takes the state slot source[i] had (resampling); source has slots() entries.
  virtual void reorder(std::span<const int> source) = 0;
};

// The music model's LSTM as `slots` sequences: the primer through its fused forward, then
// nn::LSTMStepper steps at the batch of the slots that move (weights as GenerateOptions::
// weights). Puts the model in eval mode; reads it only (generate.hpp, "Threads").
std::unique_ptr<SlotStepper> model_slots(MusicModel& model, int slots,
                                         nn::DType weights = nn::DType::Float32);

struct ParticleOptions {
  SampleOptions sample;                // the proposals: temperature, top-k, top-p, seed
  double resample_below = 0.5;         // resample when ESS < this × particles (0: never)
  std::int64_t max_steps = 1'000'000;  // new tokens per particle at most
  std::stop_token stop;                // checked before every round
  // After every round, with particle 0's rule (how far the piece has come).
  std::function<void(const ParticleRule&)> progress;
};

struct ParticleResult {
  std::vector<std::int32_t> tokens;  // the chosen particle's: the primer, then its new tokens
  std::int64_t generated = 0;        // its new tokens
  bool ended = false;                // every particle's rule ended the piece
  bool stopped = false;              // options.stop asked
  std::int64_t resamples = 0;        // times the particles were resampled
  std::int64_t barriers = 0;         // times they all had taken in one more known token group
  double min_ess = 0;                // the smallest effective sample size seen at a barrier
  double seconds = 0;
};

// Runs stepper.slots() particles from `primer` (at least one token) under copies of `rule`.
// Throws std::invalid_argument for an empty primer or a token outside the vocabulary, and
// std::logic_error when the rule forces a token outside it.
ParticleResult sample_particles(SlotStepper& stepper, std::span<const std::int32_t> primer,
                                const ParticleRule& rule, const ParticleOptions& options);

}  // namespace musegen
