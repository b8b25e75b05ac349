// `musegen train`'s model on the generic trainer (trainer.hpp): the LSTM task (batches,
// AdamW, the learning-rate schedule, validation, the TensorBoard sample), the options a run
// saves (one table), and the console's progress.
#include "train.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <iomanip>
#include <libnn/libnn.hpp>
#include <limits>
#include <memory>
#include <optional>
#include <ostream>
#include <sstream>
#include <stdexcept>
#include <variant>
#include <vector>

#include "batches.hpp"
#include "dataset.hpp"
#include "evaluate.hpp"
#include "gpu_memory.hpp"
#include "model.hpp"
#include "precision.hpp"
#include "progress.hpp"
#include "run_dir.hpp"
#include "run_lock.hpp"
#include "sample_picture.hpp"
#include "saved_options.hpp"
#include "sha256.hpp"
#include "signal_stop.hpp"
#include "tensorboard_log.hpp"
#include "trainer.hpp"

namespace musegen {

namespace {

namespace fs = std::filesystem;

// --- the options a run saves: one table ------------------------------------------------------

using OptionField = SavedOption<TrainOptions>;

// epochs and max_steps are fixed because they set the cosine schedule's length: the resumed
// run is the same run. checkpoint_every is saved for the record; a session may change it.
const std::vector<OptionField>& option_fields() {
  static const std::vector<OptionField> fields = {
      {"embed", &TrainOptions::embed, true},
      {"hidden", &TrainOptions::hidden, true},
      {"layers", &TrainOptions::layers, true},
      {"dropout", &TrainOptions::dropout, true},
      {"seq-len", &TrainOptions::seq_len, true},
      {"batch", &TrainOptions::batch, true},
      {"epochs", &TrainOptions::epochs, true},
      {"max-steps", &TrainOptions::max_steps, true},
      {"lr", &TrainOptions::lr, true},
      {"weight-decay", &TrainOptions::weight_decay, true},
      {"clip", &TrainOptions::clip, true},
      {"schedule", &TrainOptions::schedule, true},
      {"warmup", &TrainOptions::warmup, true},
      {"seed", &TrainOptions::seed, true},
      {"eval-length", &TrainOptions::eval_length, true},
      // The products' precision changes the run's numbers; runs from before it were fp32.
      {"precision", &TrainOptions::precision, true, "fp32"},
      {"checkpoint-every", &TrainOptions::checkpoint_every, false},
  };
  return fields;
}

template <class Map>
auto get(const Map& map, const std::string& key, const fs::path& file) {
  return saved_value(map, key, file, "musegen training state");
}

// The SHA-256 of the dataset file's bytes, saved with the options: resuming on other data
// (another file, or the same path rewritten) would silently train a different run.
constexpr const char* kDatasetHash = "options.dataset_sha256";

nn::TrainingState save_options(const TrainOptions& o, const std::string& dataset_sha256) {
  nn::TrainingState s;
  s.strings["options.dataset"] = fs::absolute(o.dataset).string();
  s.strings[kDatasetHash] = dataset_sha256;
  save_option_fields(option_fields(), o, s);
  return s;
}

// The options a resumed run continues with: the saved fixed ones, the given rest.
TrainOptions restore_options(const nn::TrainingState& s, const TrainOptions& given, const fs::path& file) {
  TrainOptions o = given;
  o.dataset = get(s.strings, "options.dataset", file);
  if (!given.dataset.empty() && fs::absolute(given.dataset) != fs::path(o.dataset)) {
    o.dataset = given.dataset;  // the same data moved elsewhere: the caller's path wins
  }
  restore_fixed_fields(option_fields(), s, o, file, "musegen training state");
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
  check_precision(o.precision, o.device);
}

// --- the LSTM task ---------------------------------------------------------------------------

ModelConfig make_config(const TrainOptions& options, const Dataset& data) {
  ModelConfig config;
  config.encoding = data.codec.encoding();
  config.vocab = data.codec.vocab_size();
  config.embed = options.embed;
  config.hidden = options.hidden;
  config.layers = options.layers;
  config.dropout = options.dropout;
  return config;
}

// The model's parameters once it is on `device`. The optimizer makes its moments with
// zeros_like of each parameter, so the model must move before the optimizer is built (the
// initial weights are drawn on the host first: the same on every device).
std::vector<nn::Tensor> parameters_on(MusicModel& model, nn::Device device) {
  model.to(device);
  return model.parameters();
}

// The columns of an LSTM run's metrics.csv, in the order they have always had.
enum Column : std::size_t { kLr, kTrainLoss, kValidLoss, kValidPerplexity, kRate, kGradNorm, kSeconds };

class LstmTask final : public TrainingTask {
 public:
  LstmTask(const TrainOptions& options, Dataset& data, const RunDir& run)
      : options_(options),
        data_(data),
        run_(run),
        kind_(data.codec.step().kind),
        seed_(static_cast<std::uint64_t>(options.seed)),
        init_generator_(seed_),
        dropout_generator_(seed_ ^ 0x9e3779b97f4a7c15ULL),
        config_(make_config(options, data)),
        model_(config_, &init_generator_, &dropout_generator_),
        params_(parameters_on(model_, options.device)),
        optimizer_(params_, nn::optim::AdamWOptions(options.lr).weight_decay(options.weight_decay)),
        windows_(make_windows(data.train, kind_, options.seq_len)) {
    const auto batch = static_cast<std::size_t>(options.batch);
    steps_per_epoch_ = static_cast<std::int64_t>((windows_.size() + batch - 1) / batch);
    total_steps_ = options.epochs * steps_per_epoch_;
    if (options.max_steps > 0) total_steps_ = std::min(total_steps_, options.max_steps);
    schedule_ = make_schedule();
    // The TensorBoard sample continues the start of the first validation sequence.
    sample_primer_ = data.valid.empty() ? data.train.front() : data.valid.front();
    constexpr std::int64_t kPrimerSteps = 16;
    sample_primer_.truncate(kPrimerSteps);
    sample_steps_ = options.sample_steps >= 0 ? options.sample_steps : (frames() ? 128 : 256);
    model_.train();
  }

