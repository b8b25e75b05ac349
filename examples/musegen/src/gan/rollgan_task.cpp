// rollgan as a gan-train model (gan.hpp's table): its data (the pieces cut into phrases of
// piano-roll bars), its training step, validation, state, outputs and generation.
#include <algorithm>
#include <cmath>
#include <iomanip>
#include <libnn/libnn.hpp>
#include <sstream>
#include <stdexcept>

#include "batches.hpp"
#include "instruments.hpp"
#include "plot.hpp"
#include "progress.hpp"
#include "rollgan.hpp"
#include "sample_picture.hpp"
#include "tensorboard_log.hpp"

namespace musegen {

RollGanConfig rollgan_config(const GanOptions& o) {
  RollGanConfig c;
  c.data.ensemble = parse_ensemble(o.ensemble);
  c.data.bars = static_cast<int>(o.bars);
  c.data.lowest_pitch = static_cast<int>(o.lowest_pitch);
  c.data.pitches = static_cast<int>(o.pitches);
  c.shared_noise = o.shared_noise;
  c.private_noise = o.private_noise;
  c.g_channels = o.g_channels;
  c.d_channels = o.d_channels;
  c.n_critic = o.n_critic;
  c.gp_weight = o.gp_weight;
  c.lr_g = o.lr_g;
  c.lr_d = o.lr_d;
  validate_rollgan_config(c);
  return c;
}

std::vector<double> roll_statistics(std::span<const std::uint8_t> rolls, const RollBarsParams& p) {
  const std::int64_t size = p.sample_size(),
                     phrases = static_cast<std::int64_t>(rolls.size()) / size;
  const std::int64_t per_track = static_cast<std::int64_t>(p.steps()) * p.pitches;
  std::vector<double> out(static_cast<std::size_t>(2 * p.tracks()), 0);
  for (std::int64_t i = 0; i < phrases; ++i)
    for (int t = 0; t < p.tracks(); ++t) {
      const std::uint8_t* track = rolls.data() + i * size + t * per_track;
      std::int64_t on = 0;
      for (std::int64_t k = 0; k < per_track; ++k) on += track[k];
      out[static_cast<std::size_t>(t)] += static_cast<double>(on) / static_cast<double>(p.steps());
      for (int bar = 0; bar < p.bars; ++bar) {
        std::int64_t bar_on = 0;
        for (std::int64_t k = bar * p.steps_per_bar() * p.pitches;
             k < (bar + 1) * p.steps_per_bar() * p.pitches; ++k)
          bar_on += track[k];
        if (bar_on == 0) out[static_cast<std::size_t>(p.tracks() + t)] += 1.0 / p.bars;
      }
    }
  for (double& v : out) v /= static_cast<double>(std::max<std::int64_t>(1, phrases));
  return out;
}

namespace {

enum Column : std::size_t {
  kCriticLoss,
  kWasserstein,
  kPenalty,
  kGradNorm,
  kGLoss,
  kRate,
  kStatDistance,
  kSeconds
};

std::string metadata_of(const std::map<std::string, std::string>& m, const std::string& key,
                        const std::filesystem::path& file) {
  const auto it = m.find(key);
  if (it == m.end())
    throw std::runtime_error(file.string() + ": no \"" + key + "\" in the metadata");
  return it->second;
}

std::int64_t metadata_int(const GanWeights& w, const std::string& key, std::int64_t lo,
                          std::int64_t hi) {
  const std::string text = metadata_of(w.metadata, key, w.file);
  try {
    std::size_t used = 0;
    const long long v = std::stoll(text, &used);
    if (used != text.size() || v < lo || v > hi) throw std::out_of_range("range");
    return v;
  } catch (const std::exception&) {
    throw std::runtime_error(w.file.string() + ": metadata \"" + key + "\": expected " +
                             std::to_string(lo) + ".." + std::to_string(hi) + ", found \"" + text +
                             "\"");
  }
}

class RollGanTask final : public GanTask {
 public:
  RollGanTask(const GanOptions& options, const GanData& data, const RunDir& run)
      : options_(options),
        run_(run),
        seed_(static_cast<std::uint64_t>(options.seed)),
        gan_(rollgan_config(options), seed_) {
    data_.params = gan_.config.data;
    std::int64_t other_meter = 0, no_ensemble = 0;
    for (std::size_t i = 0; i < data.pieces.size(); ++i) {
      const auto& signatures = i < data.time_signatures.size() ? data.time_signatures[i]
                                                               : std::vector<std::pair<int, int>>{};
      if (!meter_mismatch(signatures, data_.params).empty()) {
        ++other_meter;
        continue;
      }
      if (add_phrases(data_, data.pieces[i], data.sources[i]) > 0) {
        ++pieces_used_;
      } else {
        ++no_ensemble;
      }
    }
    if (data_.phrases() == 0) {
      throw std::invalid_argument("rollgan: no phrases in the data (" + data.describe +
                                  "): " + std::to_string(other_meter) + " pieces not in 4/4, " +
                                  std::to_string(no_ensemble) +
                                  " without a part for every instrument of --ensemble " +
                                  options.ensemble + " (" + ensemble_names() + ")");
    }
    skipped_ = "; " + std::to_string(other_meter) + " pieces not in 4/4 and " +
               std::to_string(no_ensemble) + " without the ensemble left out";
    const std::int64_t per_step = options.batch * gan_.config.n_critic;
    steps_per_epoch_ = std::max<std::int64_t>(1, data_.phrases() / per_step);
    data_stats_ = roll_statistics(data_.data, data_.params);
    gan_.generator->to(options.device);
    gan_.critic->to(options.device);
  }

