// Seeded, reproducible random numbers: a counter-based Philox4x32-10 generator.
//
// A counter-based generator suits tensors: element i of a fill draws from counter
// (offset + i/4), so the values depend only on (seed, offset, i) -- not on how many threads
// or which device computes them. A fill of n elements advances the offset by ceil(n/4).
// The whole state is two integers, which the training-state file saves and restores.
#pragma once

#include <array>
#include <cstdint>

namespace nn {

class Generator {
 public:
  struct State {
    std::uint64_t seed = 0;
    std::uint64_t offset = 0;
    friend bool operator==(const State&, const State&) = default;
  };

  explicit Generator(std::uint64_t seed = kDefaultSeed) : state_{seed, 0} {}

  void manual_seed(std::uint64_t seed) { state_ = {seed, 0}; }
  std::uint64_t seed() const { return state_.seed; }
  State state() const { return state_; }
  void set_state(State state) { state_ = state; }

  // Reserves `blocks` Philox blocks (4 values each) and returns the first block's counter.
  std::uint64_t reserve(std::uint64_t blocks) {
    const std::uint64_t first = state_.offset;
    state_.offset += blocks;
    return first;
  }

  static constexpr std::uint64_t kDefaultSeed = 67280421310721ULL;  // PyTorch's default seed

 private:
  State state_;
};

// The generator used when none is given: module initialisation, dropout, rand() without a
// Generator*. One per process and not synchronised: code that runs on several threads at
// once passes a Generator of its own to everything that draws (docs/libnn.md, "Threads").
Generator& default_generator();
// Seeds the default generator.
void manual_seed(std::uint64_t seed);

// Philox4x32-10 (Salmon et al., SC'11): four 32-bit values from a 64-bit key and a 128-bit
// counter.
std::array<std::uint32_t, 4> philox4x32(std::uint64_t key, std::uint64_t counter_lo,
                                        std::uint64_t counter_hi = 0);

// A uniform float in [0, 1) from 32 random bits (24 of them are used).
inline float uniform_from_bits(std::uint32_t bits) {
  return static_cast<float>(bits >> 8) * (1.0f / 16777216.0f);
}

}  // namespace nn
