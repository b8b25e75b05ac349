#include "toy_gan.hpp"

#include <cmath>
#include <fstream>
#include <memory>
#include <numbers>
#include <stdexcept>

namespace toy_gan {

std::vector<float> mode_centres(const Config& config) {
  std::vector<float> centres;
  for (int k = 0; k < config.modes; ++k) {
    const double angle = 2.0 * std::numbers::pi * k / config.modes;
    centres.push_back(static_cast<float>(config.radius * std::cos(angle)));
    centres.push_back(static_cast<float>(config.radius * std::sin(angle)));
  }
  return centres;
}

nn::Tensor sample_real(const Config& config, std::int64_t B, nn::Generator& gen) {
  const std::vector<float> centres = mode_centres(config);
  const auto pick = nn::rand({B}, &gen).to_vector<float>();
  auto points = nn::randn({B, 2}, &gen).to_vector<float>();
  for (std::int64_t i = 0; i < B; ++i) {
    const int k = std::min(config.modes - 1,
                           static_cast<int>(pick[static_cast<std::size_t>(i)] * config.modes));
    for (int c = 0; c < 2; ++c) {
      float& p = points[static_cast<std::size_t>(2 * i + c)];
      p = centres[static_cast<std::size_t>(2 * k + c)] + static_cast<float>(config.stddev) * p;
    }
  }
  return nn::from_vector(points, {B, 2});
}

nn::Tensor Gan::sample(const Config& config, std::int64_t n, nn::Generator& gen) {
  nn::NoGradGuard no_grad;
  return generator->forward(nn::randn({n, config.noise_dim}, &gen));
}

Gan make_gan(const Config& config) {
  nn::manual_seed(config.seed);  // the layers' initialisations draw from the global generator
  const std::int64_t H = config.hidden;
  Gan gan;
  gan.generator = std::make_shared<nn::Sequential>(
      std::make_shared<nn::Linear>(config.noise_dim, H), std::make_shared<nn::ReLU>(),
      std::make_shared<nn::Linear>(H, H), std::make_shared<nn::ReLU>(),
      std::make_shared<nn::Linear>(H, 2));
  // LeakyReLU in the discriminator: its gradient with respect to its input -- which is what
  // the generator learns from -- is never exactly zero.
  gan.discriminator = std::make_shared<nn::Sequential>(
      std::make_shared<nn::Linear>(2, H), std::make_shared<nn::LeakyReLU>(0.2),
      std::make_shared<nn::Linear>(H, H), std::make_shared<nn::LeakyReLU>(0.2),
      std::make_shared<nn::Linear>(H, 1));
  return gan;
}

namespace {

// The fraction of real logits > 0 plus fake logits < 0, over both. 50% is a coin flip: the
// discriminator cannot tell; 100% means it tells every point apart, and then a saturating
// generator loss would give the generator nothing to learn from.
double accuracy(const nn::Tensor& real_logits, const nn::Tensor& fake_logits) {
  std::int64_t right = 0;
  for (float v : real_logits.to_vector<float>()) right += v > 0;
  for (float v : fake_logits.to_vector<float>()) right += v < 0;
  return static_cast<double>(right) /
         static_cast<double>(real_logits.numel() + fake_logits.numel());
}

double mean_radius(const nn::Tensor& points) {
  const auto xy = points.detach().to_vector<float>();
  double radius = 0;
  for (std::size_t i = 0; i + 1 < xy.size(); i += 2) radius += std::hypot(xy[i], xy[i + 1]);
  return radius / static_cast<double>(xy.size() / 2);
}

// The WGAN-GP loop (train() for Loss::WganGp).
void train_wgan_gp(Gan& gan, const Config& config, nn::Generator& gen,
                   const std::function<void(const Progress&)>& on_step, bool train_generator) {
  // The paper's Adam: beta2 = 0.9 (a critic whose loss moves fast); beta1 as configured.
  const nn::optim::AdamOptions options =
      nn::optim::AdamOptions(config.lr).betas(std::make_pair(config.beta1, 0.9));
  nn::optim::Adam d_optimizer(gan.discriminator->parameters(), options);
  nn::optim::Adam g_optimizer(gan.generator->parameters(), options);
  const std::int64_t B = config.batch_size;
  for (int step = 1; step <= config.steps; ++step) {
    Progress progress;
    progress.step = step;
    // 1. critic_steps critic steps, each on a fresh batch: maximise mean D(real) - mean D(fake)
    // while keeping ||grad D|| near 1 between the two (the penalty, which stands in for the
    // 1-Lipschitz constraint the Wasserstein distance needs).
    for (int k = 0; k < config.critic_steps; ++k) {
      const nn::Tensor real = sample_real(config, B, gen);
      nn::Tensor fake;
      {
        nn::NoGradGuard no_grad;  // the critic's step needs no graph through the generator
        fake = gan.generator->forward(nn::randn({B, config.noise_dim}, &gen));
      }
      const nn::Tensor real_scores = gan.discriminator->forward(real);
      const nn::Tensor fake_scores = gan.discriminator->forward(fake);
      const nn::Tensor penalty = gradient_penalty(*gan.discriminator, real, fake, gen);
      const nn::Tensor d_loss =
          nn::wasserstein_critic_loss(real_scores, fake_scores) + penalty * config.gp_lambda;
      d_optimizer.zero_grad();
      d_loss.backward();  // through the penalty's recorded backward: a double backward
      d_optimizer.step();
      progress.d_loss = d_loss.item<float>();
      progress.gradient_penalty = penalty.item<float>();
      // Scores are unbounded: "right" is a real score above, a fake one below, the midpoint
      // of the two means.
      const double mid =
          0.5 * (nn::mean(real_scores).item<float>() + nn::mean(fake_scores).item<float>());
      progress.d_accuracy = accuracy(real_scores.detach() - mid, fake_scores.detach() - mid);
    }
    // 2. The generator's step: raise the critic's scores of its fakes.
    const nn::Tensor fake = gan.generator->forward(nn::randn({B, config.noise_dim}, &gen));
    const nn::Tensor g_loss = nn::wasserstein_generator_loss(gan.discriminator->forward(fake));
    g_optimizer.zero_grad();
    g_loss.backward();
    if (train_generator) g_optimizer.step();
    progress.g_loss = g_loss.item<float>();
    progress.fake_mean_radius = mean_radius(fake);
    if (on_step) on_step(progress);
  }
}

}  // namespace

Loss parse_loss(const std::string& name) {
  if (name == "nonsat") return Loss::NonSaturating;
  if (name == "wgan-gp") return Loss::WganGp;
  throw std::invalid_argument("unknown loss '" + name + "' (expected nonsat or wgan-gp)");
}

const char* loss_name(Loss loss) { return loss == Loss::WganGp ? "wgan-gp" : "nonsat"; }

nn::Tensor gradient_penalty(nn::Sequential& critic, const nn::Tensor& real, const nn::Tensor& fake,
                            nn::Generator& gen) {
  const std::int64_t B = real.size(0);
  const nn::Tensor eps = nn::rand({B, 1}, &gen);
  // x_hat: a leaf of its own (real and fake carry no history), so the gradient below is
  // the critic's input gradient only.
  nn::Tensor x_hat = eps * real + (1.0 - eps) * fake;
  x_hat.set_requires_grad(true);
  // create_graph: the gradient keeps its history, so the penalty built from it can be
  // differentiated with respect to the critic's parameters.
  const nn::Tensor g =
      nn::grad({nn::sum(critic.forward(x_hat))}, {x_hat}, {}, /*create_graph=*/true)[0];
  // ||g|| per sample; the 1e-12 keeps sqrt's derivative finite at a zero gradient.
  const nn::Tensor norm = nn::sqrt(nn::sum(g * g, {1}) + 1e-12);
  return nn::mean(nn::pow(norm - 1.0, 2.0));
}

void train(Gan& gan, const Config& config, nn::Generator& gen,
           const std::function<void(const Progress&)>& on_step, bool train_generator) {
  if (config.loss == Loss::WganGp) {
    train_wgan_gp(gan, config, gen, on_step, train_generator);
    return;
  }
  const nn::optim::AdamOptions options =
      nn::optim::AdamOptions(config.lr).betas(std::make_pair(config.beta1, 0.999));
  // Two players, two optimizers: each steps only its own parameters.
  nn::optim::Adam d_optimizer(gan.discriminator->parameters(), options);
  nn::optim::Adam g_optimizer(gan.generator->parameters(), options);
  const std::int64_t B = config.batch_size;

  for (int step = 1; step <= config.steps; ++step) {
    Progress progress;
    progress.step = step;
    const nn::Tensor real = sample_real(config, B, gen);  // (B,2)
    const nn::Tensor fake =
        gan.generator->forward(nn::randn({B, config.noise_dim}, &gen));  // (B,2)

    // 1. The discriminator's step: real points should get logits > 0, fakes < 0.
    // fake.detach() cuts the graph at the fakes: this loss's backward then stops there instead
    // of running on into the generator (whose gradients this step would only have to discard;
    // with the generator's optimizer zeroing them later it would be wasted work, and with
    // accumulation it would be a bug).
    const nn::Tensor real_logits = gan.discriminator->forward(real);           // (B,1)
    const nn::Tensor fake_logits = gan.discriminator->forward(fake.detach());  // (B,1)
    const nn::Tensor d_loss = nn::gan_discriminator_loss(real_logits, fake_logits);
    d_optimizer.zero_grad();
    d_loss.backward();
    d_optimizer.step();
    progress.d_loss = d_loss.item<float>();
    progress.d_accuracy = accuracy(real_logits, fake_logits);

    // 2. The generator's step: it wants the (just updated) discriminator to call its fakes real.
    // The non-saturating loss -log D(G(z)) rather than the minimax log(1 - D(G(z))): early on
    // D rejects the fakes with confidence, D(G(z)) ~ 0, where log(1 - D) is flat and the
    // generator would learn nothing; -log D is steep there. The backward runs through the
    // discriminator into the generator; only g_optimizer steps, so D is not changed here
    // (its gradients are zeroed by d_optimizer.zero_grad() before its next step).
    const nn::Tensor g_loss = nn::gan_generator_loss(gan.discriminator->forward(fake));
    g_optimizer.zero_grad();
    g_loss.backward();
    if (train_generator) g_optimizer.step();
    progress.g_loss = g_loss.item<float>();

    const auto xy = fake.detach().to_vector<float>();
    double radius = 0;
    for (std::size_t i = 0; i + 1 < xy.size(); i += 2) radius += std::hypot(xy[i], xy[i + 1]);
    progress.fake_mean_radius = radius / static_cast<double>(B);
    if (on_step) on_step(progress);
  }
}

int Coverage::modes_covered(double min_share) const {
  int n = 0;
  for (double s : share) n += s >= min_share;
  return n;
}

Coverage coverage(const Config& config, const std::vector<float>& points) {
  const std::vector<float> centres = mode_centres(config);
  const double near = 3.0 * config.stddev;
  Coverage result;
  result.share.assign(static_cast<std::size_t>(config.modes), 0.0);
  const std::size_t n = points.size() / 2;
  std::size_t near_any = 0;
  double radius = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double x = points[2 * i], y = points[2 * i + 1];
    radius += std::hypot(x, y);
    for (int k = 0; k < config.modes; ++k) {
      const auto kk = static_cast<std::size_t>(k);
      if (std::hypot(x - centres[2 * kk], y - centres[2 * kk + 1]) <= near) {
        result.share[kk] += 1.0;
        ++near_any;  // the modes are far apart: a point is near at most one
      }
    }
  }
  for (double& s : result.share) s /= static_cast<double>(n);
  result.near_fraction = static_cast<double>(near_any) / static_cast<double>(n);
  result.mean_radius = radius / static_cast<double>(n);
  return result;
}

