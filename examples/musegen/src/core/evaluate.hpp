// Negative log-likelihood of a model on a dataset split, and loading a trained model.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>

#include "codec.hpp"
#include "model.hpp"

namespace musegen {

struct NllResult {
  double nll_sum = 0;             // nats, over every prediction
  std::int64_t predictions = 0;   // tokens or frames scored
  double mean() const { return predictions > 0 ? nll_sum / static_cast<double>(predictions) : 0; }
};

// Scores every prediction of every sequence (make_windows' positions) in eval mode without
// gradients, `batch` windows at a time. window <= 0 scores each sequence in one window
// from a zero state (the JSB protocol); otherwise sequences are cut into windows of that many
// predictions, each from a zero state.
NllResult evaluate_nll(MusicModel& model, std::span<const Sequence> split, std::int64_t window,
                       std::int64_t batch);

struct LoadedModel {
  std::unique_ptr<MusicModel> model;
  std::map<std::string, std::string> metadata;  // the weights file's metadata
  std::filesystem::path weights;                // the file read
};

// A model from a run dir (best.safetensors if there is one, else model.safetensors) or from a
// .safetensors file written by `musegen train`. The model is in eval mode.
LoadedModel load_model(const std::filesystem::path& run_dir_or_weights);

}  // namespace musegen
