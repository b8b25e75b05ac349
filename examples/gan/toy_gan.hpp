// toy_gan: a GAN on libnn, small enough to read in one sitting. The data are 2-D points from
// a mixture of 8 Gaussians on a ring (the classic toy: each Gaussian is a "mode", and a GAN
// that only learns some of them has "collapsed"). The generator is an MLP from noise to the
// plane, the discriminator an MLP from the plane to one logit ("real or fake?").
//
// main.cpp runs it from the command line; tests in test_toy_gan.cpp run the same train()
// and check that the samples cover the modes.
#pragma once

#include <cstdint>
#include <functional>
#include <libnn/libnn.hpp>
#include <memory>
#include <string>
#include <vector>

namespace toy_gan {

// Which game the two players play (--loss).
enum class Loss {
  // Goodfellow et al.'s GAN with the non-saturating generator loss: D outputs a logit,
  // gan_discriminator_loss / gan_generator_loss.
  NonSaturating,
  // WGAN-GP (Gulrajani et al. 2017): D is a critic giving an unbounded score, trained on
  // wasserstein_critic_loss + gp_lambda * the gradient penalty, critic_steps times per
  // generator step; the generator minimises wasserstein_generator_loss.
  WganGp,
};

struct Config {
  int steps = 2000;
  std::uint64_t seed = 1;
  std::int64_t batch_size = 256;
  std::int64_t noise_dim = 8;
  std::int64_t hidden = 128;
  double lr = 1e-3;    // both Adams
  double beta1 = 0.5;  // Adam's first beta; 0.5 (DCGAN's choice) damps the two players' oscillation
  int modes = 8;       // Gaussians on the ring
  double radius = 2.0;  // of the ring
  double stddev = 0.1;  // of each Gaussian
  Loss loss = Loss::NonSaturating;
  // WGAN-GP only. The penalty's weight: the paper's 10 is the value for its image models;
  // on this toy, at this learning rate and within the test's 2,000 steps, 10 leaves the
  // generator oscillating around the ring (1 of 8 modes at the end), 0.1 covers the modes but
  // loosely, 1 covers them tightly (docs/libnn.md, "WGAN-GP": the measurements).
  double gp_lambda = 1.0;
  int critic_steps = 5;  // critic steps per generator step (the paper's n_critic)
};

// One line of progress: what a caller sees every so often (and the test reads).
struct Progress {
  int step = 0;
  double d_loss = 0;            // gan_discriminator_loss on this step's batch
  double g_loss = 0;            // gan_generator_loss on this step's batch
  double d_accuracy = 0;        // fraction of the batch's real and fake points D classifies right
  double fake_mean_radius = 0;  // mean distance of this step's fakes from the origin
  double gradient_penalty = 0;  // WGAN-GP: the last critic step's penalty (before lambda)
};

// "nonsat" or "wgan-gp" (the --loss values) and back; throws std::invalid_argument for
// anything else.
Loss parse_loss(const std::string& name);
const char* loss_name(Loss loss);

// WGAN-GP's gradient penalty: the mean over the batch of (||d critic(x_hat) / d x_hat|| - 1)^2
// at x_hat = eps real + (1 - eps) fake, eps ~ U(0,1) per sample (drawn from gen). Computed
// with nn::grad(create_graph = true), so it can be differentiated with respect to the
// critic's parameters. real, fake (B,2) without history.
nn::Tensor gradient_penalty(nn::Sequential& critic, const nn::Tensor& real, const nn::Tensor& fake,
                            nn::Generator& gen);

// The mode centres on the ring: (modes,2) as (x0,y0,x1,y1,...).
std::vector<float> mode_centres(const Config& config);

// B real points (B,2), drawn on the CPU from `gen`.
nn::Tensor sample_real(const Config& config, std::int64_t B, nn::Generator& gen);

struct Gan {
  std::shared_ptr<nn::Sequential> generator;      // z (B,noise_dim) -> x (B,2)
  std::shared_ptr<nn::Sequential> discriminator;  // x (B,2) -> logit (B,1)
  // n fake points (n,2) from fresh noise, without history.
  nn::Tensor sample(const Config& config, std::int64_t n, nn::Generator& gen);
};

Gan make_gan(const Config& config);

// Trains `gan` for config.steps alternating steps (one discriminator step, then one generator
// step). Calls `on_step` after every step. Deterministic for a given config.seed.
// `train_generator = false` leaves the generator as initialised (the test's control run).
void train(Gan& gan, const Config& config, nn::Generator& gen,
           const std::function<void(const Progress&)>& on_step, bool train_generator = true);

// How the samples cover the modes.
struct Coverage {
  std::vector<double> share;  // per mode: the fraction of samples within 3 stddev of its centre
  double near_fraction = 0;   // the fraction of samples within 3 stddev of some centre
  double mean_radius = 0;     // mean distance of the samples from the origin
  int modes_covered(double min_share) const;
};
Coverage coverage(const Config& config, const std::vector<float>& points);

// An SVG picture of real (grey) and generated (red) points, with the mode centres.
void write_svg(const std::string& path, const Config& config, const std::vector<float>& real,
               const std::vector<float>& fake, const std::string& title);

}  // namespace toy_gan