  // Frame steps (roll): no perplexity, and a frame's loss sums its K values.
  bool frames() const { return kind_ == StepKind::frame; }
  const ModelConfig& config() const { return config_; }
  const MusicModel& model() const { return model_; }
  std::size_t windows() const { return windows_.size(); }
  std::int64_t total_steps() const { return total_steps_; }
  double last_train_loss() const { return last_loss_; }
  nn::Device device() const { return model_.device(); }

  std::vector<MetricColumn> columns() const override {
    using S = MetricColumn::Source;
    // Perplexity is exp(loss) per token; a frame's loss sums its K values, so it has none.
    return {
        {"lr", S::step_last, "train/lr", ""},
        {"train_loss", S::step_mean, "train/loss", "epoch/train_loss"},
        {"valid_loss", S::validation, "", "valid/loss"},
        {"valid_perplexity", S::validation, "", "valid/perplexity"},
        {"predictions_per_s", S::rate, "train/predictions_per_s", ""},
        {"grad_norm", S::step_mean, "train/grad_norm", "", false},
        {"seconds", S::seconds, "", ""},
    };
  }
  std::int64_t steps_per_epoch() const override { return steps_per_epoch_; }

  void begin_epoch(std::int64_t epoch) override {
    order_ = permutation(static_cast<std::int64_t>(windows_.size()), seed_, static_cast<std::uint64_t>(epoch));
  }

  StepReport train_step(std::int64_t batch_index) override {
    const auto batch = static_cast<std::size_t>(options_.batch);
    std::vector<Window> chosen;
    const auto first = static_cast<std::size_t>(batch_index) * batch;
    for (std::size_t i = first; i < std::min(windows_.size(), first + batch); ++i) {
      chosen.push_back(windows_[static_cast<std::size_t>(order_[i])]);
    }
    Batch b = make_batch(data_.train, chosen, kind_, model_.device());
    auto [logits, final_state] = model_.forward(b.input);
    nn::Tensor loss = nll_sum(logits, b, kind_) / static_cast<double>(b.predictions);
    optimizer_.zero_grad();
    nn::backward({loss});
    // max_norm infinity: no clipping, the norm is still measured. On a GPU this is the step's
    // one wait: clip_grad_norm_ reads the norm back to scale the gradients. The loss is read
    // right after it, when the queue holds nothing more (a copy, no second wait), and the
    // optimizer's step then runs on the GPU while the host cuts the next batch.
    const double grad_norm = nn::optim::clip_grad_norm_(
        params_, options_.clip > 0 ? options_.clip : std::numeric_limits<double>::infinity());
    const double value = loss.item<float>();
    optimizer_.step();
    schedule_->step();
    ++step_;
    if (!std::isfinite(value)) {
      throw std::runtime_error("the training loss became " + std::to_string(value) + " at step " +
                               std::to_string(step_) + " (try a lower --lr or --clip)");
    }
    last_loss_ = value;
    // Step figures in column order: lr (step_last), train_loss, grad_norm (step_mean).
    return {{optimizer_.lr(), value, grad_norm}, b.predictions};
  }

