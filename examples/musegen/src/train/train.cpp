#include "train.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <limits>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <vector>

#include <libnn/libnn.hpp>

#include "batches.hpp"
#include "dataset.hpp"
#include "evaluate.hpp"
#include "model.hpp"
#include "progress.hpp"
#include "tensorboard_log.hpp"

namespace musegen {

namespace {

namespace fs = std::filesystem;

std::atomic<bool> g_stop{false};

extern "C" void on_sigint(int) {
  g_stop.store(true);
  std::signal(SIGINT, SIG_DFL);  // a second Ctrl-C stops at once
}

// Installs the Ctrl-C handler for the lifetime of a train() call.
class SigintScope {
 public:
  SigintScope() : previous_(std::signal(SIGINT, on_sigint)) { g_stop.store(false); }
  ~SigintScope() { std::signal(SIGINT, previous_); }
  SigintScope(const SigintScope&) = delete;
  SigintScope& operator=(const SigintScope&) = delete;

 private:
  void (*previous_)(int);
};

constexpr const char* kStateFile = "state.mgstate";
constexpr const char* kWeightsFile = "model.safetensors";
constexpr const char* kBestFile = "best.safetensors";
constexpr const char* kMetricsFile = "metrics.csv";
constexpr const char* kMetricsHeader =
    "step,epoch,lr,train_loss,valid_loss,valid_perplexity,predictions_per_s,grad_norm,seconds";

// --- options <-> training state ------------------------------------------------------------

void save_options(const TrainOptions& o, nn::TrainingState& s) {
  s.strings["options.dataset"] = fs::absolute(o.dataset).string();
  s.strings["options.schedule"] = o.schedule;
  s.ints["options.embed"] = o.embed;
  s.ints["options.hidden"] = o.hidden;
  s.ints["options.layers"] = o.layers;
  s.ints["options.seq_len"] = o.seq_len;
  s.ints["options.batch"] = o.batch;
  s.ints["options.epochs"] = o.epochs;
  s.ints["options.max_steps"] = o.max_steps;
  s.ints["options.warmup"] = o.warmup;
  s.ints["options.seed"] = o.seed;
  s.ints["options.checkpoint_every"] = o.checkpoint_every;
  s.ints["options.eval_length"] = o.eval_length;
  s.floats["options.dropout"] = o.dropout;
  s.floats["options.lr"] = o.lr;
  s.floats["options.weight_decay"] = o.weight_decay;
  s.floats["options.clip"] = o.clip;
}

template <class Map>
auto get(const Map& map, const std::string& key, const fs::path& file) {
  auto it = map.find(key);
  if (it == map.end()) {
    throw std::runtime_error(file.string() + ": not a musegen training state: \"" + key +
                             "\" is missing");
  }
  return it->second;
}

// The options a resumed run continues with: the saved ones, except what may change between
// sessions (how long to train, how often to save and log).
TrainOptions restore_options(const nn::TrainingState& s, const TrainOptions& given,
                             const fs::path& file) {
  TrainOptions o = given;
  o.dataset = get(s.strings, "options.dataset", file);
  if (!given.dataset.empty() && fs::absolute(given.dataset) != fs::path(o.dataset)) {
    o.dataset = given.dataset;  // the same data moved elsewhere: the caller's path wins
  }
  o.schedule = get(s.strings, "options.schedule", file);
  o.embed = get(s.ints, "options.embed", file);
  o.hidden = get(s.ints, "options.hidden", file);
  o.layers = get(s.ints, "options.layers", file);
  o.seq_len = get(s.ints, "options.seq_len", file);
  o.batch = get(s.ints, "options.batch", file);
  o.warmup = get(s.ints, "options.warmup", file);
  o.seed = get(s.ints, "options.seed", file);
  o.eval_length = get(s.ints, "options.eval_length", file);
  o.dropout = get(s.floats, "options.dropout", file);
  o.lr = get(s.floats, "options.lr", file);
  o.weight_decay = get(s.floats, "options.weight_decay", file);
  o.clip = get(s.floats, "options.clip", file);
  // epochs and max_steps change the cosine schedule's length: keep the saved ones so the
  // resumed run is the same run.
  o.epochs = get(s.ints, "options.epochs", file);
  o.max_steps = get(s.ints, "options.max_steps", file);
  return o;
}

void check_options(const TrainOptions& o) {
  auto positive = [](std::int64_t v, const char* name) {
    if (v <= 0) throw std::invalid_argument(std::string("--") + name + " must be positive, found " +
                                            std::to_string(v));
  };
  positive(o.embed, "embed");
  positive(o.hidden, "hidden");
  positive(o.layers, "layers");
  positive(o.seq_len, "seq-len");
  positive(o.batch, "batch");
  positive(o.epochs, "epochs");
  if (o.max_steps < 0) throw std::invalid_argument("--max-steps must be >= 0");
  if (!(o.dropout >= 0 && o.dropout < 1)) {
    throw std::invalid_argument("--dropout must be in [0, 1), found " + std::to_string(o.dropout));
  }
  if (!(o.lr > 0)) throw std::invalid_argument("--lr must be positive");
  if (o.schedule != "cosine" && o.schedule != "constant") {
    throw std::invalid_argument("--schedule: expected cosine or constant, found \"" + o.schedule +
                                "\"");
  }
}

// --- metrics.csv -------------------------------------------------------------------------------

// Keeps the rows up to `step` (a resumed run rewrites what came after its checkpoint).
void truncate_metrics(const fs::path& file, std::int64_t step) {
  std::ifstream in(file);
  if (!in) return;
  std::string line, kept;
  bool header = true;
  while (std::getline(in, line)) {
    if (header) {
      kept += line + "\n";
      header = false;
      continue;
    }
    std::int64_t row_step = std::atoll(line.c_str());
    if (row_step <= step) kept += line + "\n";
  }
  in.close();
  auto bytes = std::as_bytes(std::span(kept.data(), kept.size()));
  nn::io::write_file_atomically(file, bytes);
}

class MetricsCsv {
 public:
  explicit MetricsCsv(const fs::path& file) : out_(file, std::ios::app) {
    if (!out_) throw std::runtime_error(file.string() + ": cannot open for writing");
    if (fs::file_size(file) == 0) out_ << kMetricsHeader << '\n';
  }
  void row(std::int64_t step, std::int64_t epoch, double lr, double train_loss, double valid_loss,
           double valid_ppl, double rate, double grad_norm, double seconds) {
    auto num = [](double v) {
      if (std::isnan(v)) return std::string();
      std::ostringstream s;
      s << std::setprecision(7) << v;
      return s.str();
    };
    out_ << step << ',' << epoch << ',' << num(lr) << ',' << num(train_loss) << ','
         << num(valid_loss) << ',' << num(valid_ppl) << ',' << num(rate) << ',' << num(grad_norm)
         << ',' << num(seconds) << '\n';
    out_.flush();
  }

