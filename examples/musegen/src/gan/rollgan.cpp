// rollgan's networks, gradient penalty and training step (rollgan.hpp says what they are).
#include "rollgan.hpp"

#include <cmath>
#include <libnn/autograd.hpp>
#include <libnn/ops.hpp>
#include <libnn/optim/adam.hpp>
#include <stdexcept>

namespace musegen {

namespace {

void check(const char* what, std::int64_t value, std::int64_t lo, std::int64_t hi) {
  if (value < lo || value > hi)
    throw std::invalid_argument(std::string("rollgan: ") + what + ": expected " +
                                std::to_string(lo) + ".." + std::to_string(hi) + ", found " +
                                std::to_string(value));
}

// BatchNorm1d over each channel's values: (B, C, H, W) → (B, C, H·W) → back.
nn::Tensor norm_relu(nn::BatchNorm1d& bn, const nn::Tensor& x) {
  const nn::Shape shape = x.shape();
  return nn::relu(bn.forward(x.reshape({shape[0], shape[1], shape[2] * shape[3]}))).reshape(shape);
}

}  // namespace

void validate_rollgan_config(const RollGanConfig& c) {
  validate_roll_params(c.data);
  if (c.data.steps() % 8 != 0)
    throw std::invalid_argument("rollgan: steps per phrase (" + std::to_string(c.data.steps()) +
                                ") must be a multiple of 8 (three stride-2 layers)");
  if (c.data.pitches % 8 != 0)
    throw std::invalid_argument("rollgan: pitches (" + std::to_string(c.data.pitches) +
                                ") must be a multiple of 8 (three stride-2 layers)");
  check("shared noise", c.shared_noise, 1, kRollGanMaxNoise);
  check("private noise", c.private_noise, 0, kRollGanMaxNoise);
  check("generator channels", c.g_channels, 4, kRollGanMaxChannels);
  check("critic channels", c.d_channels, 4, kRollGanMaxChannels);
  if (c.g_channels % 4 != 0 || c.d_channels % 4 != 0)
    throw std::invalid_argument("rollgan: channels must be multiples of 4, found " +
                                std::to_string(c.g_channels) + " and " +
                                std::to_string(c.d_channels));
  check("critic updates per generator update", c.n_critic, 1, kRollGanMaxCritic);
  if (!(c.gp_weight >= 0 && c.gp_weight <= 1e4))
    throw std::invalid_argument("rollgan: gradient penalty weight: expected 0..10000, found " +
                                std::to_string(c.gp_weight));
}

RollTrackGenerator::RollTrackGenerator(const RollGanConfig& c, nn::Generator* init)
    : channels(c.g_channels), steps(c.data.steps()), pitches(c.data.pitches) {
  const std::int64_t cells = (steps / 8) * (pitches / 8);
  project = register_module(
      "project",
      std::make_shared<nn::Linear>(
          nn::LinearOptions(c.shared_noise + c.private_noise, channels * cells).generator(init)));
  bn0 = register_module("bn0", std::make_shared<nn::BatchNorm1d>(channels));
  const auto up = [&](std::int64_t in, std::int64_t out) {
    return std::make_shared<nn::ConvTranspose2d>(
        nn::ConvTranspose2dOptions(in, out, 4).stride(2).padding(1).generator(init));
  };
  up1 = register_module("up1", up(channels, channels / 2));
  bn1 = register_module("bn1", std::make_shared<nn::BatchNorm1d>(channels / 2));
  up2 = register_module("up2", up(channels / 2, channels / 4));
  bn2 = register_module("bn2", std::make_shared<nn::BatchNorm1d>(channels / 4));
  up3 = register_module("up3", up(channels / 4, 1));
}

nn::Tensor RollTrackGenerator::forward(const nn::Tensor& noise) {
  // noise is (B, Zs+Zp)
  const std::int64_t b = noise.size(0);
  nn::Tensor h = project->forward(noise).reshape({b, channels, steps / 8, pitches / 8});
  h = norm_relu(*bn0, h);
  h = norm_relu(*bn1, up1->forward(h));  // (B, C/2, S/4, P/4)
  h = norm_relu(*bn2, up2->forward(h));  // (B, C/4, S/2, P/2)
  return nn::sigmoid(up3->forward(h)).reshape({b, steps, pitches});
}

RollGenerator::RollGenerator(const RollGanConfig& c, nn::Generator* init) {
  for (int t = 0; t < c.data.tracks(); ++t)
    tracks.push_back(register_module("track" + std::to_string(t),
                                     std::make_shared<RollTrackGenerator>(c, init)));
}

nn::Tensor RollGenerator::forward(const nn::Tensor& shared, const nn::Tensor& private_noise) {
  // shared (B, Zs), private_noise (B, T, Zp)
  const std::int64_t b = shared.size(0), zp = private_noise.size(2);
  std::vector<nn::Tensor> outs;
  for (std::size_t t = 0; t < tracks.size(); ++t) {
    const auto k = static_cast<std::int64_t>(t);
    nn::Tensor noise =
        zp == 0 ? shared : nn::cat({shared, private_noise.slice(1, k, k + 1).reshape({b, zp})}, 1);
    outs.push_back(tracks[t]->forward(noise));
  }
  return nn::stack(outs, 1);  // (B, T, S, P)
}

RollCritic::RollCritic(const RollGanConfig& c, nn::Generator* init) {
  const std::int64_t ch = c.d_channels;
  const auto conv = [&](std::int64_t in, std::int64_t out) {
    return std::make_shared<nn::Conv2d>(
        nn::Conv2dOptions(in, out, 4).stride(2).padding(1).generator(init));
  };
  conv1 = register_module("conv1", conv(c.data.tracks(), ch / 4));
  conv2 = register_module("conv2", conv(ch / 4, ch / 2));
  conv3 = register_module("conv3", conv(ch / 2, ch));
  score = register_module(
      "score",
      std::make_shared<nn::Linear>(
          nn::LinearOptions(ch * (c.data.steps() / 8) * (c.data.pitches / 8), 1).generator(init)));
}

namespace {

// LeakyReLU(0.2)'s slope at each value of `pre`: 1 where it is positive, else 0.2 (PyTorch's
// choice at 0 too).
nn::Tensor slopes_of(const nn::Tensor& pre) {
  std::vector<float> v = pre.to_vector<float>();
  for (float& x : v) x = x > 0 ? 1.0f : 0.2f;
  return nn::from_vector(v, pre.shape(), pre.options());
}

}  // namespace

nn::Tensor RollCritic::forward(const nn::Tensor& x, CriticSlopes* slopes) const {
  // x (B, T, S, P)
  const std::int64_t b = x.size(0);
  nn::Tensor pre = conv1->forward(x);
  if (slopes) slopes->s1 = slopes_of(pre);
  nn::Tensor h = nn::leaky_relu(pre, 0.2);
  pre = conv2->forward(h);
  if (slopes) slopes->s2 = slopes_of(pre);
  h = nn::leaky_relu(pre, 0.2);
  pre = conv3->forward(h);
  if (slopes) slopes->s3 = slopes_of(pre);
  h = nn::leaky_relu(pre, 0.2);
  return score->forward(h.reshape({b, -1})).reshape({b});
}

nn::Tensor RollCritic::directional(const nn::Tensor& v, const CriticSlopes& s) const {
  // v (B, T, S, P): forward's layers without biases, each LeakyReLU its slopes at the point
  const std::int64_t b = v.size(0);
  const auto conv = [](const nn::Conv2d& c, const nn::Tensor& x) {
    return nn::conv2d(x, c.weight, nn::Tensor(), c.options.stride(), c.options.padding());
  };
  nn::Tensor h = conv(*conv1, v) * s.s1;
  h = conv(*conv2, h) * s.s2;
  h = conv(*conv3, h) * s.s3;
  return nn::linear(h.reshape({b, -1}), score->weight).reshape({b});
}

GradientPenalty gradient_penalty(RollCritic& critic, const nn::Tensor& x_hat, double weight,
                                 PenaltyMethod method) {
  const std::int64_t b = x_hat.size(0), n = x_hat.numel() / b;
  if (method == PenaltyMethod::double_backward) {
    // PyTorch's way: g with history (create_graph), then the penalty as ops on it.
    nn::Tensor x = x_hat.detach().clone();
    x.set_requires_grad(true);
    const nn::Tensor g = nn::grad({nn::sum(critic.forward(x))}, {x}, {}, /*create_graph=*/true)[0];
    const nn::Tensor flat = g.reshape({b, n});
    // The tiny constant keeps sqrt's derivative finite for a zero gradient (a dead critic).
    const nn::Tensor norm = nn::sqrt(nn::sum(flat * flat, {1}) + 1e-12);
    GradientPenalty result;
    result.loss = nn::mean(nn::pow(norm - 1.0, 2.0)) * weight;
    result.value = result.loss.item<float>();
    result.mean_norm = nn::mean(norm).item<float>();
    return result;
  }
  // frozen_slopes. g = ∇x D(x̂), one ordinary backward (which also fills the weights' .grad:
  // cleared below).
  nn::Tensor x = x_hat.detach().clone();
  x.set_requires_grad(true);
  CriticSlopes slopes;
  critic.forward(x, &slopes).sum().backward();
  const std::vector<float> g = x.grad().to_vector<float>();
  critic.zero_grad();
  std::vector<float> u(g.size()), coef(static_cast<std::size_t>(b));
  GradientPenalty result;
  for (std::int64_t i = 0; i < b; ++i) {
    double sq = 0;
    for (std::int64_t j = 0; j < n; ++j) sq += double(g[i * n + j]) * g[i * n + j];
    const double norm = std::sqrt(sq);
    result.value += (norm - 1) * (norm - 1);
    result.mean_norm += norm;
    // d/dθ λ/B (‖g‖−1)² = λ/B · 2(‖g‖−1) · ∂(u·g)/∂θ with u = g/‖g‖ held.
    coef[static_cast<std::size_t>(i)] = static_cast<float>(weight / b * 2 * (norm - 1));
    for (std::int64_t j = 0; j < n; ++j)
      u[i * n + j] = norm > 0 ? static_cast<float>(g[i * n + j] / norm) : 0.0f;
  }
  result.value *= weight / b;
  result.mean_norm /= b;
  const nn::Tensor along =
      critic.directional(nn::from_vector(u, x_hat.shape(), x_hat.options()), slopes);
  result.loss = nn::sum(along * nn::from_vector(coef, {b}, x_hat.options()));
  return result;
}

nn::Tensor interpolate(const nn::Tensor& real, const nn::Tensor& fake, nn::Generator& gen) {
  const nn::Tensor alpha = nn::rand({real.size(0), 1, 1, 1}, &gen, real.options());
  return (alpha * real + (1.0 - alpha) * fake).detach();
}

RollGan::RollGan(const RollGanConfig& c, std::uint64_t seed) : config(c), gen(seed) {
  validate_rollgan_config(c);
  nn::Generator init(seed + 1);
  generator = std::make_shared<RollGenerator>(c, &init);
  critic = std::make_shared<RollCritic>(c, &init);
  opt_g = std::make_unique<nn::optim::Adam>(generator->parameters(),
                                            nn::optim::AdamOptions().lr(c.lr_g).betas({0.5, 0.9}));
  opt_d = std::make_unique<nn::optim::Adam>(critic->parameters(),
                                            nn::optim::AdamOptions().lr(c.lr_d).betas({0.5, 0.9}));
}

std::pair<nn::Tensor, nn::Tensor> RollGan::noise(std::int64_t count, nn::Generator& g) const {
  nn::Tensor shared = nn::randn({count, config.shared_noise}, &g);
  nn::Tensor own = nn::randn({count, config.data.tracks(), config.private_noise}, &g);
  return {shared, own};
}

RollGanStep RollGan::train_step(const std::vector<nn::Tensor>& real_batches) {
  if (real_batches.empty()) throw std::invalid_argument("rollgan: a training step needs a batch");
  generator->train();
  critic->train();
  RollGanStep report;
  for (std::int64_t i = 0; i < config.n_critic; ++i) {
    const nn::Tensor& real = real_batches[static_cast<std::size_t>(i) % real_batches.size()];
    const std::int64_t b = real.size(0);
    const auto [shared_host, own_host] = noise(b, gen);
    const nn::Tensor shared = shared_host.to(real.device()), own = own_host.to(real.device());
    nn::Tensor fake;
    {
      nn::NoGradGuard no_grad;
      fake = generator->forward(shared, own);
    }
    const GradientPenalty gp =
        gradient_penalty(*critic, interpolate(real, fake, gen), config.gp_weight, penalty_method);
    const nn::Tensor d_real = critic->forward(real), d_fake = critic->forward(fake);
    const nn::Tensor w_loss = nn::wasserstein_critic_loss(d_real, d_fake);
    opt_d->zero_grad();
    (w_loss + gp.loss).backward();
    opt_d->step();
    report.wasserstein = -w_loss.item<float>();
    report.penalty = gp.value;
    report.grad_norm = gp.mean_norm;
    report.critic_loss = w_loss.item<float>() + gp.value;
  }
  const std::int64_t b = real_batches[0].size(0);
  const nn::Device device = real_batches[0].device();
  const auto [shared_host, own_host] = noise(b, gen);
  const nn::Tensor shared = shared_host.to(device), own = own_host.to(device);
  const nn::Tensor g_loss =
      nn::wasserstein_generator_loss(critic->forward(generator->forward(shared, own)));
  opt_g->zero_grad();
  g_loss.backward();
  opt_g->step();
  critic->zero_grad();
  report.generator_loss = g_loss.item<float>();
  return report;
}

nn::Tensor RollGan::sample(std::int64_t count, nn::Generator& g) {
  nn::NoGradGuard no_grad;
  generator->eval();
  const nn::Device device = generator->parameters().front().device();
  const auto [shared, own] = noise(count, g);
  nn::Tensor out = generator->forward(shared.to(device), own.to(device));
  generator->train();
  return out;
}

nn::Tensor phrases_tensor(const RollDataset& data, std::span<const std::int64_t> indices) {
  const RollBarsParams& p = data.params;
  const auto size = static_cast<std::size_t>(p.sample_size());
  std::vector<float> values(indices.size() * size);
  for (std::size_t i = 0; i < indices.size(); ++i) {
    const auto phrase = data.phrase(indices[i]);
    for (std::size_t j = 0; j < size; ++j) values[i * size + j] = phrase[j];
  }
  return nn::from_vector(
      values, {static_cast<std::int64_t>(indices.size()), p.tracks(), p.steps(), p.pitches});
}

std::vector<std::uint8_t> binarize(const nn::Tensor& phrase) {
  const std::vector<float> p = phrase.to_vector<float>();
  std::vector<std::uint8_t> roll(p.size());
  for (std::size_t i = 0; i < p.size(); ++i) roll[i] = p[i] > 0.5f;
  return roll;
}

}  // namespace musegen
