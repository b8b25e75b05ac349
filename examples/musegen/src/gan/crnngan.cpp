// C-RNN-GAN on the trainer (crnngan.hpp).
#include "crnngan.hpp"

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <libnn/libnn.hpp>
#include <limits>
#include <sstream>
#include <stdexcept>

#include "batches.hpp"
#include "plot.hpp"
#include "progress.hpp"
#include "sample_picture.hpp"
#include "tensorboard_log.hpp"

namespace musegen {

namespace {

// --- features ------------------------------------------------------------------------------

constexpr double kMinDuration = 1.0 / 32, kMaxDuration = 16;
// The smallest standard deviation a feature is divided by; a feature at it is constant in the
// data (the JSB chorales' velocity), and the generator writes that constant, not a value of
// its own: any deviation of a feature that real notes never vary would give the
// discriminator a free win.
constexpr double kMinStd = 1e-3;

struct Normaliser {
  NoteFeatures mean{}, stdev{1, 1, 1, 1};

  static Normaliser of(const std::vector<NoteFeatures>& notes) {
    Normaliser n;
    if (notes.empty()) return n;
    for (std::size_t f = 0; f < 4; ++f) {
      double sum = 0;
      for (const NoteFeatures& x : notes) sum += x[f];
      const double mean = sum / static_cast<double>(notes.size());
      double sq = 0;
      for (const NoteFeatures& x : notes) sq += (x[f] - mean) * (x[f] - mean);
      n.mean[f] = mean;
      n.stdev[f] = std::max(std::sqrt(sq / static_cast<double>(notes.size())), kMinStd);
    }
    return n;
  }
  bool constant(std::size_t f) const { return stdev[f] <= kMinStd * (1 + 1e-9); }
  // 1 per feature the generator writes, 0 per constant one, as (1,1,4) on `device`.
  nn::Tensor mask(nn::Device device) const {
    std::vector<float> m;
    for (std::size_t f = 0; f < 4; ++f) m.push_back(constant(f) ? 0.0f : 1.0f);
    return nn::from_vector(m, {1, 1, kNoteFeatures}).to(device);
  }
  void to_metadata(std::map<std::string, std::string>& m) const {
    for (std::size_t f = 0; f < 4; ++f) {
      std::ostringstream mean, stdev;
      mean << std::setprecision(17) << this->mean[f];
      stdev << std::setprecision(17) << this->stdev[f];
      m["crnngan.mean" + std::to_string(f)] = mean.str();
      m["crnngan.std" + std::to_string(f)] = stdev.str();
    }
  }
};

// --- the networks -----------------------------------------------------------------------------

class GeneratorNet final : public nn::Module {
 public:
  GeneratorNet(std::int64_t noise, std::int64_t hidden, std::int64_t layers, nn::Generator* init)
      : noise_(noise) {
    lstm = register_module(
        "lstm",
        std::make_shared<nn::LSTM>(
            nn::LSTMOptions(noise + kNoteFeatures, hidden).num_layers(layers).generator(init)));
    head = register_module("head", std::make_shared<nn::Linear>(
                                       nn::LinearOptions(hidden, kNoteFeatures).generator(init)));
  }

  // Free running: z (T,B,noise) → notes (T,B,4), each step fed the previous step's output.
  nn::Tensor run(const nn::Tensor& z) const {
    const std::int64_t steps = z.size(0), batch = z.size(1);
    const auto layers = static_cast<std::size_t>(lstm->options.num_layers());
    std::vector<nn::Tensor> h(layers), c(layers), outputs;
    nn::Tensor previous = nn::zeros({1, batch, kNoteFeatures}, nn::TensorOptions(z.device()));
    for (std::int64_t t = 0; t < steps; ++t) {
      nn::Tensor x = nn::cat({nn::slice(z, 0, t, t + 1), previous}, 2);
      for (std::size_t k = 0; k < layers; ++k) {
        nn::LSTMLayerResult r =
            nn::lstm_layer(x, h[k], c[k], lstm->weight_ih[k], lstm->weight_hh[k], lstm->bias_ih[k],
                           lstm->bias_hh[k]);
        x = r.output;
        h[k] = r.h;
        c[k] = r.c;
      }
      previous = masked(head->forward(x));
      outputs.push_back(previous);
    }
    return nn::cat(outputs, 0);
  }

