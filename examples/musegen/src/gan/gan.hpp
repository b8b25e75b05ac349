// GANs for music: what `musegen gan-train` and `musegen gan-generate` run.
//
// The gan layer holds every GAN model (a table of them, gan_models()) and the code they share:
// the options a run saves, the data (MIDI files or the JSB chorales read as Pieces), the run
// folder, and the training loop, which is train/'s Trainer: a GAN is one TrainingTask whose
// step is a discriminator update and a generator update. So a GAN run has what an LSTM run
// has: run folder, run lock, atomic checkpoints, exact resume, Ctrl-C, progress,
// metrics.csv and TensorBoard (train/tensorboard_log.hpp).
//
// The models (one row of gan_models() each; the command line branches on the model only by
// looking it up there):
//   crnngan  C-RNN-GAN (Mogren 2016, crnngan.hpp): an LSTM generator of continuous note
//            features, a bidirectional LSTM discriminator scoring every note.
//   rollgan  a multi-track piano-roll GAN (MuseGAN's hybrid model, WGAN-GP; rollgan.hpp).
#pragma once

#include <cstdint>
#include <filesystem>
#include <iosfwd>
#include <libnn/dtype.hpp>
#include <libnn/module.hpp>
#include <map>
#include <memory>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "codec.hpp"
#include "run_dir.hpp"
#include "trainer.hpp"

