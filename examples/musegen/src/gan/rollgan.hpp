// rollgan: a multi-track piano-roll GAN (MuseGAN's hybrid model, Dong et al. 2018, trained as
// a WGAN-GP, Gulrajani et al. 2017). It writes phrases of bars of piano roll, one channel per
// track (core/roll_bars.hpp: [tracks, steps, pitches], e.g. a four-voice chorale's 4 × 64
// sixteenths × 64 pitches).
//
//   generator  MuseGAN's hybrid model: one noise vector shared by all tracks (what they play
//              together: harmony, rhythm) and one private to each track (its own line); each
//              track has a generator of its own that reads [shared, private]:
//                Linear(shared + private → C·S/8·P/8) → BN → ReLU → [C, S/8, P/8]
//                → ConvTranspose2d(C → C/2, 4, stride 2) → BN → ReLU      [C/2, S/4, P/4]
//                → ConvTranspose2d(C/2 → C/4, 4, stride 2) → BN → ReLU    [C/4, S/2, P/2]
//                → ConvTranspose2d(C/4 → 1, 4, stride 2) → sigmoid        [1, S, P]
//              over (time, pitch); the tracks are stacked as channels. BN is BatchNorm1d over
//              each channel's (time × pitch) values.
//   critic     the tracks as input channels, no batch norm (it would break the per-sample
//              gradient penalty):
//                Conv2d(T → C/4, 4, stride 2) → LeakyReLU(0.2) → Conv2d(C/4 → C/2) → LReLU
//                → Conv2d(C/2 → C) → LReLU → Linear(C·S/8·P/8 → 1)
//   losses     Wasserstein with a gradient penalty λ·mean((‖∇x D(x̂)‖ − 1)²) at random points
//              x̂ between real and generated phrases; n_critic critic updates per generator
//              update; Adam with β = (0.5, 0.9) (the WGAN-GP paper's).
//
// Generated rolls are probabilities; a note sounds where one is above 0.5 (MuseGAN's hard
// threshold at test time).
#pragma once

#include <cstdint>
#include <libnn/modules/batchnorm.hpp>
#include <libnn/modules/conv.hpp>
#include <libnn/modules/linear.hpp>
#include <libnn/optim.hpp>
#include <libnn/random.hpp>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "gan.hpp"
#include "roll_bars.hpp"

namespace musegen {

struct RollGanConfig {
  RollBarsParams data;              // tracks, steps, pitches (steps and pitches: multiples of 8)
  std::int64_t shared_noise = 32;   // values of the noise all tracks share
  std::int64_t private_noise = 32;  // values of each track's own noise
  std::int64_t g_channels = 64;     // C of the generators (each track's)
  std::int64_t d_channels = 64;     // C of the critic
  double gp_weight = 10;            // λ
  std::int64_t n_critic = 5;        // critic updates per generator update
  double lr_g = 1e-3, lr_d = 1e-3;  // Adam, β = (0.5, 0.9)
};

// The limits validate_rollgan_config enforces (shared with the command line's ranges).
inline constexpr std::int64_t kRollGanMaxNoise = 1024, kRollGanMaxChannels = 1024,
                              kRollGanMaxCritic = 100;

// Throws std::invalid_argument naming the value, its range and what was given (the data
// parameters through validate_roll_params; steps and pitches must be multiples of 8, channels
// multiples of 4).
void validate_rollgan_config(const RollGanConfig& config);

// One track's generator: (B, shared + private) → (B, S, P) probabilities.
class RollTrackGenerator : public nn::Module {
 public:
  RollTrackGenerator(const RollGanConfig& config, nn::Generator* init);
  nn::Tensor forward(const nn::Tensor& noise);

  std::int64_t channels, steps, pitches;
  std::shared_ptr<nn::Linear> project;
  std::shared_ptr<nn::BatchNorm1d> bn0, bn1, bn2;
  std::shared_ptr<nn::ConvTranspose2d> up1, up2, up3;
};

class RollGenerator : public nn::Module {
 public:
  RollGenerator(const RollGanConfig& config, nn::Generator* init);
  // shared (B, Zs), private_noise (B, T, Zp) → (B, T, S, P) probabilities.
  nn::Tensor forward(const nn::Tensor& shared, const nn::Tensor& private_noise);

  std::vector<std::shared_ptr<RollTrackGenerator>> tracks;
};

// The slopes of the critic's three LeakyReLUs at a point (1 or 0.2 per unit), constants.
struct CriticSlopes {
  nn::Tensor s1, s2, s3;
};

class RollCritic : public nn::Module {
 public:
  RollCritic(const RollGanConfig& config, nn::Generator* init);
  // x (B, T, S, P) → scores (B); with `slopes`, also the LeakyReLUs' slopes at x.
  nn::Tensor forward(const nn::Tensor& x, CriticSlopes* slopes = nullptr) const;
  // The critic's Jacobian at the point whose slopes are given, applied to v (B, T, S, P):
  // v · ∇x D, per phrase (B), as a function of the weights (the layers without biases, each
  // LeakyReLU replaced by its slopes there).
  nn::Tensor directional(const nn::Tensor& v, const CriticSlopes& slopes) const;