  // Teacher forcing: each step fed the real previous note (zeros before the first).
  nn::Tensor predict_next(const nn::Tensor& z, const nn::Tensor& real) const {
    const std::int64_t steps = real.size(0), batch = real.size(1);
    nn::Tensor previous = nn::zeros({1, batch, kNoteFeatures}, nn::TensorOptions(real.device()));
    if (steps > 1) previous = nn::cat({previous, nn::slice(real, 0, 0, steps - 1)}, 0);
    auto [out, state] = lstm->forward(nn::cat({z, previous}, 2));
    return masked(head->forward(out));
  }

  // The features the data holds constant are written as that constant (0 once standardised).
  void set_mask(const nn::Tensor& mask) { mask_ = mask; }
  std::int64_t noise() const { return noise_; }

  std::shared_ptr<nn::LSTM> lstm;
  std::shared_ptr<nn::Linear> head;

 private:
  nn::Tensor masked(const nn::Tensor& x) const { return mask_.defined() ? x * mask_ : x; }

  std::int64_t noise_;
  nn::Tensor mask_;
};

class DiscriminatorNet final : public nn::Module {
 public:
  DiscriminatorNet(std::int64_t hidden, std::int64_t layers, nn::Generator* init) {
    lstm = register_module("lstm", std::make_shared<nn::LSTM>(nn::LSTMOptions(kNoteFeatures, hidden)
                                                                  .num_layers(layers)
                                                                  .bidirectional(true)
                                                                  .generator(init)));
    head = register_module(
        "head", std::make_shared<nn::Linear>(nn::LinearOptions(2 * hidden, 1).generator(init)));
  }
  struct Output {
    nn::Tensor logits;    // (T,B,1)
    nn::Tensor features;  // (B,2H): the last layer's output averaged over the notes
  };
  Output forward(const nn::Tensor& notes) const {
    auto [out, state] = lstm->forward(notes);
    return {head->forward(out), nn::mean(out, {0})};
  }

