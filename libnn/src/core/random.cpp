// Philox4x32-10 and the default generator (libnn/random.hpp). The algorithm itself is in
// core/philox.hpp, shared with the CUDA random kernel.
#include "libnn/random.hpp"

#include "core/philox.hpp"

namespace nn {

std::array<std::uint32_t, 4> philox4x32(std::uint64_t key, std::uint64_t counter_lo,
                                        std::uint64_t counter_hi) {
  const philox::Block block = philox::philox4x32_10(key, counter_lo, counter_hi);
  return {block.word[0], block.word[1], block.word[2], block.word[3]};
}

Generator& default_generator() {
  static Generator generator;
  return generator;
}

void manual_seed(std::uint64_t seed) { default_generator().manual_seed(seed); }

}  // namespace nn