  std::vector<double> validate() override {
    if (data_.valid.empty()) return {NAN, NAN};
    const std::int64_t window =
        options_.eval_length > 0 ? options_.eval_length : (frames() ? 0 : 4 * options_.seq_len);
    const double valid = evaluate_nll(model_, data_.valid, window, options_.batch).mean();
    model_.train();
    return {valid, frames() ? NAN : std::exp(valid)};
  }

  void after_epoch(std::int64_t step, std::int64_t epochs_done, TensorBoardLog* board) override {
    if (board == nullptr || sample_steps_ <= 0) return;
    board->image(step, sample_piano_roll(model_, data_.codec, sample_primer_, sample_steps_, seed_,
                                         "step " + std::to_string(step) + ", epoch " +
                                             std::to_string(epochs_done)));
    model_.train();
  }

  void save_state(nn::TrainingState& state) const override {
    for (const auto& [name, tensor] : model_.state_dict()) state.tensors["model." + name] = tensor;
    nn::TrainingState opt_state, sched_state;
    optimizer_.save_state(opt_state);
    schedule_->save_state(sched_state);
    state.merge(opt_state.prefixed("optimizer."));
    state.merge(sched_state.prefixed("schedule."));
    nn::save_generator(state, "dropout_rng.", dropout_generator_);
  }

  void load_state(const nn::TrainingState& saved) override {
    nn::NamedTensors weights;
    for (const auto& [name, tensor] : saved.sub("model.").tensors) weights.insert(name, tensor);
    model_.load_state_dict(nn::StateDict(weights));
    optimizer_.load_state(saved.sub("optimizer."));
    schedule_->load_state(saved.sub("schedule."));
    nn::load_generator(saved, "dropout_rng.", dropout_generator_);
    step_ = get(saved.ints, "step", run_.state());
  }

  void write_outputs(std::int64_t step, bool best) override {
    auto metadata = config_.to_metadata();
    metadata["musegen.step"] = std::to_string(step);
    metadata["musegen.dataset"] = fs::absolute(options_.dataset).string();
    save_model_weights(model_, run_.weights(), metadata);
    if (best) save_model_weights(model_, run_.best(), metadata);
  }

 private:
  std::shared_ptr<nn::optim::LRScheduler> make_schedule() {
    if (options_.schedule == "cosine") {
      // SequentialLR needs a milestone >= 1: at least one warm-up step.
      const std::int64_t warmup =
          std::clamp<std::int64_t>(options_.warmup, 1, std::max<std::int64_t>(total_steps_ - 1, 1));
      auto warm = std::make_shared<nn::optim::LinearLR>(optimizer_, 0.01, 1.0, warmup);
      auto cosine = std::make_shared<nn::optim::CosineAnnealingLR>(
          optimizer_, std::max<std::int64_t>(total_steps_ - warmup, 1), options_.lr * 0.01);
      return std::make_shared<nn::optim::SequentialLR>(
          optimizer_, std::vector<std::shared_ptr<nn::optim::LRScheduler>>{warm, cosine},
          std::vector<std::int64_t>{warmup});
    }
    return std::make_shared<nn::optim::StepLR>(optimizer_, std::numeric_limits<std::int32_t>::max(), 1.0);
  }

  const TrainOptions& options_;
  Dataset& data_;
  const RunDir& run_;
  StepKind kind_;
  std::uint64_t seed_;
  nn::Generator init_generator_, dropout_generator_;
  ModelConfig config_;
  MusicModel model_;
  std::vector<nn::Tensor> params_;
  nn::optim::AdamW optimizer_;
  std::shared_ptr<nn::optim::LRScheduler> schedule_;
  std::vector<Window> windows_;
  std::vector<std::int64_t> order_;
  std::int64_t steps_per_epoch_ = 0, total_steps_ = 0, step_ = 0;
  Sequence sample_primer_;
  std::int64_t sample_steps_ = 0;
  double last_loss_ = 0;
};

// --- the console ---------------------------------------------------------------------------

class ConsoleObserver final : public TrainObserver {
 public:
  ConsoleObserver(std::ostream& log, const TrainOptions& options, bool frames)
      : log_(log), options_(options), frames_(frames) {}