  std::shared_ptr<nn::LSTM> lstm;
  std::shared_ptr<nn::Linear> head;
};

// The fraction of logits on the right side of 0: real ones > 0, generated ones < 0.
double accuracy(const nn::Tensor& real_logits, const nn::Tensor& fake_logits) {
  std::int64_t right = 0, all = 0;
  for (float v : real_logits.to(nn::Device::cpu()).to_vector<float>()) right += v > 0, ++all;
  for (float v : fake_logits.to(nn::Device::cpu()).to_vector<float>()) right += v < 0, ++all;
  return all > 0 ? static_cast<double>(right) / static_cast<double>(all) : 0.0;
}

std::vector<Piece> decode_batch(const nn::Tensor& notes, const Normaliser& norm, double tempo_bpm) {
  const std::int64_t steps = notes.size(0), batch = notes.size(1);
  const std::vector<float> v = notes.to(nn::Device::cpu()).to_vector<float>();
  std::vector<Piece> pieces;
  for (std::int64_t b = 0; b < batch; ++b) {
    std::vector<NoteFeatures> features;
    for (std::int64_t t = 0; t < steps; ++t) {
      NoteFeatures f{};
      for (std::int64_t k = 0; k < kNoteFeatures; ++k) {
        const auto i = static_cast<std::size_t>((t * batch + b) * kNoteFeatures + k);
        f[static_cast<std::size_t>(k)] =
            v[i] * norm.stdev[static_cast<std::size_t>(k)] + norm.mean[static_cast<std::size_t>(k)];
      }
      features.push_back(f);
    }
    pieces.push_back(piece_from_note_features(features, tempo_bpm));
  }
  return pieces;
}

// --- the task -------------------------------------------------------------------------------

enum Column : std::size_t { kDLoss, kGLoss, kDAccuracy, kDUpdated, kRate, kStatDistance, kSeconds };

class CrnnGanTask final : public GanTask {
 public:
  CrnnGanTask(const GanOptions& options, const GanData& data, const RunDir& run)
      : options_(options),
        run_(run),
        seed_(static_cast<std::uint64_t>(options.seed)),
        init_(seed_),
        noise_(seed_ ^ 0x9e3779b97f4a7c15ULL) {
    // The windows: each piece cut into sequences of seq_len notes (the rest left out).
    std::vector<NoteFeatures> all;
    for (const Piece& piece : data.pieces) {
      const std::vector<NoteFeatures> notes = note_features(piece);
      for (std::size_t at = 0; at + static_cast<std::size_t>(options.seq_len) <= notes.size();
           at += static_cast<std::size_t>(options.seq_len)) {
        windows_.emplace_back(notes.begin() + static_cast<std::ptrdiff_t>(at),
                              notes.begin() + static_cast<std::ptrdiff_t>(at) + options.seq_len);
        all.insert(all.end(), windows_.back().begin(), windows_.back().end());
      }
    }
    if (windows_.empty()) {
      throw std::invalid_argument("crnngan: no piece has --seq-len " +
                                  std::to_string(options.seq_len) + " notes (" + data.describe +
                                  "); try a smaller --seq-len");
    }
    norm_ = Normaliser::of(all);
    const auto batch = static_cast<std::size_t>(options.batch);
    steps_per_epoch_ = static_cast<std::int64_t>((windows_.size() + batch - 1) / batch);
    generator_ =
        std::make_unique<GeneratorNet>(options.noise, options.hidden, options.layers, &init_);
    discriminator_ = std::make_unique<DiscriminatorNet>(options.hidden, options.layers, &init_);
    generator_->to(options.device);
    generator_->set_mask(norm_.mask(options.device));
    discriminator_->to(options.device);
    g_opt_ = std::make_unique<nn::optim::Adam>(
        generator_->parameters(), nn::optim::AdamOptions(options.lr_g).betas({0.5, 0.999}));
    d_opt_ = std::make_unique<nn::optim::Adam>(
        discriminator_->parameters(), nn::optim::AdamOptions(options.lr_d).betas({0.5, 0.999}));
    // The data's statistics, in the playable units the generated notes are measured in.
    std::vector<NoteFeatures> playable;
    for (const auto& w : windows_) {
      const std::vector<NoteFeatures> f = note_features(piece_from_note_features(w, 120));
      playable.insert(playable.end(), f.begin(), f.end());
    }
    data_stats_ = Normaliser::of(playable);
  }

  std::string describe() const override {
    std::ostringstream s;
    s << "C-RNN-GAN: generator " << options_.layers << " x LSTM(" << options_.noise + kNoteFeatures
      << " -> " << options_.hidden << "), discriminator " << options_.layers << " x BiLSTM("
      << kNoteFeatures << " -> " << options_.hidden << "), " << count(*generator_) << " + "
      << count(*discriminator_) << " parameters";
    if (!options_.device.is_cpu()) s << ", on " << options_.device.str();
    return s.str();
  }
  std::string describe_data() const override {
    return std::to_string(windows_.size()) + " sequences of " + std::to_string(options_.seq_len) +
           " notes";
  }
  std::string progress_figures(const std::vector<double>& row) const override {
    std::ostringstream s;
    s << std::fixed << std::setprecision(3) << "D " << row[kDLoss] << "  G " << row[kGLoss]
      << "  D acc " << std::setprecision(2) << row[kDAccuracy]
      << (step_ <= options_.pretrain_steps ? "  (pre-training G)" : "") << "  "
      << Progress::format_rate(row[kRate]) << " notes/s";
    return s.str();
  }

