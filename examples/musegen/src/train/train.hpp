// Training the LSTM music model: what `musegen train` runs, on the generic trainer
// (trainer.hpp), in a run folder (core/run_dir.hpp).
//
// The state file holds everything needed to continue exactly: weights, Adam moments, the lr
// schedule, the step, the position in the epoch, the dropout generator and the options.
// A checkpoint is written every `checkpoint_every` steps, at the end of every epoch, at the
// end, and on a stop request (Ctrl-C, SIGTERM, or the `stop` token). `resume` continues from the state
// file with the saved options and gives the same losses, bit for bit, as a run that was never
// interrupted.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <iosfwd>
#include <libnn/dtype.hpp>
#include <stop_token>
#include <string>
#include <vector>

#include "codec.hpp"

namespace musegen {

struct TrainOptions {
  std::filesystem::path dataset;
  std::filesystem::path run_dir = "runs/default";
  // model
  std::int64_t embed = 256;
  std::int64_t hidden = 512;
  std::int64_t layers = 3;
  double dropout = 0.3;
  // optimisation
  std::int64_t seq_len = 100;   // predictions per training window
  std::int64_t batch = 64;
  std::int64_t epochs = 20;
  std::int64_t max_steps = 0;   // stop after this many steps in all (0: no limit)
  double lr = 2e-3;
  double weight_decay = 0.0;    // AdamW's decoupled decay
  double clip = 1.0;            // max global gradient norm (0: off)
  std::string schedule = "cosine";  // "cosine" (with linear warm-up) or "constant"
  std::int64_t warmup = 100;    // steps of linear warm-up
  std::int64_t seed = 1;
  // Where the model trains (musegen train --device). Not saved with the run: a run may resume
  // on another device (exactly only on the same one: docs/musegen.md, "Devices").
  nn::Device device = nn::Device::cpu();
  // The GPU's matrix-product precision (--precision; train/precision.hpp): fp32, tf32 or bf16.
  // Saved with the run and kept on resume.
  std::string precision = "fp32";
  // bookkeeping
  std::int64_t checkpoint_every = 500;  // steps (0: only at epoch ends)
  std::int64_t eval_length = 0;  // validation window (0: whole sequences for roll, 4×seq_len else)
  double log_seconds = 10.0;     // progress line interval when not on a terminal
  bool resume = false;
  bool quiet = false;
  // TensorBoard event files in the run dir (tensorboard_log.hpp), with the piano roll of a
  // sample of `sample_steps` steps after every epoch (-1: 128 frames for roll, 256 tokens
  // otherwise; 0: no picture).
  bool tensorboard = true;
  std::int64_t sample_steps = -1;
  // For tests: behave as if Ctrl-C was pressed right after this step (0: never).
  std::int64_t stop_after_step = 0;
  // Stopping: Ctrl-C (SIGINT) or SIGTERM while train() runs, when handle_sigint (a program
  // that handles signals itself, or runs several trainings, turns it off); and `stop`, a
  // std::stop_token polled after every step (a server's cancel, core/run_control.hpp). Either
  // finishes the step, writes a checkpoint and returns.
  bool handle_sigint = true;
  std::stop_token stop;
  // A new run's options that depend on its data (the command line's smaller defaults for roll
  // datasets), applied once the dataset is loaded and before the options are checked and
  // saved. Called with the loaded dataset's encoding; not called on resume.
  std::function<void(TrainOptions&, Encoding)> adapt_to_data;
};

struct TrainResult {
  std::int64_t steps = 0;
  std::int64_t epochs_done = 0;
  double last_train_loss = 0;
  double best_valid_loss = 0;    // mean NLL per prediction (nats)
  bool interrupted = false;      // stopped by a stop request (a checkpoint was written)
};

// Runs (or resumes) a training run. Progress goes to `log`. Throws on bad input (missing
// dataset, a run dir holding another run without `resume`, options a resumed run cannot
// change).
TrainResult train(TrainOptions options, std::ostream& log);

// The command-line names of the options a resumed run takes from its checkpoint ("embed",
// "seq-len", ...): giving one with --resume is an error.
const std::vector<std::string>& train_flags_fixed_on_resume();

}  // namespace musegen
