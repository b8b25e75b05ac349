// A run folder made in a test, as `musegen train` leaves one, without training: a tiny
// dataset of synthetic sequences and a randomly initialised model whose weights name it.
// Shared by the tests of opening a run (test_session.cpp) and of generating on threads
// (test_generate_threads.cpp).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include <libnn/libnn.hpp>

#include "dataset.hpp"
#include "model.hpp"
#include "run_dir.hpp"

namespace musegen::test {

// n steps of noise from Philox at `seed`: tokens in [0, vocab), or roll frames with about one
// key in eleven down.
inline Sequence synthetic_sequence(Encoding encoding, std::int64_t n, std::int64_t vocab,
                                   std::uint64_t seed) {
  Sequence s = encoding == Encoding::roll ? Sequence::of_frames("synthetic-" + std::to_string(seed), kRollKeys)
                                           : Sequence::of_tokens("synthetic-" + std::to_string(seed));
  for (std::int64_t i = 0; i < n; ++i) {
    if (encoding == Encoding::roll) {
      for (int k = 0; k < kRollKeys; ++k) {
        const auto r = nn::philox4x32(seed, static_cast<std::uint64_t>(i * kRollKeys + k));
        s.frames.push_back(r[0] % 11 == 0 ? 1 : 0);
      }
    } else {
      const auto r = nn::philox4x32(seed, static_cast<std::uint64_t>(i));
      s.tokens.push_back(static_cast<std::int32_t>(r[0] % static_cast<std::uint32_t>(vocab)));
    }
  }
  return s;
}

// Four training and three validation sequences of 20 to 26 steps.
inline Dataset tiny_dataset(Encoding encoding) {
  Dataset data;
  data.codec = encoding == Encoding::roll ? Codec::roll(4) : Codec::events(CodecParams{});
  const std::int64_t V = data.codec.vocab_size();
  for (std::uint64_t i = 0; i < 4; ++i)
    data.train.push_back(synthetic_sequence(encoding, 20 + 2 * static_cast<std::int64_t>(i), V, i));
  for (std::uint64_t i = 0; i < 3; ++i)
    data.valid.push_back(synthetic_sequence(encoding, 24, V, 100 + i));
  return data;
}

// Writes `data` to dir/tiny.mgds and a model of `config` (its encoding and vocabulary taken
// from the dataset) to RunDir{dir}.weights(), with the metadata train() writes. Returns dir.
inline std::filesystem::path save_tiny_run(const std::filesystem::path& dir, const Dataset& data,
                                           ModelConfig config, std::uint64_t seed = 7) {
  std::filesystem::create_directories(dir);
  save_dataset(dir / "tiny.mgds", data);
  config.encoding = data.codec.encoding();
  config.vocab = data.codec.vocab_size();
  nn::Generator init(seed);
  MusicModel model(config, &init);
  auto metadata = config.to_metadata();
  metadata["musegen.dataset"] = std::filesystem::absolute(dir / "tiny.mgds").string();
  nn::save_weights(model, RunDir{dir}.weights(), metadata);
  return dir;
}

}  // namespace musegen::test