  std::vector<MetricColumn> columns() const override {
    using S = MetricColumn::Source;
    return {{"d_loss", S::step_mean, "train/d_loss", "epoch/d_loss"},
            {"g_loss", S::step_mean, "train/g_loss", "epoch/g_loss"},
            {"d_accuracy", S::step_mean, "train/d_accuracy", "epoch/d_accuracy"},
            {"d_updated", S::step_mean, "train/d_updated", "epoch/d_updated"},
            {"notes_per_s", S::rate, "train/notes_per_s", "", false},
            {"stat_distance", S::validation, "", "valid/stat_distance"},
            {"seconds", S::seconds, "", ""}};
  }
  std::int64_t steps_per_epoch() const override { return steps_per_epoch_; }
  void begin_epoch(std::int64_t epoch) override {
    order_ = permutation(static_cast<std::int64_t>(windows_.size()), seed_,
                         static_cast<std::uint64_t>(epoch));
  }

  StepReport train_step(std::int64_t batch_index) override {
    const auto batch = static_cast<std::size_t>(options_.batch);
    const std::size_t first = static_cast<std::size_t>(batch_index) * batch;
    const std::size_t last = std::min(windows_.size(), first + batch);
    const auto b = static_cast<std::int64_t>(last - first);
    const std::int64_t t = options_.seq_len;
    std::vector<float> host(static_cast<std::size_t>(t * b * kNoteFeatures));
    for (std::size_t i = first; i < last; ++i) {
      const auto& w = windows_[static_cast<std::size_t>(order_[i])];
      for (std::int64_t s = 0; s < t; ++s) {
        for (std::int64_t k = 0; k < kNoteFeatures; ++k) {
          const auto f = static_cast<std::size_t>(k);
          host[static_cast<std::size_t>(
              (s * b + static_cast<std::int64_t>(i - first)) * kNoteFeatures + k)] =
              static_cast<float>((w[static_cast<std::size_t>(s)][f] - norm_.mean[f]) /
                                 norm_.stdev[f]);
        }
      }
    }
    const nn::Device device = options_.device;
    const nn::Tensor real = nn::from_vector(host, {t, b, kNoteFeatures}).to(device);
    const nn::Tensor z = nn::randn({t, b, options_.noise}, &noise_).to(device);
    ++step_;
    const double clip = options_.clip > 0 ? options_.clip : std::numeric_limits<double>::infinity();

    double d_loss_value = 0, g_loss_value = 0, acc = 0, updated = 0;
    if (step_ <= options_.pretrain_steps) {
      // Pre-training: the generator learns to predict the next note; the discriminator is
      // only measured on the generator's free-running notes.
      const nn::Tensor mse = nn::mean(nn::pow(generator_->predict_next(z, real) - real, 2.0));
      g_opt_->zero_grad();
      nn::backward({mse});
      nn::optim::clip_grad_norm_(generator_->parameters(), clip);
      g_opt_->step();
      g_loss_value = mse.item<float>();
      nn::NoGradGuard no_grad;
      const nn::Tensor fake = generator_->run(z);
      const auto d_real = discriminator_->forward(real), d_fake = discriminator_->forward(fake);
      d_loss_value = nn::gan_discriminator_loss(d_real.logits, d_fake.logits).item<float>();
      acc = accuracy(d_real.logits, d_fake.logits);
    } else {
      const nn::Tensor fake = generator_->run(z);
      // The discriminator on real and generated notes at once (one LSTM pass over 2B).
      const auto d_both = discriminator_->forward(nn::cat({real, fake.detach()}, 1));
      const nn::Tensor real_logits = nn::slice(d_both.logits, 1, 0, b);
      const nn::Tensor fake_logits = nn::slice(d_both.logits, 1, b, 2 * b);
      const nn::Tensor d_loss = nn::gan_discriminator_loss(real_logits, fake_logits);
      d_loss_value = d_loss.item<float>();
      acc = accuracy(real_logits, fake_logits);
      if (acc <= options_.freeze_accuracy) {
        d_opt_->zero_grad();
        nn::backward({d_loss});
        nn::optim::clip_grad_norm_(discriminator_->parameters(), clip);
        d_opt_->step();
        updated = 1;
      }
      // The generator, through the (updated) discriminator.
      const auto d_fake = discriminator_->forward(fake);
      nn::Tensor g_loss;
      if (options_.g_loss == "feature-matching") {
        g_loss = nn::feature_matching_loss(nn::slice(d_both.features, 0, 0, b).detach(),
                                           d_fake.features);
      } else {
        g_loss = nn::gan_generator_loss(d_fake.logits);
      }
      g_opt_->zero_grad();
      nn::backward({g_loss});
      nn::optim::clip_grad_norm_(generator_->parameters(), clip);
      g_opt_->step();
      g_loss_value = g_loss.item<float>();
    }
    if (!std::isfinite(d_loss_value) || !std::isfinite(g_loss_value)) {
      throw std::runtime_error("crnngan: a loss became non-finite at step " +
                               std::to_string(step_) + " (D " + std::to_string(d_loss_value) +
                               ", G " + std::to_string(g_loss_value) +
                               "; try lower --lr-g / --lr-d or --clip)");
    }
    return {{d_loss_value, g_loss_value, acc, updated}, b * t};
  }

