// What `musegen train` shows in TensorBoard (`tensorboard --logdir runs/`): the event files
// are written into the run dir by libnn's nn::io::SummaryWriter.
//
// Scalars, against the optimizer step (the LSTM's metric columns, train.cpp):
//   train/loss  train/lr  train/grad_norm  train/predictions_per_s   every log interval
//   epoch/train_loss  valid/loss  valid/perplexity (token encodings)  after every epoch
// (the same figures as metrics.csv), and one image after every epoch:
//   valid/sample   the piano roll of a short piece sampled from the model at that point
//                  (sample_picture.hpp)
//
// Every session (a new run or a resumed one) opens its own event file and logs a
// SessionLog.START at the first step it will train, so TensorBoard drops whatever an
// interrupted session logged after its last checkpoint, as train() truncates metrics.csv.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include <libnn/io/summary_writer.hpp>

#include "sample_picture.hpp"  // the picture image() logs

namespace musegen {

class TensorBoardLog {
 public:
  // Opens a new event file in `run_dir` and logs the session's start at `first_step`.
  TensorBoardLog(const std::filesystem::path& run_dir, std::int64_t first_step);

  // A scalar under `tag`; NaN (no value: no validation split, no perplexity for roll) is not
  // logged. The tags come from the trainer's metric columns (trainer.hpp).
  void scalar(const std::string& tag, double value, std::int64_t step);
  void image(std::int64_t step, const SamplePicture& picture);
  void flush() { writer_.flush(); }

  const std::filesystem::path& path() const { return writer_.path(); }

 private:
  nn::io::SummaryWriter writer_;
};

}  // namespace musegen
