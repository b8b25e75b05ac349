// Drawing the next step from the model's logits: temperature, top-k and top-p (nucleus)
// for token encodings, independent Bernoulli keys for the roll. Randomness comes from Philox
// at counter (step, draw), so a seed gives the same piece on every machine and thread count.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace musegen {

struct SampleOptions {
  double temperature = 1.0;   // logits are divided by it; → 0 approaches greedy
  std::int64_t top_k = 0;     // keep the k most likely tokens (0: all)
  double top_p = 1.0;         // keep the smallest set whose probability reaches p (1: all)
  std::uint64_t seed = 1;
};

// The distribution sample_token draws from (probabilities over the vocabulary, zero for
// tokens top-k / top-p removed, summing to 1); exposed for tests.
std::vector<double> token_distribution(std::span<const float> logits, const SampleOptions& options);

// One token from `logits` (V) for generation step `step`.
std::int32_t sample_token(std::span<const float> logits, const SampleOptions& options,
                          std::uint64_t step);

// One roll frame: key k sounds with probability sigmoid(logits[k] / temperature).
std::vector<std::uint8_t> sample_frame(std::span<const float> logits, const SampleOptions& options,
                                       std::uint64_t step);

// A uniform double in [0,1) from Philox at (seed, step, draw): 53 random bits.
double uniform(std::uint64_t seed, std::uint64_t step, std::uint64_t draw);

}  // namespace musegen
