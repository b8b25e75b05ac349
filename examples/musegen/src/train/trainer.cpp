#include "trainer.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace musegen {

namespace {

using Clock = std::chrono::steady_clock;
using Source = MetricColumn::Source;

bool is_step_figure(const MetricColumn& c) {
  return c.source == Source::step_mean || c.source == Source::step_last;
}

// The trainer's keys in the state file. "epoch_sum.<column>" holds Σ value × items of a
// step_mean column over the epoch so far.
constexpr const char* kStep = "step";
constexpr const char* kEpoch = "epoch";
constexpr const char* kNextBatch = "batch_in_epoch";
constexpr const char* kBestValid = "best_valid_loss";
constexpr const char* kEpochItems = "epoch_predictions";

template <class Map>
auto required(const Map& map, const std::string& key, const RunDir& run) {
  const auto it = map.find(key);
  if (it == map.end()) {
    throw std::runtime_error(run.state().string() + ": not a musegen training state: \"" + key +
                             "\" is missing");
  }
  return it->second;
}

}  // namespace

Trainer::Trainer(RunDir run, TrainingTask& task, TrainerOptions options, TrainObserver* observer,
                 nn::TrainingState options_state)
    : run_(std::move(run)),
      task_(task),
      options_(std::move(options)),
      observer_(observer),
      options_state_(std::move(options_state)),
      columns_(task.columns()),
      steps_per_epoch_(task.steps_per_epoch()),
      epoch_sums_(columns_.size(), 0.0),
      last_values_(columns_.size(), std::numeric_limits<double>::quiet_NaN()),
      best_valid_(std::numeric_limits<double>::infinity()) {
  if (steps_per_epoch_ <= 0) throw std::invalid_argument("training: an epoch has no steps");
  total_steps_ = options_.epochs * steps_per_epoch_;
  if (options_.max_steps > 0) total_steps_ = std::min(total_steps_, options_.max_steps);
}

void Trainer::resume(const nn::TrainingState& saved) {
  task_.load_state(saved);
  step_ = required(saved.ints, kStep, run_);
  epoch_ = required(saved.ints, kEpoch, run_);
  batch_ = required(saved.ints, kNextBatch, run_);
  best_valid_ = required(saved.floats, kBestValid, run_);
  epoch_items_ = required(saved.ints, kEpochItems, run_);
  for (std::size_t c = 0; c < columns_.size(); ++c) {
    if (columns_[c].source != Source::step_mean) continue;
    const std::string key = "epoch_sum." + columns_[c].name;
    // State files written before the trainer existed kept the LSTM's loss sum under this name.
    const bool legacy = !saved.floats.contains(key) && columns_[c].name == "train_loss" &&
                        saved.floats.contains("epoch_loss_sum");
    epoch_sums_[c] = required(saved.floats, legacy ? std::string("epoch_loss_sum") : key, run_);
  }
  plot::truncate_metrics_csv(run_.metrics(), step_);
  resumed_ = true;
}

void Trainer::checkpoint(std::int64_t next_batch, bool best) {
  nn::TrainingState state = options_state_;
  task_.save_state(state);
  state.ints[kStep] = step_;
  state.ints[kEpoch] = epoch_;
  state.ints[kNextBatch] = next_batch;
  state.floats[kBestValid] = best_valid_;
  state.ints[kEpochItems] = epoch_items_;
  for (std::size_t c = 0; c < columns_.size(); ++c) {
    if (columns_[c].source == Source::step_mean) {
      state.floats["epoch_sum." + columns_[c].name] = epoch_sums_[c];
    }
  }
  nn::save_training_state(run_.state(), state);
  task_.write_outputs(step_, best);
}