  std::string describe() const override {
    std::ostringstream s;
    s << "rollgan: " << data_.params.tracks() << " track generators (" << gan_.config.shared_noise
      << " shared + " << gan_.config.private_noise << " private noise -> " << data_.params.steps()
      << " x " << data_.params.pitches << " roll), conv critic, WGAN-GP (lambda "
      << gan_.config.gp_weight << ", " << gan_.config.n_critic
      << " critic updates per generator update), " << count(*gan_.generator) << " + "
      << count(*gan_.critic) << " parameters";
    if (!options_.device.is_cpu()) s << ", on " << options_.device.str();
    return s.str();
  }
  std::string describe_data() const override {
    return std::to_string(data_.phrases()) + " phrases of " + std::to_string(data_.params.bars) +
           " bars (" + ensemble_names() + ") from " + std::to_string(pieces_used_) + " pieces" +
           skipped_;
  }
  std::string progress_figures(const std::vector<double>& row) const override {
    std::ostringstream s;
    s << std::fixed << std::setprecision(3) << "W " << row[kWasserstein] << "  GP " << row[kPenalty]
      << "  G " << row[kGLoss] << "  " << Progress::format_rate(row[kRate]) << " phrases/s";
    return s.str();
  }

  std::vector<MetricColumn> columns() const override {
    using S = MetricColumn::Source;
    return {{"critic_loss", S::step_mean, "train/critic_loss", "epoch/critic_loss"},
            {"wasserstein", S::step_mean, "train/wasserstein", "epoch/wasserstein"},
            {"penalty", S::step_mean, "train/penalty", "epoch/penalty"},
            {"grad_norm", S::step_mean, "train/grad_norm", "epoch/grad_norm"},
            {"g_loss", S::step_mean, "train/g_loss", "epoch/g_loss"},
            {"phrases_per_s", S::rate, "train/phrases_per_s", "", false},
            {"stat_distance", S::validation, "", "valid/stat_distance"},
            {"seconds", S::seconds, "", ""}};
  }
  std::int64_t steps_per_epoch() const override { return steps_per_epoch_; }
  void begin_epoch(std::int64_t epoch) override {
    order_ = permutation(data_.phrases(), seed_, static_cast<std::uint64_t>(epoch));
  }

  StepReport train_step(std::int64_t batch_index) override {
    std::vector<nn::Tensor> batches;
    const std::int64_t b = options_.batch, n = gan_.config.n_critic;
    for (std::int64_t k = 0; k < n; ++k) {
      // Consecutive slices of the epoch's order, wrapping round for a set smaller than a step.
      std::vector<std::int64_t> indices;
      for (std::int64_t j = 0; j < b; ++j)
        indices.push_back(
            order_[static_cast<std::size_t>(((batch_index * n + k) * b + j) % data_.phrases())]);
      batches.push_back(phrases_tensor(data_, indices).to(options_.device));
    }
    const RollGanStep r = gan_.train_step(batches);
    if (!std::isfinite(r.critic_loss) || !std::isfinite(r.generator_loss)) {
      throw std::runtime_error("rollgan: a loss became non-finite (critic " +
                               std::to_string(r.critic_loss) + ", generator " +
                               std::to_string(r.generator_loss) + "); try lower --lr-g / --lr-d");
    }
    return {{r.critic_loss, r.wasserstein, r.penalty, r.grad_norm, r.generator_loss}, b * n};
  }

