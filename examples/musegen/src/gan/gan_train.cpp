// `musegen gan-train` and `gan-generate`'s loading (gan.hpp): the options a GAN run saves (one
// table), the run folder (lock, resume checks), the console, and the trainer.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <iomanip>
#include <libnn/libnn.hpp>
#include <optional>
#include <ostream>
#include <sstream>
#include <stdexcept>
#include <variant>

#include "gan.hpp"
#include "gpu_memory.hpp"
#include "precision.hpp"
#include "progress.hpp"
#include "run_lock.hpp"
#include "saved_options.hpp"
#include "signal_stop.hpp"

namespace musegen {

namespace {

namespace fs = std::filesystem;

// --- the options a run saves: one table --------------------------------------------------------

using OptionField = SavedOption<GanOptions>;

const std::vector<OptionField>& option_fields() {
  static const std::vector<OptionField> fields = {
      {"model", &GanOptions::model, true},
      {"seq-len", &GanOptions::seq_len, true},
      {"batch", &GanOptions::batch, true},
      {"epochs", &GanOptions::epochs, true},
      {"max-steps", &GanOptions::max_steps, true},
      {"lr-g", &GanOptions::lr_g, true},
      {"lr-d", &GanOptions::lr_d, true},
      {"clip", &GanOptions::clip, true},
      {"seed", &GanOptions::seed, true},
      {"hidden", &GanOptions::hidden, true},
      {"layers", &GanOptions::layers, true},
      {"noise", &GanOptions::noise, true},
      {"pretrain-steps", &GanOptions::pretrain_steps, true},
      {"g-loss", &GanOptions::g_loss, true},
      {"freeze-accuracy", &GanOptions::freeze_accuracy, true},
      {"ensemble", &GanOptions::ensemble, true},
      {"bars", &GanOptions::bars, true},
      {"lowest-pitch", &GanOptions::lowest_pitch, true},
      {"pitches", &GanOptions::pitches, true},
      {"shared-noise", &GanOptions::shared_noise, true},
      {"private-noise", &GanOptions::private_noise, true},
      {"g-channels", &GanOptions::g_channels, true},
      {"d-channels", &GanOptions::d_channels, true},
      {"n-critic", &GanOptions::n_critic, true},
      {"gp-weight", &GanOptions::gp_weight, true},
      {"zero-length-off-first", &GanOptions::zero_length_off_first, true},
      // The products' precision changes the run's numbers; runs from before it were fp32.
      {"precision", &GanOptions::precision, true, "fp32"},
      {"checkpoint-every", &GanOptions::checkpoint_every, false},
  };
  return fields;
}

template <class Map>
auto get(const Map& map, const std::string& key, const fs::path& file) {
  return saved_value(map, key, file, "musegen GAN training state");
}

constexpr const char* kInputs = "options.inputs";  // the inputs, absolute, one per line
constexpr const char* kDataHash = "options.data_sha256";
constexpr const char* kKind = "gan.kind";  // "musegen gan": tells a GAN run from an LSTM run

nn::TrainingState save_options(const GanOptions& o, const std::string& data_sha256) {
  nn::TrainingState s;
  std::string inputs;
  for (const std::string& input : o.inputs) inputs += fs::absolute(input).string() + "\n";
  s.strings[kInputs] = inputs;
  s.strings[kDataHash] = data_sha256;
  s.strings[kKind] = "musegen gan";
  save_option_fields(option_fields(), o, s);
  return s;
}

GanOptions restore_options(const nn::TrainingState& s, const GanOptions& given,
                           const fs::path& file) {
  if (!s.strings.contains(kKind)) {
    throw std::runtime_error(file.string() +
                             ": not a GAN run (written by musegen train?); gan-train --resume "
                             "continues runs that gan-train started");
  }
  GanOptions o = given;
  if (given.inputs.empty()) {
    o.inputs.clear();
    std::istringstream lines(get(s.strings, kInputs, file));
    for (std::string line; std::getline(lines, line);) {
      if (!line.empty()) o.inputs.push_back(line);
    }
  }
  restore_fixed_fields(option_fields(), s, o, file, "musegen GAN training state");
  return o;
}

void check_options(const GanOptions& o) {
  auto positive = [](std::int64_t v, const char* name) {
    if (v <= 0)
      throw std::invalid_argument(std::string("--") + name + " must be positive, found " +
                                  std::to_string(v));
  };
  positive(o.seq_len, "seq-len");
  positive(o.batch, "batch");
  positive(o.epochs, "epochs");
  positive(o.hidden, "hidden");
  positive(o.layers, "layers");
  positive(o.noise, "noise");
  if (o.max_steps < 0) throw std::invalid_argument("--max-steps must be >= 0");
  if (o.pretrain_steps < 0) throw std::invalid_argument("--pretrain-steps must be >= 0");
  if (!(o.lr_g > 0) || !(o.lr_d > 0))
    throw std::invalid_argument("--lr-g and --lr-d must be positive");
  if (!(o.clip >= 0)) throw std::invalid_argument("--clip must be >= 0");
  if (!(o.freeze_accuracy >= 0 && o.freeze_accuracy <= 1))
    throw std::invalid_argument("--freeze-accuracy must be in [0, 1]");
  check_precision(o.precision, o.device);
}

// --- the console -------------------------------------------------------------------------------

class ConsoleObserver final : public TrainObserver {
 public:
  ConsoleObserver(std::ostream& log, const GanOptions& options, const GanTask& task)
      : log_(log), options_(options), task_(task) {}

