// A training loop that any model can use: epochs of steps, log intervals, validation,
// metrics.csv and TensorBoard, checkpoints, exact resume, and stopping on request.
//
// What differs between models is a TrainingTask: how many steps an epoch has, what one step
// does (one LSTM update, or a discriminator and a generator update for a GAN), how to validate,
// and what its state is (weights, optimizers, schedules, generators). The Trainer owns the
// rest, once:
//   - the position (step, epoch, next batch) and the running sums, saved with the task's state
//     in RunDir::state() and restored by resume(), so a stopped run continues bit for bit;
//   - one metrics schema (the task's MetricColumn list) that feeds metrics.csv (with an explicit
//     row kind, plot/metrics_csv.hpp), TensorBoard and the observer (the console);
//   - a checkpoint every `checkpoint_every` steps, after every epoch, at the end, and when a
//     stop is requested (a server's cancel button through the stop token, Ctrl-C through the
//     flag a signal handler sets) — then it returns.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

#include <libnn/checkpoint.hpp>

#include "metrics_csv.hpp"
#include "run_dir.hpp"
#include "tensorboard_log.hpp"

namespace musegen {

// One column of metrics.csv, where its values come from, and its TensorBoard tags.
struct MetricColumn {
  enum class Source {
    step_mean,   // a figure of every step: the mean over the log interval; in an epoch row, the
                 // mean over the epoch weighted by the steps' items
    step_last,   // a figure of every step: its latest value (a learning rate)
    validation,  // from TrainingTask::validate(), in epoch rows only
    rate,        // items per second over the log interval
    seconds,     // wall-clock seconds since this session started
  };
  std::string name;
  Source source = Source::step_mean;
  std::string interval_tag;  // TensorBoard tag of interval rows ("": not logged)
  std::string epoch_tag;     // of epoch rows ("": not logged)
  bool in_epoch_rows = true;  // false: the cell stays empty in epoch rows
};

// What one step reports: a value for each step_mean / step_last column, in column order, and
// how many items (predictions, samples) it processed.
struct StepReport {
  std::vector<double> values;
  std::int64_t items = 1;
};

class TrainingTask {
 public:
  virtual ~TrainingTask() = default;

  virtual std::vector<MetricColumn> columns() const = 0;
  virtual std::int64_t steps_per_epoch() const = 0;
  // Called before the first step of an epoch (also a resumed, half-done one): shuffle.
  virtual void begin_epoch(std::int64_t epoch) = 0;
  // One optimisation step on batch `batch` of the current epoch. Throws to abort the run
  // (a non-finite loss); nothing of the failed step is saved.
  virtual StepReport train_step(std::int64_t batch) = 0;
  // A value for each validation column, in column order (NaN: none). The first one is the
  // loss the best weights are chosen by (lower is better).
  virtual std::vector<double> validate() = 0;
  // After an epoch's row is written: pictures for TensorBoard (`board` is null without it).
  virtual void after_epoch(std::int64_t /*step*/, std::int64_t /*epochs_done*/,
                           TensorBoardLog* /*board*/) {}

  // Everything needed to continue exactly, under names of the task's choosing (the trainer's
  // own keys start with "trainer." or are the plain names listed in trainer.cpp).
  virtual void save_state(nn::TrainingState& state) const = 0;
  virtual void load_state(const nn::TrainingState& state) = 0;
  // The files users read (weights), written after every checkpoint; `best` when the last
  // validation improved (or there is no validation).
  virtual void write_outputs(std::int64_t /*step*/, bool /*best*/) {}
};

// What the console (or a web page) is told while training runs.
class TrainObserver {
 public:
  virtual ~TrainObserver() = default;
  // Before the first step; the TensorBoard event file when one is written.
  virtual void started(const std::filesystem::path* /*tensorboard_file*/) {}
  virtual void epoch_started(std::int64_t /*epoch*/, std::int64_t /*steps_in_epoch*/) {}
  // After every step: the batch just done (1-based within the epoch), the interval means so
  // far (column order, NaN where not a step figure) and the latest rate.
  virtual void step_done(std::int64_t /*batch_done*/, const std::vector<double>& /*interval*/,
                         double /*rate*/) {}
  // After an epoch's validation: its row (column order) and whether it is the best so far.
  virtual void epoch_done(std::int64_t /*epochs_done*/, const std::vector<double>& /*row*/,
                          bool /*best*/) {}
  virtual void stopped(std::int64_t /*step*/) {}
};

struct TrainerOptions {
  std::int64_t epochs = 1;
  std::int64_t max_steps = 0;          // 0: no limit
  std::int64_t checkpoint_every = 0;   // steps (0: only at epoch ends)
  double log_seconds = 10.0;           // a metrics row at least this often (0: every step)
  bool tensorboard = true;
  std::int64_t stop_after_step = 0;    // for tests: as if stopped right after this step
  // Polled after every step (core/run_control.hpp): the caller's stop token (a server's
  // cancel), and a flag a signal handler sets (it cannot call request_stop(); train.cpp).
  std::stop_token stop;
  const std::atomic<bool>* stop_flag = nullptr;
};

struct TrainerResult {
  std::int64_t steps = 0;
  std::int64_t epochs_done = 0;
  double best_valid_loss = 0;
  bool interrupted = false;
};

class Trainer {
 public:
  // `options_state`: what the caller saves with every checkpoint beside the task's state (its
  // command-line options), so resume can read them back before building the task.
  Trainer(RunDir run, TrainingTask& task, TrainerOptions options, TrainObserver* observer = nullptr,
          nn::TrainingState options_state = {});

  // The total number of steps: epochs × steps per epoch, capped by max_steps.
  std::int64_t total_steps() const { return total_steps_; }
  std::int64_t step() const { return step_; }

  // Continues from a state read from RunDir::state(): the task's state, the position and the
  // sums; metrics.csv loses the rows the previous session wrote after that checkpoint.
  void resume(const nn::TrainingState& saved);

  // Trains until the end, max_steps, or a stop request (checkpoint written, then returns).
  TrainerResult run();

 private:
  void checkpoint(std::int64_t next_batch, bool best);
  double seconds() const;

  RunDir run_;
  TrainingTask& task_;
  TrainerOptions options_;
  TrainObserver* observer_;
  nn::TrainingState options_state_;
  std::vector<MetricColumn> columns_;
  std::int64_t steps_per_epoch_ = 0, total_steps_ = 0;

  std::int64_t step_ = 0, epoch_ = 0, batch_ = 0;  // batch_: the next batch of the epoch
  std::vector<double> epoch_sums_;                 // Σ value × items per step_mean column
  std::vector<double> last_values_;                // latest value per step column
  std::int64_t epoch_items_ = 0;
  double best_valid_ = 0;
  bool resumed_ = false;
};

}  // namespace musegen