TrainerResult Trainer::run() {
  std::vector<std::string> names;
  for (const MetricColumn& c : columns_) names.push_back(c.name);
  std::filesystem::create_directories(run_.root);
  plot::MetricsCsvWriter metrics(run_.metrics(), names);
  std::optional<TensorBoardLog> board;
  if (options_.tensorboard) board.emplace(run_.root, step_ + 1);
  if (observer_) observer_->started(board ? &board->path() : nullptr);

  const auto start = Clock::now();
  const auto seconds = [&] { return std::chrono::duration<double>(Clock::now() - start).count(); };
  const double nan = std::numeric_limits<double>::quiet_NaN();

  // The log interval: sums of the step figures, steps and items since the last interval row.
  std::vector<double> interval_sums(columns_.size(), 0.0);
  std::int64_t interval_steps = 0, interval_items = 0;
  auto interval_start = Clock::now();
  double rate = 0;

  // A row in column order: interval means (or epoch means), the latest values, the rate.
  auto make_row = [&](bool epoch_row, const std::vector<double>& validation) {
    std::vector<double> row(columns_.size(), nan);
    std::size_t v = 0;
    for (std::size_t c = 0; c < columns_.size(); ++c) {
      const MetricColumn& col = columns_[c];
      if (epoch_row && !col.in_epoch_rows) {
        if (col.source == Source::validation) ++v;
        continue;
      }
      switch (col.source) {
        case Source::step_mean:
          row[c] = epoch_row ? (epoch_items_ > 0 ? epoch_sums_[c] / static_cast<double>(epoch_items_) : nan)
                             : (interval_steps > 0 ? interval_sums[c] / static_cast<double>(interval_steps) : nan);
          break;
        case Source::step_last: row[c] = last_values_[c]; break;
        case Source::validation:
          if (epoch_row && v < validation.size()) row[c] = validation[v];
          ++v;
          break;
        case Source::rate: row[c] = rate; break;
        case Source::seconds: row[c] = seconds(); break;
      }
    }
    return row;
  };
  auto log_row = [&](plot::MetricsRowKind kind, const std::vector<double>& row) {
    metrics.row(kind, step_, epoch_, row);
    if (!board) return;
    for (std::size_t c = 0; c < columns_.size(); ++c) {
      const std::string& tag =
          kind == plot::MetricsRowKind::epoch ? columns_[c].epoch_tag : columns_[c].interval_tag;
      if (!tag.empty()) board->scalar(tag, row[c], step_);
    }
  };

  TrainerResult result;
  auto finish = [&](bool interrupted) {
    result.steps = step_;
    result.epochs_done = epoch_;
    result.best_valid_loss = best_valid_;
    result.interrupted = interrupted;
    if (board) board->flush();
    return result;
  };

  while (step_ < total_steps_ && epoch_ < options_.epochs) {
    task_.begin_epoch(epoch_);
    if (observer_) observer_->epoch_started(epoch_, std::min(steps_per_epoch_, total_steps_ - step_ + batch_));
    for (; batch_ < steps_per_epoch_ && step_ < total_steps_; ++batch_) {
      const StepReport report = task_.train_step(batch_);
      ++step_;
      std::size_t v = 0;
      for (std::size_t c = 0; c < columns_.size(); ++c) {
        if (!is_step_figure(columns_[c])) continue;
        if (v >= report.values.size()) throw std::logic_error("training step: too few figures for the columns");
        const double value = report.values[v++];
        last_values_[c] = value;
        interval_sums[c] += value;
        epoch_sums_[c] += value * static_cast<double>(report.items);
      }
      ++interval_steps;
      interval_items += report.items;
      epoch_items_ += report.items;

      const double interval_seconds = std::chrono::duration<double>(Clock::now() - interval_start).count();
      if (interval_seconds > 0) rate = static_cast<double>(interval_items) / interval_seconds;
      if (observer_) observer_->step_done(batch_ + 1, make_row(false, {}), rate);
      if (interval_seconds >= options_.log_seconds || step_ == total_steps_) {
        log_row(plot::MetricsRowKind::interval, make_row(false, {}));
        if (board) board->flush();
        std::fill(interval_sums.begin(), interval_sums.end(), 0.0);
        interval_steps = interval_items = 0;
        interval_start = Clock::now();
      }

      const bool stop = options_.stop.stop_requested() ||
                        (options_.stop_flag != nullptr && options_.stop_flag->load()) ||
                        (options_.stop_after_step > 0 && step_ == options_.stop_after_step);
      if (stop || (options_.checkpoint_every > 0 && step_ % options_.checkpoint_every == 0)) {
        checkpoint(batch_ + 1, false);  // the state says where to continue: the next batch
      }
      if (stop) {
        if (observer_) observer_->stopped(step_);
        return finish(true);
      }
    }
    if (batch_ < steps_per_epoch_) break;  // max_steps reached inside the epoch

    // End of an epoch: validate, log, checkpoint.
    const std::vector<double> validation = task_.validate();
    const double valid = validation.empty() ? nan : validation.front();
    const bool improved = !std::isnan(valid) && valid < best_valid_;
    if (improved) best_valid_ = valid;
    std::vector<double> row = make_row(true, validation);
    ++epoch_;
    batch_ = 0;
    std::fill(epoch_sums_.begin(), epoch_sums_.end(), 0.0);
    epoch_items_ = 0;
    log_row(plot::MetricsRowKind::epoch, row);
    task_.after_epoch(step_, epoch_, board ? &*board : nullptr);
    if (board) board->flush();
    if (observer_) observer_->epoch_done(epoch_, row, improved);
    checkpoint(0, improved || std::isnan(valid));
  }
  if (batch_ != 0) checkpoint(batch_, false);  // stopped by max_steps inside an epoch
  return finish(false);
}

}  // namespace musegen
