// Generation: run a primer through a trained model, then sample step by step at batch 1,
// carrying the LSTM state. The primer goes through the model's fused sequence forward; the
// sampling loop through an nn::LSTMStepper, a snapshot of the LSTM for one step at a time
// (matrix-vector kernels, the embedding folded into layer 0's input projection).
//
// A run is watched and stopped from outside through its options (run_control.hpp): a
// std::stop_token checked before every step, and a progress callback called after every
// step. A stopped run does not throw: it returns at once with `stopped` set and the steps
// made so far.
//
// Threads: generate() keeps its state to itself (the LSTM state, an nn::LSTMStepper of its
// own) and draws its randomness from Philox at (seed, step), never from nn::default_generator;
// libnn's grad mode is per thread. So generations may run at once on several threads, each
// giving the same result as alone, even on one shared model, provided that model is in eval
// mode (load_model() returns it so): generate() then only reads it. A model in training
// mode is switched to eval mode, which is a write: do that before sharing it. Nothing may
// change the model (train it, load weights) while a generation reads it.
//
// Devices: generation runs where the model is (MusicModel::device(); load_model() puts it
// there). On a GPU without a rule (GenerateOptions::device_sampling) the whole token --
// LSTM step, head, softmax, draw -- runs on the device and the tokens come back every 64;
// otherwise the primer and every step's input are copied there, and every step's logits are
// copied back, because the sampling (sampling.hpp) stays on the host: the same seed draws
// the same uniform numbers on every device, so the same logits give the same piece. A GPU's
// logits equal the CPU's only to float rounding (sums in another order), so a piece can
// take another turn where a draw falls between two tokens' cumulative probabilities; the
// tests compare the logits within a tolerance (docs/musegen.md, "Devices").
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <stop_token>

#include "codec.hpp"
#include "model.hpp"
#include "run_control.hpp"
#include "sampling.hpp"

namespace musegen {

// A rule the sampled tokens follow (multitrack's grammar and ranges, accompaniment's given
// parts: multitrack_rules.hpp). generate() asks it before every new token, with the tokens so
// far (the primer's included, kept or not) and the logits the model gives the next one. It
// answers with a token to take as it is (the model is not asked), kEnd to finish the piece
// there, or kSample after setting the logits of the tokens it does not allow to -infinity
// (one at least stays finite); it may move probability between the allowed ones. A rule keeps
// state: one per generation. Token models only.
class TokenRule {
 public:
  static constexpr std::int32_t kSample = -1, kEnd = -2;
  virtual ~TokenRule() = default;
  virtual std::int32_t next(std::span<const std::int32_t> so_far, std::span<float> logits) = 0;
};

struct GenerateOptions {
  std::int64_t steps = 512;     // new tokens or frames
  SampleOptions sample;
  bool keep_primer = true;      // the result starts with the primer
  // The LSTM weights of the sampling loop: float32 (the trained model exactly) or float16
  // (half the memory traffic: faster on a large model, logits move slightly; docs/perf.md,
  // "LSTM", has both measured).
  nn::DType weights = nn::DType::Float32;
  // On a GPU, sample on the device (nn::LSTMTokenLoop) when the sampling allows it: a token
  // model, no rule (top-k / top-p with a vocabulary of at most 2048). The same draws and
  // rule as the host's sampler; a token differs only where a draw falls within float
  // rounding of a boundary. false: logits to the host every step (the CPU's path).
  bool device_sampling = true;
  std::shared_ptr<TokenRule> rule;  // none: every token may follow every other
  std::stop_token stop;  // checked before every step (default: never stops)
  ProgressFn progress;   // after every step: {"generate", steps done, steps} (default: none)
};

struct GenerateResult {
  Sequence sequence;             // primer (when kept) + generated steps
  std::int64_t primer_steps = 0;
  std::int64_t generated = 0;    // new steps: options.steps, or fewer when stopped
  double seconds = 0;            // sampling only (not the primer)
  bool stopped = false;          // options.stop asked: `sequence` ends after `generated` steps
  bool ended = false;            // the rule ended the piece before options.steps
};

// `primer` may be empty: roll starts from the all-zero frame the model was trained to
// continue; token encodings need at least one token (the caller picks one, primer.hpp).
// Throws std::invalid_argument for a primer the model cannot take.
GenerateResult generate(MusicModel& model, const Sequence& primer, const GenerateOptions& options);

}  // namespace musegen