  // How far the generated notes' statistics are from the data's: the mean over the four
  // features of |mean difference| + |standard deviation difference|, each in the data's
  // standard deviations (0: the same first two moments), on 64 sequences of a fixed seed.
  std::vector<double> validate() override {
    const Normaliser generated = Normaliser::of(sample_features(64, seed_ + 1));
    double distance = 0;
    for (std::size_t f = 0; f < 4; ++f) {
      distance += (std::abs(generated.mean[f] - data_stats_.mean[f]) +
                   std::abs(generated.stdev[f] - data_stats_.stdev[f])) /
                  data_stats_.stdev[f];
    }
    return {distance / 4};
  }

  void after_epoch(std::int64_t step, std::int64_t epochs_done, TensorBoardLog* board) override {
    if (board == nullptr) return;
    nn::NoGradGuard no_grad;
    nn::Generator fixed(seed_ + 2);
    const nn::Tensor z =
        nn::randn({std::max<std::int64_t>(64, options_.seq_len), 1, options_.noise}, &fixed);
    const Piece piece = decode_batch(generator_->run(z.to(options_.device)), norm_, 120).front();
    plot::PianoRollOptions roll;
    roll.width = 800;
    roll.height = 320;
    roll.title = "crnngan, step " + std::to_string(step) + ", epoch " + std::to_string(epochs_done);
    DecodeOptions decode;
    SamplePicture picture;
    picture.png = plot::render_png(plot::piano_roll(piece_to_midi(piece, decode), roll));
    picture.width = roll.width;
    picture.height = roll.height;
    board->image(step, picture);
  }

  void save_state(nn::TrainingState& state) const override {
    for (const auto& [name, tensor] : generator_->state_dict()) state.tensors["g." + name] = tensor;
    for (const auto& [name, tensor] : discriminator_->state_dict())
      state.tensors["d." + name] = tensor;
    nn::TrainingState g, d;
    g_opt_->save_state(g);
    d_opt_->save_state(d);
    state.merge(g.prefixed("g_opt."));
    state.merge(d.prefixed("d_opt."));
    nn::save_generator(state, "noise_rng.", noise_);
    state.ints["crnngan.step"] = step_;
  }