  void started(const fs::path* tensorboard_file) override {
    if (tensorboard_file != nullptr) {
      log_ << "gan-train: TensorBoard events in " << tensorboard_file->string()
           << " (tensorboard --logdir " << options_.run_dir.string() << ")\n";
    }
  }
  void epoch_started(std::int64_t epoch, std::int64_t steps) override {
    progress_.emplace("epoch " + std::to_string(epoch + 1) + "/" + std::to_string(options_.epochs),
                      steps, log_, options_.log_seconds);
  }
  void step_done(std::int64_t batch_done, const std::vector<double>& interval,
                 double /*rate*/) override {
    std::string figures = task_.progress_figures(interval);
    if (options_.device.is_cuda()) figures += "  " + gpu_memory_field(options_.device);
    progress_->update(batch_done, figures);
  }
  void epoch_done(std::int64_t epochs_done, const std::vector<double>& row, bool best) override {
    finish_line();
    const std::vector<MetricColumn> columns = task_.columns();
    log_ << "epoch " << epochs_done << ":";
    for (std::size_t c = 0; c < columns.size() && c < row.size(); ++c) {
      if (columns[c].source == MetricColumn::Source::seconds || std::isnan(row[c])) continue;
      log_ << " " << columns[c].name << " " << std::setprecision(4) << row[c];
    }
    log_ << (best ? " (best)" : "") << std::defaultfloat << "\n";
  }
  void stopped(std::int64_t step) override {
    finish_line();
    log_ << "gan-train: interrupted: checkpoint written at step " << step << " to "
         << RunDir{options_.run_dir}.state().string() << "; continue with --resume\n";
  }
  void finish_line() {
    if (progress_) progress_->finish();
    progress_.reset();
  }