  // How far 64 generated phrases (a fixed seed) are from the data: the mean over the tracks
  // of |notes sounding per step| (relative to the data's) and |share of empty bars|.
  std::vector<double> validate() override {
    nn::Generator fixed(seed_ + 1);
    std::vector<std::uint8_t> rolls = binarize(gan_.sample(64, fixed).to(nn::Device::cpu()));
    const std::vector<double> s = roll_statistics(rolls, data_.params);
    double distance = 0;
    const int t = data_.params.tracks();
    for (int k = 0; k < t; ++k) {
      const auto i = static_cast<std::size_t>(k), j = static_cast<std::size_t>(t + k);
      distance += std::abs(s[i] - data_stats_[i]) / std::max(1e-9, data_stats_[i]) +
                  std::abs(s[j] - data_stats_[j]);
    }
    return {distance / t};
  }

  void after_epoch(std::int64_t step, std::int64_t epochs_done, TensorBoardLog* board) override {
    if (board == nullptr) return;
    nn::Generator fixed(seed_ + 2);
    const std::vector<std::uint8_t> roll = binarize(gan_.sample(1, fixed).to(nn::Device::cpu()));
    plot::PianoRollOptions options;
    options.width = 800;
    options.height = 320;
    options.title =
        "rollgan, step " + std::to_string(step) + ", epoch " + std::to_string(epochs_done);
    SamplePicture picture;
    picture.png = plot::render_png(
        plot::piano_roll(roll_to_midi(roll, data_.params.steps(), data_.params), options));
    picture.width = options.width;
    picture.height = options.height;
    board->image(step, picture);
  }

  void save_state(nn::TrainingState& state) const override {
    for (const auto& [name, tensor] : gan_.generator->state_dict())
      state.tensors["g." + name] = tensor;
    for (const auto& [name, tensor] : gan_.critic->state_dict())
      state.tensors["d." + name] = tensor;
    nn::TrainingState g, d;
    gan_.opt_g->save_state(g);
    gan_.opt_d->save_state(d);
    state.merge(g.prefixed("g_opt."));
    state.merge(d.prefixed("d_opt."));
    nn::save_generator(state, "noise_rng.", gan_.gen);
    state.ints["rollgan.phrases"] = data_.phrases();
  }

  void load_state(const nn::TrainingState& saved) override {
    const auto it = saved.ints.find("rollgan.phrases");
    if (it == saved.ints.end())
      throw std::runtime_error(run_.state().string() +
                               ": not a rollgan state (no rollgan.phrases)");
    gan_.generator->load_state_dict(tensors(saved, "g."));
    gan_.critic->load_state_dict(tensors(saved, "d."));
    gan_.opt_g->load_state(saved.sub("g_opt."));
    gan_.opt_d->load_state(saved.sub("d_opt."));
    nn::load_generator(saved, "noise_rng.", gan_.gen);
  }

