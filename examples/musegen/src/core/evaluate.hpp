// Negative log-likelihood of a model on a dataset split (loading a trained model is
// model.hpp's load_model).
#pragma once

#include <cstdint>
#include <span>

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
// predictions, each from a zero state. Runs where the model is (MusicModel::device()); each
// batch's sum is read back as it is done, in double, in the same order on every device.
NllResult evaluate_nll(MusicModel& model, std::span<const Sequence> split, std::int64_t window,
                       std::int64_t batch);

}  // namespace musegen
