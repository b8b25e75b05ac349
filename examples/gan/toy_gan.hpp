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
};

// One line of progress: what a caller sees every so often (and the test reads).
struct Progress {
  int step = 0;
  double d_loss = 0;            // gan_discriminator_loss on this step's batch
  double g_loss = 0;            // gan_generator_loss on this step's batch
  double d_accuracy = 0;        // fraction of the batch's real and fake points D classifies right
  double fake_mean_radius = 0;  // mean distance of this step's fakes from the origin
};

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