 private:
  std::ostream& log_;
  const GanOptions& options_;
  const GanTask& task_;
  std::optional<Progress> progress_;
};

}  // namespace

const std::vector<std::string>& gan_flags_fixed_on_resume() {
  static const std::vector<std::string> flags = [] {
    std::vector<std::string> out;
    for (const OptionField& f : option_fields()) {
      if (f.fixed) out.emplace_back(f.flag);
    }
    return out;
  }();
  return flags;
}

TrainerResult gan_train(GanOptions options, std::ostream& log) {
  std::optional<SignalStop> sigint;
  if (options.handle_sigint) sigint.emplace();
  const RunDir run{options.run_dir};
  if (fs::exists(run.root) && !fs::is_directory(run.root)) {
    throw std::runtime_error(run.root.string() +
                             ": not a folder; --run-dir names the run's folder");
  }
  if (options.resume && !fs::exists(run.state())) {
    throw std::runtime_error(run.state().string() +
                             ": nothing to resume (no such file); start the run without --resume");
  }
  if (!options.resume) {
    check_options(options);
    // An unknown or unbuilt model, or a model option out of range, fails before anything is read.
    if (const GanModel& m = gan_model(options.model); m.check_options) m.check_options(options);
  }
  // One writer per folder (run_lock.hpp), checks after the lock, a new folder only once the
  // data has been read: as train() does.
  std::optional<RunLock> lock;
  const auto check_no_run_yet = [&] {
    if (!options.resume && fs::exists(run.state())) {
      throw std::runtime_error(run.root.string() + " already holds a training run (" +
                               RunDir::kState +
                               "); pass --resume to continue it, or choose another --run-dir");
    }
  };
  if (fs::exists(run.root)) {
    lock.emplace(run, "musegen gan-train");
    check_no_run_yet();
  }
  nn::TrainingState saved;
  if (options.resume) {
    saved = nn::load_training_state(run.state());
    options = restore_options(saved, options, run.state());
    check_options(options);
  }
  const GanModel& model = gan_model(options.model);
  const GanData data =
      load_gan_data(options.inputs,
                    midi::NoteOptions().zero_length_off_first(options.zero_length_off_first != 0));
  if (options.resume && get(saved.strings, kDataHash, run.state()) != data.sha256) {
    throw std::runtime_error(
        run.root.string() + ": cannot resume on other data: the inputs' SHA-256 is " + data.sha256 +
        ", the run was trained on data with " + saved.strings.at(kDataHash) +
        "; resume with the original files, or start a new run");
  }
  if (!lock) {
    fs::create_directories(run.root);
    lock.emplace(run, "musegen gan-train");
    check_no_run_yet();
  }
  const int removed = remove_stale_temporaries(run);
  if (removed > 0 && !options.quiet) {
    log << "gan-train: removed " << removed << " stale temporary file" << (removed == 1 ? "" : "s")
        << " in " << run.root.string() << "\n";
  }

  // The run's GPU matrix-product precision, for this call only (as train() does).
  const nn::Float32MatmulPrecisionGuard precision(matmul_precision_for(options.precision));
  if (const std::string note = precision_note(options.precision); !note.empty() && !options.quiet)
    log << "gan-train: " << note << "\n";
  std::unique_ptr<GanTask> task = model.make_task(options, data, run);
  ConsoleObserver console(log, options, *task);
  TrainerOptions trainer_options;
  trainer_options.epochs = options.epochs;
  trainer_options.max_steps = options.max_steps;
  trainer_options.checkpoint_every = options.checkpoint_every;
  trainer_options.log_seconds = options.log_seconds;
  trainer_options.tensorboard = options.tensorboard;
  trainer_options.stop_after_step = options.stop_after_step;
  trainer_options.stop = options.stop;
  trainer_options.stop_flag = sigint ? sigint->flag() : nullptr;
  Trainer trainer(run, *task, trainer_options, options.quiet ? nullptr : &console,
                  save_options(options, data.sha256));
  if (options.resume) trainer.resume(saved);
  if (!options.quiet) {
    log << "gan-train: " << data.describe << " -> " << task->describe_data() << ", "
        << task->steps_per_epoch() << " steps per epoch, " << trainer.total_steps()
        << " steps in all\n"
        << "gan-train: " << task->describe() << "\n";
    if (options.resume)
      log << "gan-train: resuming " << run.root.string() << " at step " << trainer.step() << "\n";
  }
  const auto start = std::chrono::steady_clock::now();
  TrainerResult done;
  try {
    done = trainer.run();
  } catch (const std::exception& e) {
    if (!is_out_of_memory(e)) throw;
    if (!options.quiet) console.finish_line();
    throw std::runtime_error(
        out_of_memory_message(options.device, "step " + std::to_string(trainer.step() + 1),
                              "try a smaller --batch (this run: " + std::to_string(options.batch) +
                                  ") or --hidden; a new run, as --resume keeps them",
                              e));
  }
  if (!options.quiet) {
    console.finish_line();
    if (!done.interrupted) {
      const double seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      log << "gan-train: done: " << done.steps << " steps in " << Progress::format_duration(seconds)
          << "; generator in " << run.weights().string() << "\n";
    }
  }
  return done;
}

GanWeights load_gan_weights(const fs::path& run_dir_or_weights) {
  GanWeights w;
  if (fs::is_directory(run_dir_or_weights)) {
    const RunDir run{run_dir_or_weights};
    w.file = fs::exists(run.best()) ? run.best() : run.weights();
    if (!fs::exists(w.file)) {
      throw std::runtime_error(run_dir_or_weights.string() + ": no " + RunDir::kWeights +
                               " (has gan-train written a checkpoint there yet?)");
    }
  } else {
    w.file = run_dir_or_weights;
    if (!fs::exists(w.file))
      throw std::runtime_error(w.file.string() + ": no such file or run folder");
  }
  w.tensors = nn::load_safetensors(w.file, &w.metadata);
  if (!w.metadata.contains(kGanModelKey)) {
    throw std::runtime_error(w.file.string() + ": not a GAN's generator (no \"" + kGanModelKey +
                             "\" in its metadata; musegen generate reads the LSTM's runs)");
  }
  return w;
}

std::vector<Piece> gan_generate(const GanWeights& weights, const GanGenerateOptions& options) {
  return gan_model(weights.metadata.at(kGanModelKey)).generate(weights, options);
}

}  // namespace musegen