 private:
  std::ofstream out_;
};

}  // namespace

void request_stop() { g_stop.store(true); }

TrainResult train(TrainOptions options, std::ostream& log) {
  SigintScope sigint;
  const fs::path run = options.run_dir;
  const fs::path state_path = run / kStateFile;

  nn::TrainingState saved;
  const bool resuming = options.resume && fs::exists(state_path);
  if (options.resume && !resuming) {
    throw std::runtime_error(state_path.string() + ": nothing to resume (no such file); " +
                             "start the run without --resume");
  }
  if (!options.resume && fs::exists(state_path)) {
    throw std::runtime_error(run.string() + " already holds a training run (" + kStateFile +
                             "); pass --resume to continue it, or choose another --run-dir");
  }
  if (resuming) {
    saved = nn::load_training_state(state_path);
    options = restore_options(saved, options, state_path);
  }
  check_options(options);
  if (options.dataset.empty()) throw std::invalid_argument("no dataset file given");

  Dataset data = load_dataset(options.dataset);
  const Encoding encoding = data.codec.encoding();
  if (data.train.empty()) {
    throw std::runtime_error(options.dataset.string() + ": the training split is empty");
  }
  fs::create_directories(run);

  ModelConfig config;
  config.encoding = encoding;
  config.vocab = data.codec.vocab_size();
  config.embed = options.embed;
  config.hidden = options.hidden;
  config.layers = options.layers;
  config.dropout = options.dropout;

  const auto seed = static_cast<std::uint64_t>(options.seed);
  nn::Generator init_generator(seed);
  nn::Generator dropout_generator(seed ^ 0x9e3779b97f4a7c15ULL);
  MusicModel model(config, &init_generator, &dropout_generator);
  const auto params = model.parameters();

  nn::optim::AdamW optimizer(params, nn::optim::AdamWOptions(options.lr)
                                          .weight_decay(options.weight_decay));

  auto windows = make_windows(data.train, encoding, options.seq_len);
  const auto batch = static_cast<std::size_t>(options.batch);
  const std::int64_t steps_per_epoch =
      static_cast<std::int64_t>((windows.size() + batch - 1) / batch);
  std::int64_t total_steps = options.epochs * steps_per_epoch;
  if (options.max_steps > 0) total_steps = std::min(total_steps, options.max_steps);

  std::shared_ptr<nn::optim::LRScheduler> schedule;
  if (options.schedule == "cosine") {
    // SequentialLR needs a milestone >= 1: at least one warm-up step.
    const std::int64_t warmup =
        std::clamp<std::int64_t>(options.warmup, 1, std::max<std::int64_t>(total_steps - 1, 1));
    auto warm = std::make_shared<nn::optim::LinearLR>(optimizer, 0.01, 1.0, warmup);
    auto cosine = std::make_shared<nn::optim::CosineAnnealingLR>(
        optimizer, std::max<std::int64_t>(total_steps - warmup, 1), options.lr * 0.01);
    schedule = std::make_shared<nn::optim::SequentialLR>(
        optimizer, std::vector<std::shared_ptr<nn::optim::LRScheduler>>{warm, cosine},
        std::vector<std::int64_t>{warmup});
  } else {
    schedule = std::make_shared<nn::optim::StepLR>(optimizer, std::numeric_limits<std::int32_t>::max(),
                                                   1.0);
  }

  std::int64_t step = 0, epoch = 0, batch_in_epoch = 0;
  double epoch_loss = 0;  // sum over the epoch's predictions so far (for its mean)
  std::int64_t epoch_predictions = 0;
  double best_valid = std::numeric_limits<double>::infinity();
  if (resuming) {
    model.load_state_dict(nn::StateDict([&] {
      nn::NamedTensors weights;
      for (const auto& [name, tensor] : saved.sub("model.").tensors) weights.insert(name, tensor);
      return weights;
    }()));
    optimizer.load_state(saved.sub("optimizer."));
    schedule->load_state(saved.sub("schedule."));
    nn::load_generator(saved, "dropout_rng.", dropout_generator);
    step = get(saved.ints, "step", state_path);
    epoch = get(saved.ints, "epoch", state_path);
    batch_in_epoch = get(saved.ints, "batch_in_epoch", state_path);
    best_valid = get(saved.floats, "best_valid_loss", state_path);
    epoch_loss = get(saved.floats, "epoch_loss_sum", state_path);
    epoch_predictions = get(saved.ints, "epoch_predictions", state_path);
    truncate_metrics(run / kMetricsFile, step);
  }
  MetricsCsv metrics(run / kMetricsFile);
  std::optional<TensorBoardLog> board;
  if (options.tensorboard) board.emplace(run, step + 1);
  // The TensorBoard sample continues the start of the first validation sequence.
  const std::int64_t sample_steps =
      options.sample_steps >= 0 ? options.sample_steps : (encoding == Encoding::roll ? 128 : 256);
  Sequence sample_primer = data.valid.empty() ? data.train.front() : data.valid.front();
  {
    constexpr std::size_t kPrimerSteps = 16;
    sample_primer.tokens.resize(std::min(sample_primer.tokens.size(), kPrimerSteps));
    sample_primer.frames.resize(std::min(sample_primer.frames.size(), kPrimerSteps * kRollKeys));
  }

  auto save_checkpoint = [&](bool best) {
    nn::TrainingState state;
    for (const auto& [name, tensor] : model.state_dict()) state.tensors["model." + name] = tensor;
    nn::TrainingState opt_state, sched_state;
    optimizer.save_state(opt_state);
    schedule->save_state(sched_state);
    state.merge(opt_state.prefixed("optimizer."));
    state.merge(sched_state.prefixed("schedule."));
    nn::save_generator(state, "dropout_rng.", dropout_generator);
    state.ints["step"] = step;
    state.ints["epoch"] = epoch;
    state.ints["batch_in_epoch"] = batch_in_epoch;
    state.floats["best_valid_loss"] = best_valid;
    state.floats["epoch_loss_sum"] = epoch_loss;
    state.ints["epoch_predictions"] = epoch_predictions;
    save_options(options, state);
    nn::save_training_state(state_path, state);
    auto metadata = config.to_metadata();
    metadata["musegen.step"] = std::to_string(step);
    metadata["musegen.dataset"] = fs::absolute(options.dataset).string();
    nn::save_weights(model, run / kWeightsFile, metadata);
    if (best) nn::save_weights(model, run / kBestFile, metadata);
  };

  const bool roll = encoding == Encoding::roll;
  if (!options.quiet) {
    log << "train: " << options.dataset.string() << ": " << data.codec.describe() << "\n"
        << "train: " << data.train.size() << " training sequences → " << windows.size()
        << " windows of ≤ " << options.seq_len << " steps, " << steps_per_epoch
        << " steps per epoch, " << total_steps << " steps in all\n"
        << "train: model " << config.describe() << ", " << model.parameter_count()
        << " parameters\n";
    if (resuming) log << "train: resuming " << run.string() << " at step " << step << "\n";
    if (board) {
      log << "train: TensorBoard events in " << board->path().string() << " (tensorboard --logdir "
          << run.string() << ")\n";
    }
  }

  auto validate = [&]() -> double {
    if (data.valid.empty()) return NAN;
    const std::int64_t window =
        options.eval_length > 0 ? options.eval_length : (roll ? 0 : 4 * options.seq_len);
    return evaluate_nll(model, data.valid, window, options.batch).mean();
  };

  TrainResult result;
  const auto start = std::chrono::steady_clock::now();
  auto seconds = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  double interval_loss = 0, interval_grad = 0;
  std::int64_t interval_steps = 0, interval_predictions = 0;
  auto interval_start = std::chrono::steady_clock::now();
  double last_rate = 0;

  model.train();
  while (step < total_steps && epoch < options.epochs) {
    const auto order = permutation(static_cast<std::int64_t>(windows.size()), seed,
                                   static_cast<std::uint64_t>(epoch));
    const std::int64_t epoch_steps =
        std::min(steps_per_epoch, total_steps - step + batch_in_epoch);
    Progress progress("epoch " + std::to_string(epoch + 1) + "/" + std::to_string(options.epochs),
                      epoch_steps, log, options.log_seconds);
    for (; batch_in_epoch < steps_per_epoch && step < total_steps; ++batch_in_epoch) {
      std::vector<Window> chosen;
      for (std::size_t i = static_cast<std::size_t>(batch_in_epoch) * batch;
           i < std::min(windows.size(), static_cast<std::size_t>(batch_in_epoch + 1) * batch); ++i) {
        chosen.push_back(windows[static_cast<std::size_t>(order[i])]);
      }
      Batch b = make_batch(data.train, chosen, encoding);
      auto [logits, final_state] = model.forward(b.input);
      nn::Tensor loss = nll_sum(logits, b, encoding) / static_cast<double>(b.predictions);
      optimizer.zero_grad();
      nn::backward({loss});
      const double grad_norm = options.clip > 0 ? nn::optim::clip_grad_norm_(params, options.clip)
                                                : nn::optim::clip_grad_norm_(params, 1e30);
      optimizer.step();
      schedule->step();
      ++step;

      const double value = loss.item<float>();
      if (!std::isfinite(value)) {
        throw std::runtime_error("the training loss became " + std::to_string(value) +
                                 " at step " + std::to_string(step) +
                                 " (try a lower --lr or --clip)");
      }
      interval_loss += value;
      interval_grad += grad_norm;
      ++interval_steps;
      interval_predictions += b.predictions;
      epoch_loss += value * static_cast<double>(b.predictions);
      epoch_predictions += b.predictions;

      const double interval_seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - interval_start).count();
      if (interval_seconds > 0) last_rate = static_cast<double>(interval_predictions) / interval_seconds;
      if (!options.quiet) {
        std::ostringstream figures;
        figures << "loss " << std::fixed << std::setprecision(4) << interval_loss / interval_steps
                << "  " << Progress::format_rate(last_rate) << (roll ? " frames/s" : " tok/s");
        progress.update(batch_in_epoch + 1, figures.str());
      }
      if (interval_seconds >= options.log_seconds || step == total_steps) {
        metrics.row(step, epoch, optimizer.lr(), interval_loss / interval_steps, NAN, NAN, last_rate,
                    interval_grad / interval_steps, seconds());
        if (board) {
          board->interval(step, optimizer.lr(), interval_loss / interval_steps,
                          interval_grad / interval_steps, last_rate);
          board->flush();
        }
        interval_loss = interval_grad = 0;
        interval_steps = interval_predictions = 0;
        interval_start = std::chrono::steady_clock::now();
      }
      result.last_train_loss = value;

      const bool stop =
          g_stop.load() || (options.stop_after_step > 0 && step == options.stop_after_step);
      if (stop || (options.checkpoint_every > 0 && step % options.checkpoint_every == 0)) {
        ++batch_in_epoch;  // the state says where to continue: the next batch
        save_checkpoint(false);
        --batch_in_epoch;
      }
      if (stop) {
        if (!options.quiet) {
          progress.finish();
          log << "train: interrupted: checkpoint written at step " << step << " to "
              << state_path.string() << "; continue with --resume\n";
        }
        result.interrupted = true;
        result.steps = step;
        result.epochs_done = epoch;
        result.best_valid_loss = best_valid;
        return result;
      }
    }
    if (!options.quiet) progress.finish();
    if (batch_in_epoch < steps_per_epoch) break;  // max_steps reached inside the epoch

    // End of an epoch: validate, log, checkpoint.
    const double valid = validate();
    const bool improved = !std::isnan(valid) && valid < best_valid;
    if (improved) best_valid = valid;
    const double train_mean =
        epoch_predictions > 0 ? epoch_loss / static_cast<double>(epoch_predictions) : NAN;
    ++epoch;
    batch_in_epoch = 0;
    epoch_loss = 0;
    epoch_predictions = 0;
    metrics.row(step, epoch, optimizer.lr(), train_mean, valid, roll ? NAN : std::exp(valid),
                last_rate, NAN, seconds());
    if (board) {
      board->epoch(step, train_mean, valid, roll ? NAN : std::exp(valid));
      if (sample_steps > 0) {
        board->image(step, sample_piano_roll(model, data.codec, sample_primer, sample_steps, seed,
                                             "step " + std::to_string(step) + ", epoch " +
                                                 std::to_string(epoch)));
        model.train();
      }
      board->flush();
    }
    if (!options.quiet) {
      log << "epoch " << epoch << ": train loss " << std::fixed << std::setprecision(4)
          << train_mean;
      if (!std::isnan(valid)) {
        log << ", valid loss " << valid;
        if (!roll) log << ", valid perplexity " << std::setprecision(2) << std::exp(valid);
        if (roll) log << " nats/frame";
        if (improved) log << " (best)";
      }
      log << std::defaultfloat << "\n";
    }
    save_checkpoint(improved || data.valid.empty());
  }
  if (batch_in_epoch != 0) save_checkpoint(false);  // stopped by --max-steps mid-epoch
  result.steps = step;
  result.epochs_done = epoch;
  result.best_valid_loss = best_valid;
  if (!options.quiet) {
    log << "train: done: " << step << " steps in " << Progress::format_duration(seconds())
        << "; weights in " << (run / kWeightsFile).string();
    if (std::isfinite(best_valid)) {
      log << ", best validation loss " << best_valid << " in " << (run / kBestFile).string();
    }
    log << "\n";
  }
  return result;
}

}  // namespace musegen
