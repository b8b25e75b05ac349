// A picture of what a model plays at a point of its training: a short piece generated from a
// primer (core/generate.hpp), drawn as a piano roll (plot/plot.hpp) in a PNG. The trainer
// logs one to TensorBoard after every epoch (tensorboard_log.hpp); a web page could show it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "codec.hpp"
#include "model.hpp"

namespace musegen {

struct SamplePicture {
  std::vector<std::uint8_t> png;
  int width = 0, height = 0;
};

// The piano roll (plot::piano_roll) of `primer` followed by `steps` steps sampled from the
// model (temperature 1, Philox at `seed`), as a PNG of width × height. Leaves the model in
// eval mode; the training generators are not touched, so sampling does not change training.
SamplePicture sample_piano_roll(MusicModel& model, const Codec& codec, const Sequence& primer,
                                std::int64_t steps, std::uint64_t seed, const std::string& title,
                                int width = 800, int height = 320);

}  // namespace musegen