  void write_outputs(std::int64_t step, bool best) override {
    std::map<std::string, std::string> metadata;
    const RollGanConfig& c = gan_.config;
    metadata[kGanModelKey] = "rollgan";
    std::string ensemble;
    for (int index : c.data.ensemble)
      ensemble += (ensemble.empty() ? "" : ",") + std::string(instrument(index).name);
    metadata["rollgan.ensemble"] = ensemble;
    metadata["rollgan.bars"] = std::to_string(c.data.bars);
    metadata["rollgan.steps_per_quarter"] = std::to_string(c.data.steps_per_quarter);
    metadata["rollgan.quarters_per_bar"] = std::to_string(c.data.quarters_per_bar);
    metadata["rollgan.lowest_pitch"] = std::to_string(c.data.lowest_pitch);
    metadata["rollgan.pitches"] = std::to_string(c.data.pitches);
    metadata["rollgan.shared_noise"] = std::to_string(c.shared_noise);
    metadata["rollgan.private_noise"] = std::to_string(c.private_noise);
    metadata["rollgan.g_channels"] = std::to_string(c.g_channels);
    metadata["musegen.step"] = std::to_string(step);
    nn::NamedTensors host;
    for (const auto& [name, tensor] : gan_.generator->state_dict())
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
  std::string ensemble_names() const {
    std::string names;
    for (int index : data_.params.ensemble)
      names += (names.empty() ? "" : ", ") + std::string(instrument(index).name);
    return names;
  }

  const GanOptions& options_;
  const RunDir& run_;
  std::uint64_t seed_;
  RollGan gan_;
  RollDataset data_;
  std::vector<double> data_stats_;
  std::vector<std::int64_t> order_;
  std::int64_t steps_per_epoch_ = 0, pieces_used_ = 0;
  std::string skipped_;
};

}  // namespace

void check_rollgan_options(const GanOptions& options) { rollgan_config(options); }

std::unique_ptr<GanTask> make_rollgan_task(const GanOptions& options, const GanData& data,
                                           const RunDir& run) {
  return std::make_unique<RollGanTask>(options, data, run);
}

std::vector<Piece> rollgan_generate(const GanWeights& weights, const GanGenerateOptions& options) {
  RollGanConfig c;
  try {
    c.data.ensemble =
        parse_ensemble(metadata_of(weights.metadata, "rollgan.ensemble", weights.file));
  } catch (const std::invalid_argument& e) {
    throw std::runtime_error(weights.file.string() +
                             ": metadata \"rollgan.ensemble\": " + e.what());
  }
  c.data.bars = static_cast<int>(metadata_int(weights, "rollgan.bars", 1, kRollBarsMaxBars));
  c.data.steps_per_quarter = static_cast<int>(
      metadata_int(weights, "rollgan.steps_per_quarter", 1, kRollBarsMaxStepsPerQuarter));
  c.data.quarters_per_bar = static_cast<int>(
      metadata_int(weights, "rollgan.quarters_per_bar", 1, kRollBarsMaxQuartersPerBar));
  c.data.lowest_pitch = static_cast<int>(metadata_int(weights, "rollgan.lowest_pitch", 0, 127));
  c.data.pitches = static_cast<int>(metadata_int(weights, "rollgan.pitches", 1, 128));
  c.shared_noise = metadata_int(weights, "rollgan.shared_noise", 1, kRollGanMaxNoise);
  c.private_noise = metadata_int(weights, "rollgan.private_noise", 0, kRollGanMaxNoise);
  c.g_channels = metadata_int(weights, "rollgan.g_channels", 4, kRollGanMaxChannels);
  try {
    validate_rollgan_config(c);
  } catch (const std::invalid_argument& e) {
    throw std::runtime_error(weights.file.string() + ": metadata: " + e.what());
  }
  // The initial weights are all overwritten; drawn from a generator of their own.
  nn::Generator init(0);
  RollGenerator generator(c, &init);
  try {
    generator.load_state_dict(weights.tensors);
  } catch (const std::exception& e) {
    throw std::runtime_error(weights.file.string() +
                             ": not the generator its metadata describes: " + e.what());
  }
  generator.to(options.device);
  generator.eval();
  nn::NoGradGuard no_grad;
  nn::Generator rng(static_cast<std::uint64_t>(options.seed));
  const nn::Tensor shared = nn::randn({options.count, c.shared_noise}, &rng);
  const nn::Tensor own = nn::randn({options.count, c.data.tracks(), c.private_noise}, &rng);
  const nn::Tensor probabilities =
      generator.forward(shared.to(options.device), own.to(options.device)).to(nn::Device::cpu());
  const std::vector<std::uint8_t> rolls = binarize(probabilities);
  std::vector<Piece> pieces;
  const auto size = static_cast<std::size_t>(c.data.sample_size());
  for (std::int64_t i = 0; i < options.count; ++i) {
    pieces.push_back(roll_to_piece(
        std::span<const std::uint8_t>(rolls).subspan(static_cast<std::size_t>(i) * size, size),
        c.data.steps(), c.data, options.tempo_bpm));
  }
  return pieces;
}

}  // namespace musegen