  void load_state(const nn::TrainingState& saved) override {
    generator_->load_state_dict(tensors(saved, "g."));
    discriminator_->load_state_dict(tensors(saved, "d."));
    g_opt_->load_state(saved.sub("g_opt."));
    d_opt_->load_state(saved.sub("d_opt."));
    nn::load_generator(saved, "noise_rng.", noise_);
    const auto it = saved.ints.find("crnngan.step");
    if (it == saved.ints.end())
      throw std::runtime_error(run_.state().string() + ": not a crnngan state (no crnngan.step)");
    step_ = it->second;
  }

  void write_outputs(std::int64_t step, bool best) override {
    std::map<std::string, std::string> metadata;
    metadata[kGanModelKey] = "crnngan";
    metadata["crnngan.noise"] = std::to_string(options_.noise);
    metadata["crnngan.hidden"] = std::to_string(options_.hidden);
    metadata["crnngan.layers"] = std::to_string(options_.layers);
    metadata["crnngan.seq_len"] = std::to_string(options_.seq_len);
    metadata["musegen.step"] = std::to_string(step);
    norm_.to_metadata(metadata);
    nn::NamedTensors host;
    for (const auto& [name, tensor] : generator_->state_dict())
      host.insert(name, tensor.to(nn::Device::cpu()));
    nn::save_safetensors(run_.weights(), host, metadata);
    if (best) nn::save_safetensors(run_.best(), host, metadata);
  }

 private:
  static std::int64_t count(const nn::Module& m) {
    std::int64_t n = 0;
    for (const nn::Tensor& p : m.parameters()) n += p.numel();
    return n;
  }
  static nn::StateDict tensors(const nn::TrainingState& saved, const std::string& prefix) {
    nn::NamedTensors out;
    for (const auto& [name, tensor] : saved.sub(prefix).tensors) out.insert(name, tensor);
    return out;
  }
  // The notes of `count` generated sequences, playable (decoded), from a generator of its own.
  std::vector<NoteFeatures> sample_features(std::int64_t count, std::uint64_t seed) const {
    nn::NoGradGuard no_grad;
    nn::Generator fixed(seed);
    const nn::Tensor z =
        nn::randn({options_.seq_len, count, options_.noise}, &fixed).to(options_.device);
    std::vector<NoteFeatures> out;
    for (const Piece& piece : decode_batch(generator_->run(z), norm_, 120)) {
      const std::vector<NoteFeatures> f = note_features(piece);
      out.insert(out.end(), f.begin(), f.end());
    }
    return out;
  }