  std::shared_ptr<nn::Conv2d> conv1, conv2, conv3;
  std::shared_ptr<nn::Linear> score;
};

// How the gradient penalty's gradient reaches the critic's weights.
//   frozen_slopes  no double backward: the critic is piecewise linear in x (convolutions,
//       LeakyReLUs, a linear layer), so g = ∇x D(x̂) is the product of its weights and its
//       LeakyReLUs' slopes at x̂, which do not change under a small change of the weights.
//       With g from one ordinary backward and u = g/‖g‖ held constant, the weights' gradient of
//       (‖g‖ − 1)² is 2(‖g‖ − 1)·∂(u·g)/∂θ, and u·g = RollCritic::directional(u, slopes at x̂)
//       is an ordinary graph in the weights. Exact wherever no unit sits exactly at 0 (where
//       PyTorch's double backward picks a side too). A finite difference along u was tried first
//       and is wrong for such a network: units that change side between x̂ ± h·u add terms that
//       grow as 1/h.
//   double_backward  nn::grad(..., create_graph = true), as PyTorch (libnn's double backward
//       covers conv2d, leaky_relu and linear): the default.
// Both give PyTorch's value and weight gradients (test_rollgan.cpp); frozen_slopes is kept as
// the check of the other and for critics with an op libnn has no double backward for.
enum class PenaltyMethod { frozen_slopes, double_backward };

struct GradientPenalty {
  nn::Tensor loss;   // back-propagate it: its weight gradient is the penalty's
  double value = 0;  // λ·mean((‖∇x D(x̂)‖ − 1)²)
  double mean_norm = 0;
};

// The penalty at the points `x_hat` (B, T, S, P), which need no gradient. frozen_slopes clears
// the critic's gradients (the ordinary backward that finds g leaves some there): call it
// before back-propagating the critic's other losses.
GradientPenalty gradient_penalty(RollCritic& critic, const nn::Tensor& x_hat, double weight,
                                 PenaltyMethod method);

// Random points between real and fake phrases (one uniform α per phrase).
nn::Tensor interpolate(const nn::Tensor& real, const nn::Tensor& fake, nn::Generator& gen);

struct RollGanStep {
  double critic_loss = 0;  // Wasserstein critic loss plus the penalty (the last critic update)
  double wasserstein = 0;  // the critic's estimate: mean D(real) − mean D(fake)
  double penalty = 0;
  double grad_norm = 0;  // mean ‖∇x D(x̂)‖
  double generator_loss = 0;
};

// The two networks, their optimizers and the noise, with a training step.
class RollGan {
 public:
  RollGan(const RollGanConfig& config, std::uint64_t seed);

  // n_critic critic updates, each on batch `real_batches[i]` (B, T, S, P) of real phrases (0/1
  // floats), then one generator update on a batch of real_batches[0]'s size.
  RollGanStep train_step(const std::vector<nn::Tensor>& real_batches);
  // `count` phrases from fresh noise, as probabilities (B, T, S, P), in evaluation mode.
  nn::Tensor sample(std::int64_t count, nn::Generator& gen);
  // Noise for `count` phrases: shared (B, Zs) and private (B, T, Zp).
  std::pair<nn::Tensor, nn::Tensor> noise(std::int64_t count, nn::Generator& gen) const;

  RollGanConfig config;
  nn::Generator gen;  // the noise and the interpolation points
  std::shared_ptr<RollGenerator> generator;
  std::shared_ptr<RollCritic> critic;
  std::unique_ptr<nn::optim::Optimizer> opt_g, opt_d;
  PenaltyMethod penalty_method = PenaltyMethod::double_backward;
};

// A batch of phrases of a dataset as a float tensor (B, T, S, P).
nn::Tensor phrases_tensor(const RollDataset& data, std::span<const std::int64_t> indices);

// Probabilities (T, S, P) of one phrase → a 0/1 roll (a note where p > 0.5).
std::vector<std::uint8_t> binarize(const nn::Tensor& phrase);

// --- as a gan-train model (rollgan_task.cpp) ----------------------------------------------------

// The model's configuration from gan-train's options (validate_rollgan_config'd).
RollGanConfig rollgan_config(const GanOptions& options);

// Statistics of 0/1 phrases (phrases × sample_size()), per track: the notes sounding per step
// (tracks values), then the share of empty bars (tracks values).
std::vector<double> roll_statistics(std::span<const std::uint8_t> rolls,
                                    const RollBarsParams& params);

// The table's entries (gan_models.cpp): each 4/4 piece with a part for every instrument of
// --ensemble cut into phrases (pieces in other meters are left out and counted); a generated
// piece is one phrase, its tracks named and programmed after the ensemble (--length unused).
std::unique_ptr<GanTask> make_rollgan_task(const GanOptions& options, const GanData& data,
                                           const RunDir& run);
std::vector<Piece> rollgan_generate(const GanWeights& weights, const GanGenerateOptions& options);
// rollgan_config's checks, for gan_train before it reads the data.
void check_rollgan_options(const GanOptions& options);

}  // namespace musegen