  void started(const fs::path* tensorboard_file) override {
    if (tensorboard_file != nullptr) {
      log_ << "train: TensorBoard events in " << tensorboard_file->string() << " (tensorboard --logdir "
           << options_.run_dir.string() << ")\n";
    }
  }
  void epoch_started(std::int64_t epoch, std::int64_t steps) override {
    progress_.emplace("epoch " + std::to_string(epoch + 1) + "/" + std::to_string(options_.epochs),
                      steps, log_, options_.log_seconds);
  }
  void step_done(std::int64_t batch_done, const std::vector<double>& interval, double rate) override {
    std::ostringstream figures;
    figures << "loss " << std::fixed << std::setprecision(4) << interval[kTrainLoss] << "  "
            << Progress::format_rate(rate) << (frames_ ? " frames/s" : " tok/s");
    // On a GPU, the memory its tensors hold now (the allocator's books: no wait on the GPU).
    if (options_.device.is_cuda()) figures << "  " << gpu_memory_field(options_.device);
    progress_->update(batch_done, figures.str());
  }
  void epoch_done(std::int64_t epochs_done, const std::vector<double>& row, bool best) override {
    finish_line();
    const double valid = row[kValidLoss];
    log_ << "epoch " << epochs_done << ": train loss " << std::fixed << std::setprecision(4)
         << row[kTrainLoss];
    if (!std::isnan(valid)) {
      log_ << ", valid loss " << valid;
      if (!frames_) log_ << ", valid perplexity " << std::setprecision(2) << row[kValidPerplexity];
      if (frames_) log_ << " nats/frame";
      if (best) log_ << " (best)";
    }
    log_ << std::defaultfloat << "\n";
  }
  void stopped(std::int64_t step) override {
    finish_line();
    log_ << "train: interrupted: checkpoint written at step " << step << " to "
         << RunDir{options_.run_dir}.state().string() << "; continue with --resume\n";
  }
  // The epoch's progress line ends when the epoch does, or when max_steps ends it early.
  void finish_line() {
    if (progress_) progress_->finish();
    progress_.reset();
  }

