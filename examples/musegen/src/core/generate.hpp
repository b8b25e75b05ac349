// Generation: run a primer through a trained model, then sample step by step at batch 1,
// carrying the LSTM state. The primer goes through the model's fused sequence forward; the
// sampling loop through an nn::LSTMStepper, a snapshot of the LSTM for one step at a time
// (matrix-vector kernels, the embedding folded into layer 0's input projection).
#pragma once

#include <cstdint>
#include <iosfwd>

#include "codec.hpp"
#include "model.hpp"
#include "sampling.hpp"

namespace musegen {

struct GenerateOptions {
  std::int64_t steps = 512;     // new tokens or frames
  SampleOptions sample;
  bool keep_primer = true;      // the result starts with the primer
  // The LSTM weights of the sampling loop: float32 (the trained model exactly) or float16
  // (half the memory traffic, ~1.8x faster on a large model; logits move by ~1e-3 relative).
  nn::DType weights = nn::DType::Float32;
};

struct GenerateResult {
  Sequence sequence;             // primer (when kept) + generated steps
  std::int64_t primer_steps = 0;
  double seconds = 0;            // sampling only (not the primer)
};

// `primer` may be empty: roll starts from the all-zero frame the model was trained to
// continue; token encodings need at least one token (the caller picks one).
GenerateResult generate(MusicModel& model, const Sequence& primer, const GenerateOptions& options,
                        std::ostream* progress = nullptr);

}  // namespace musegen