void write_svg(const std::string& path, const Config& config, const std::vector<float>& real,
               const std::vector<float>& fake, const std::string& title) {
  std::ofstream out(path);
  if (!out) throw std::runtime_error("cannot write " + path);
  const double size = 480, extent = config.radius * 1.6;  // the picture shows [-extent, extent]^2
  auto px = [&](double v) { return (v + extent) / (2 * extent) * size; };
  auto py = [&](double v) { return (extent - v) / (2 * extent) * size; };
  out << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << size << "\" height=\"" << size + 24
      << "\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
      << "<text x=\"8\" y=\"" << size + 17 << "\" font-family=\"sans-serif\" font-size=\"13\">"
      << title << " (grey: data, red: generated)</text>\n";
  auto dots = [&](const std::vector<float>& pts, const char* colour) {
    for (std::size_t i = 0; i + 1 < pts.size(); i += 2) {
      out << "<circle cx=\"" << px(pts[i]) << "\" cy=\"" << py(pts[i + 1]) << "\" r=\"1.5\" fill=\""
          << colour << "\" fill-opacity=\"0.5\"/>\n";
    }
  };
  dots(real, "#888888");
  dots(fake, "#d62728");
  const std::vector<float> centres = mode_centres(config);
  for (std::size_t k = 0; k + 1 < centres.size(); k += 2) {
    out << "<circle cx=\"" << px(centres[k]) << "\" cy=\"" << py(centres[k + 1]) << "\" r=\""
        << 3 * config.stddev / (2 * extent) * size << "\" fill=\"none\" stroke=\"black\"/>\n";
  }
  out << "</svg>\n";
}

}  // namespace toy_gan