  const GanOptions& options_;
  const RunDir& run_;
  std::uint64_t seed_;
  nn::Generator init_, noise_;
  std::vector<std::vector<NoteFeatures>> windows_;
  Normaliser norm_, data_stats_;
  std::unique_ptr<GeneratorNet> generator_;
  std::unique_ptr<DiscriminatorNet> discriminator_;
  std::unique_ptr<nn::optim::Adam> g_opt_, d_opt_;
  std::vector<std::int64_t> order_;
  std::int64_t steps_per_epoch_ = 0, step_ = 0;
};

std::int64_t metadata_int(const GanWeights& w, const std::string& key) {
  const auto it = w.metadata.find(key);
  if (it == w.metadata.end())
    throw std::runtime_error(w.file.string() + ": no \"" + key + "\" in the metadata");
  try {
    std::size_t used = 0;
    const long long v = std::stoll(it->second, &used);
    if (used != it->second.size() || v < 1 || v > 65536) throw std::out_of_range("range");
    return v;
  } catch (const std::exception&) {
    throw std::runtime_error(w.file.string() + ": metadata \"" + key +
                             "\": expected 1..65536, found \"" + it->second + "\"");
  }
}

double metadata_double(const GanWeights& w, const std::string& key) {
  const auto it = w.metadata.find(key);
  if (it == w.metadata.end())
    throw std::runtime_error(w.file.string() + ": no \"" + key + "\" in the metadata");
  try {
    std::size_t used = 0;
    const double v = std::stod(it->second, &used);
    if (used != it->second.size() || !std::isfinite(v)) throw std::out_of_range("range");
    return v;
  } catch (const std::exception&) {
    throw std::runtime_error(w.file.string() + ": metadata \"" + key +
                             "\": expected a finite number, found \"" + it->second + "\"");
  }
}

}  // namespace

std::vector<NoteFeatures> note_features(const Piece& piece) {
  std::vector<const PieceNote*> notes;
  for (const PieceNote& n : piece.notes) {
    if (!n.drum) notes.push_back(&n);
  }
  std::stable_sort(notes.begin(), notes.end(), [](const PieceNote* a, const PieceNote* b) {
    return a->start_quarters != b->start_quarters ? a->start_quarters < b->start_quarters
                                                  : a->pitch < b->pitch;
  });
  std::vector<NoteFeatures> out;
  double previous = notes.empty() ? 0 : notes.front()->start_quarters;
  for (const PieceNote* n : notes) {
    out.push_back({n->start_quarters - previous, n->end_quarters - n->start_quarters,
                   static_cast<double>(n->pitch), static_cast<double>(n->velocity)});
    previous = n->start_quarters;
  }
  return out;
}

Piece piece_from_note_features(const std::vector<NoteFeatures>& notes, double tempo_bpm) {
  Piece piece;
  const double seconds_per_quarter = 60.0 / tempo_bpm;
  double at = 0;
  for (const NoteFeatures& f : notes) {
    at += std::max(0.0, std::isfinite(f[0]) ? f[0] : 0.0);
    PieceNote n;
    const double duration =
        std::clamp(std::isfinite(f[1]) ? f[1] : kMinDuration, kMinDuration, kMaxDuration);
    n.start_quarters = at;
    n.end_quarters = at + duration;
    n.start_seconds = at * seconds_per_quarter;
    n.end_seconds = n.end_quarters * seconds_per_quarter;
    n.pitch =
        static_cast<int>(std::lround(std::clamp(std::isfinite(f[2]) ? f[2] : 60.0, 0.0, 127.0)));
    n.velocity =
        static_cast<int>(std::lround(std::clamp(std::isfinite(f[3]) ? f[3] : 80.0, 1.0, 127.0)));
    piece.notes.push_back(n);
  }
  return piece;
}

std::unique_ptr<GanTask> make_crnngan_task(const GanOptions& options, const GanData& data,
                                           const RunDir& run) {
  if (options.g_loss != "feature-matching" && options.g_loss != "non-saturating") {
    throw std::invalid_argument("--g-loss: expected feature-matching or non-saturating, found \"" +
                                options.g_loss + "\"");
  }
  return std::make_unique<CrnnGanTask>(options, data, run);
}

std::vector<Piece> crnngan_generate(const GanWeights& weights, const GanGenerateOptions& options) {
  const std::int64_t noise = metadata_int(weights, "crnngan.noise");
  // The initial weights are all overwritten; drawn from a generator of their own so that
  // generating touches no global state.
  nn::Generator init(0);
  GeneratorNet generator(noise, metadata_int(weights, "crnngan.hidden"),
                         metadata_int(weights, "crnngan.layers"), &init);
  Normaliser norm;
  for (std::size_t f = 0; f < 4; ++f) {
    norm.mean[f] = metadata_double(weights, "crnngan.mean" + std::to_string(f));
    norm.stdev[f] = metadata_double(weights, "crnngan.std" + std::to_string(f));
  }
  try {
    generator.load_state_dict(weights.tensors);
  } catch (const std::exception& e) {
    throw std::runtime_error(weights.file.string() +
                             ": not the generator its metadata describes: " + e.what());
  }
  generator.eval();
  generator.to(options.device);
  generator.set_mask(norm.mask(options.device));
  nn::NoGradGuard no_grad;
  nn::Generator rng(static_cast<std::uint64_t>(options.seed));
  const nn::Tensor z = nn::randn({options.length, options.count, noise}, &rng).to(options.device);
  return decode_batch(generator.run(z), norm, options.tempo_bpm);
}

}  // namespace musegen