 private:
  std::ostream& log_;
  const TrainOptions& options_;
  bool frames_;
  std::optional<Progress> progress_;
};

}  // namespace

const std::vector<std::string>& train_flags_fixed_on_resume() {
  static const std::vector<std::string> flags = [] {
    std::vector<std::string> out;
    for (const OptionField& f : option_fields()) {
      if (f.fixed) out.emplace_back(f.flag);
    }
    return out;
  }();
  return flags;
}

TrainResult train(TrainOptions options, std::ostream& log) {
  std::optional<SignalStop> sigint;
  if (options.handle_sigint) sigint.emplace();
  const RunDir run{options.run_dir};
  if (fs::exists(run.root) && !fs::is_directory(run.root)) {
    throw std::runtime_error(run.root.string() + ": not a folder but " +
                             (fs::is_regular_file(run.root) ? "a regular file" : "another kind of file") +
                             "; --run-dir names the run's folder");
  }
  if (options.resume && !fs::exists(run.state())) {
    throw std::runtime_error(run.state().string() + ": nothing to resume (no such file); " +
                             "start the run without --resume");
  }
  if (!options.resume) {
    check_options(options);
    if (options.dataset.empty()) throw std::invalid_argument("no dataset file given");
  }
  // From the lock on this process is the folder's only writer (run_lock.hpp), and every check
  // of what the folder holds comes after it, so a concurrent session cannot slip in between. A
  // folder that exists is locked before anything slow, so a busy one is refused at once rather
  // than after loading the dataset; a new one is made only once its data has been read, so a
  // bad dataset leaves nothing behind.
  std::optional<RunLock> lock;
  const auto check_no_run_yet = [&] {
    if (!options.resume && fs::exists(run.state())) {
      throw std::runtime_error(run.root.string() + " already holds a training run (" + RunDir::kState +
                               "); pass --resume to continue it, or choose another --run-dir");
    }
  };
  if (fs::exists(run.root)) {
    lock.emplace(run, "musegen train");
    check_no_run_yet();
  }
  std::optional<Dataset> data;
  if (!options.resume) {
    data = load_dataset(options.dataset);
    if (options.adapt_to_data) {
      options.adapt_to_data(options, data->codec.encoding());
      check_options(options);
    }
    if (!lock) {
      fs::create_directories(run.root);
      lock.emplace(run, "musegen train");
      check_no_run_yet();  // another session may have made the folder meanwhile
    }
  }
  nn::TrainingState saved;
  if (options.resume) {
    saved = nn::load_training_state(run.state());
    options = restore_options(saved, options, run.state());
    check_options(options);
    data = load_dataset(options.dataset);
  }
  if (data->train.empty()) {
    throw std::runtime_error(options.dataset.string() + ": the training split is empty");
  }
  // The run's GPU matrix-product precision, for this call only (libnn's setting is
  // process-wide: a caller's own setting comes back when train() returns or throws).
  const nn::Float32MatmulPrecisionGuard precision(matmul_precision_for(options.precision));
  const std::string dataset_sha256 = sha256_file(options.dataset);
  // Runs from before the hash was saved have none: they resume unchecked, as they always did.
  if (const auto it = saved.strings.find(kDatasetHash); it != saved.strings.end() && it->second != dataset_sha256) {
    throw std::runtime_error(
        run.root.string() + ": cannot resume on " + options.dataset.string() + " (SHA-256 " +
        dataset_sha256 + "): the run was trained on " + get(saved.strings, "options.dataset", run.state()) +
        " (SHA-256 " + it->second + "), and other data would change the windows, the batches and " +
        "what the weights are trained on; resume with the original dataset file, or start a new run");
  }
  // Training holds each parameter four times in float32: the weight, its gradient and AdamW's
  // two moments.
  make_config(options, *data).check_size("train: --embed " + std::to_string(options.embed) + " --hidden " +
                                             std::to_string(options.hidden) + " --layers " +
                                             std::to_string(options.layers),
                                         16);
  const int removed = remove_stale_temporaries(run);
  if (removed > 0 && !options.quiet) {
    log << "train: removed " << removed << " stale temporary file" << (removed == 1 ? "" : "s")
        << " (*.tmp-*) that interrupted writes left in " << run.root.string() << "\n";
  }

  LstmTask task(options, *data, run);
  ConsoleObserver console(log, options, task.frames());
  TrainerOptions trainer_options;
  trainer_options.epochs = options.epochs;
  trainer_options.max_steps = options.max_steps;
  trainer_options.checkpoint_every = options.checkpoint_every;
  trainer_options.log_seconds = options.log_seconds;
  trainer_options.tensorboard = options.tensorboard;
  trainer_options.stop_after_step = options.stop_after_step;
  trainer_options.stop = options.stop;
  trainer_options.stop_flag = sigint ? sigint->flag() : nullptr;
  Trainer trainer(run, task, trainer_options, options.quiet ? nullptr : &console, save_options(options, dataset_sha256));
  if (options.resume) trainer.resume(saved);

  if (!options.quiet) {
    log << "train: " << options.dataset.string() << ": " << data->codec.describe() << "\n"
        << "train: " << data->train.size() << " training sequences → " << task.windows()
        << " windows of ≤ " << options.seq_len << " steps, " << task.steps_per_epoch()
        << " steps per epoch, " << trainer.total_steps() << " steps in all\n"
        << "train: model " << task.config().describe() << ", " << task.model().parameter_count()
        << " parameters" << (task.device().is_cpu() ? "" : ", on " + task.device().str()) << "\n";
    if (options.resume) log << "train: resuming " << run.root.string() << " at step " << trainer.step() << "\n";
    if (const std::string note = precision_note(options.precision); !note.empty())
      log << "train: " << note << "\n";
  }
  const auto start = std::chrono::steady_clock::now();
  TrainerResult done;
  try {
    done = trainer.run();
  } catch (const std::exception& e) {
    if (!is_out_of_memory(e)) throw;
    if (!options.quiet) console.finish_line();
    // The batch is what a user changes first: its activations are most of a step's memory.
    throw std::runtime_error(out_of_memory_message(
        options.device, "step " + std::to_string(trainer.step() + 1),
        "try a smaller --batch (this run: " + std::to_string(options.batch) + ") or --seq-len (" +
            std::to_string(options.seq_len) + "); a new run, as --resume keeps them",
        e));
  }
  if (!options.quiet) console.finish_line();

  TrainResult result;
  result.steps = done.steps;
  result.epochs_done = done.epochs_done;
  result.best_valid_loss = done.best_valid_loss;
  result.interrupted = done.interrupted;
  result.last_train_loss = task.last_train_loss();
  if (!options.quiet && !done.interrupted) {
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    log << "train: done: " << done.steps << " steps in " << Progress::format_duration(seconds)
        << "; weights in " << run.weights().string();
    if (std::isfinite(done.best_valid_loss)) {
      log << ", best validation loss " << done.best_valid_loss << " in " << run.best().string();
    }
    log << "\n";
  }
  return result;
}

}  // namespace musegen