namespace musegen {

struct GanOptions {
  std::string model = "crnngan";    // a row of gan_models()
  std::vector<std::string> inputs;  // MIDI files and folders, or one JSB chorales .json
  std::filesystem::path run_dir = "runs/gan";
  // data and optimisation (every model)
  std::int64_t seq_len = 32;  // crnngan: notes per training sequence
  std::int64_t batch = 32;
  std::int64_t epochs = 20;
  std::int64_t max_steps = 0;  // 0: no limit
  double lr_g = 1e-3;          // Adam, generator
  double lr_d = 1e-3;          // Adam, discriminator
  double clip = 5.0;           // each network's gradient norm (0: off)
  std::int64_t seed = 1;
  // crnngan
  std::int64_t hidden = 128;                // LSTM units per layer, generator and discriminator
  std::int64_t layers = 2;                  // LSTM layers of each
  std::int64_t noise = 16;                  // noise values per generated note
  std::int64_t pretrain_steps = 200;        // steps of the generator as a next-note predictor first
  std::string g_loss = "feature-matching";  // or "non-saturating"
  double freeze_accuracy =
      0.9;  // the discriminator skips its update on a batch it classifies better
  // rollgan (rollgan.hpp; the grid is 16ths in 4/4 bars)
  std::string ensemble = "chorale";  // chorale, quartet, or a list of instruments: one track each
  std::int64_t bars = 4;             // bars per phrase
  std::int64_t lowest_pitch = 36;    // the roll's pitches: lowest_pitch .. + pitches - 1
  std::int64_t pitches = 64;
  std::int64_t shared_noise = 32;   // noise all tracks share
  std::int64_t private_noise = 32;  // noise of each track
  std::int64_t g_channels = 64;     // widest layer of each track's generator
  std::int64_t d_channels = 64;     // widest layer of the critic
  std::int64_t n_critic = 5;        // critic updates per generator update
  double gp_weight = 10;            // the gradient penalty's λ
  // data (every model): 1 reads MIDI with libmidi's zero_length_off_first (docs/midi.md)
  std::int64_t zero_length_off_first = 0;
  // bookkeeping
  std::int64_t checkpoint_every = 500;  // steps (0: only at epoch ends)
  double log_seconds = 10.0;
  bool resume = false;
  bool quiet = false;
  bool tensorboard = true;
  nn::Device device = nn::Device::cpu();  // not saved: a run may resume on another device
  std::string precision = "fp32";  // --precision (train/precision.hpp): saved, kept on resume
  // Stopping (as TrainOptions, train.hpp): Ctrl-C / SIGTERM when handle_sigint, a stop token,
  // and for tests a stop right after a step (0: never).
  bool handle_sigint = true;
  std::stop_token stop;
  std::int64_t stop_after_step = 0;
};

// The training data of a GAN run: the pieces its inputs hold.
struct GanData {
  std::vector<Piece> pieces;
  std::vector<std::string> sources;  // one per piece: the file (and chorale index)
  std::string describe;              // "92 MIDI files, 12,345 notes"
  // One per piece: its time signatures (numerator, denominator), in file order; none for
  // the JSB chorales (rollgan takes those as 4/4).
  std::vector<std::vector<std::pair<int, int>>> time_signatures;
  std::string sha256;                // of the inputs' bytes, in order: resume checks it
};

// Reads the inputs: MIDI files and folders (searched recursively, data/midi_files.hpp), or a
// single JSB chorales .json (its train split; the resolution from its name). Throws
// std::invalid_argument for a missing input or no notes at all; files that are not MIDI are
// skipped and counted in `describe`.
// MIDI notes are paired as libmidi does with `notes` (gan-train --zero-length-off-first).
GanData load_gan_data(const std::vector<std::string>& inputs, const midi::NoteOptions& notes = {});

// One GAN model's training: the trainer's task plus what the command prints about it.
class GanTask : public TrainingTask {
 public:
  // "generator 2 x LSTM(20 -> 128), discriminator 2 x BiLSTM(4 -> 128), 512,301 parameters"
  virtual std::string describe() const = 0;
  // "1,234 sequences of 32 notes"
  virtual std::string describe_data() const = 0;
  // What the console shows after the progress bar for an interval row (column order).
  virtual std::string progress_figures(const std::vector<double>& interval) const = 0;
};

// What gan-generate asks of a model.
struct GanGenerateOptions {
  std::int64_t count = 10;   // pieces
  std::int64_t length = 64;  // crnngan: notes per piece
  std::int64_t seed = 1;
  double tempo_bpm = 120;
  nn::Device device = nn::Device::cpu();
};

// A trained generator read back: the weights file's tensors and metadata.
struct GanWeights {
  std::filesystem::path file;
  std::map<std::string, std::string> metadata;  // "musegen.gan" names the model
  nn::NamedTensors tensors;
};

// One row of the models' table.
struct GanModel {
  std::string_view name;
  bool built;  // false: gan-train and gan-generate say "not built yet"
  std::string_view summary;
  // Only when built.
  std::unique_ptr<GanTask> (*make_task)(const GanOptions& options, const GanData& data,
                                        const RunDir& run);
  std::vector<Piece> (*generate)(const GanWeights& weights, const GanGenerateOptions& options);
  // Optional: checks the model's own options before any data is read or folder made (throws
  // std::invalid_argument naming the option).
  void (*check_options)(const GanOptions& options) = nullptr;
};

const std::vector<GanModel>& gan_models();
// The row named `name`. Throws std::invalid_argument naming the choices for an unknown name,
// and std::runtime_error "--model rollgan: not built yet (...)" for a row not built.
const GanModel& gan_model(std::string_view name);

// The metadata key that names the model in a GAN weights file.
inline constexpr const char* kGanModelKey = "musegen.gan";

// Runs (or resumes) a GAN training run. Progress goes to `log`. Throws on bad input.
TrainerResult gan_train(GanOptions options, std::ostream& log);

// The command-line names of the options a resumed run takes from its checkpoint.
const std::vector<std::string>& gan_flags_fixed_on_resume();

// Reads a run folder's generator (best.safetensors when there is one, else model.safetensors)
// or a weights file, checks that a GAN wrote it, and generates. Throws std::runtime_error
// naming the file for a file that is not a GAN's.
GanWeights load_gan_weights(const std::filesystem::path& run_dir_or_weights);
std::vector<Piece> gan_generate(const GanWeights& weights, const GanGenerateOptions& options);

}  // namespace musegen
