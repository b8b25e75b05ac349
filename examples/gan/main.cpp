// gan: trains a small GAN with libnn on a 2-D mixture of 8 Gaussians on a ring and draws the
// real and generated samples (SVG) every --plot-every steps and at the end. The training
// loop, with the comments that explain it, is in toy_gan.cpp; this file is the command line.
//
// Reading the progress lines: d_loss is the discriminator's loss (2 log 2 = 1.386 when it
// cannot tell real from fake at all), g_loss the generator's (log 2 = 0.693 at that balance),
// d_acc the discriminator's accuracy on the batch: near 100% it wins, near 50% the two are in
// balance. "radius" is the fakes' mean distance from the origin (the data's is --radius).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <string>
#include <string_view>

#include "toy_gan.hpp"

namespace {

void print_help() {
  const toy_gan::Config d;
  std::printf(
      "usage: gan [options]\n"
      "Trains a GAN (two MLPs, two Adams) on 8 Gaussians on a ring.\n\n"
      "  --loss L         nonsat: the non-saturating GAN loss (default); wgan-gp: WGAN with\n"
      "                   gradient penalty (a critic, trained --critic-steps times per\n"
      "                   generator step on the Wasserstein loss + lambda * penalty)\n"
      "  --gp-lambda X    wgan-gp: the penalty's weight (default %g, what works on this toy\n"
      "                   in 2000 steps; the paper's value is 10: docs/libnn.md, \"WGAN-GP\")\n"
      "  --critic-steps N wgan-gp: critic steps per generator step (default %d, the paper's)\n"
      "  --steps N        training steps, each D step(s) then one G step (default %d)\n"
      "  --seed S         seed of every random draw: weights, data, noise (default %llu)\n"
      "  --out DIR        write DIR/samples_<step>.svg every --plot-every steps and\n"
      "                   DIR/samples_final.svg at the end (default: no pictures)\n"
      "  --plot-every N   steps between pictures (default 500)\n"
      "  --log-every N    steps between progress lines (default 100)\n"
      "  --help           this text\n",
      d.gp_lambda, d.critic_steps, d.steps, static_cast<unsigned long long>(d.seed));
}

bool parse_int(std::string_view text, long long& out) {
  const std::string s(text);
  char* end = nullptr;
  out = std::strtoll(s.c_str(), &end, 10);
  return !s.empty() && end == s.c_str() + s.size() && out >= 0;
}

}  // namespace

int main(int argc, char** argv) {
  toy_gan::Config config;
  std::string out_dir;
  long long plot_every = 500, log_every = 100;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      print_help();
      return 0;
    }
    if (i + 1 >= argc) {
      std::fprintf(stderr, "gan: %s needs a value (see --help)\n", argv[i]);
      return 2;
    }
    const std::string_view value = argv[++i];
    long long n = 0;
    bool ok = parse_int(value, n);
    if (arg == "--loss") {
      ok = value == "nonsat" || value == "wgan-gp";
      if (ok) config.loss = toy_gan::parse_loss(std::string(value));
    } else if (arg == "--gp-lambda") {
      const std::string s(value);
      char* end = nullptr;
      config.gp_lambda = std::strtod(s.c_str(), &end);
      ok = !s.empty() && end == s.c_str() + s.size() && config.gp_lambda >= 0;
    } else if (arg == "--critic-steps")
      ok = ok && (config.critic_steps = static_cast<int>(n)) > 0;
    else if (arg == "--steps")
      config.steps = static_cast<int>(n);
    else if (arg == "--seed")
      config.seed = static_cast<std::uint64_t>(n);
    else if (arg == "--plot-every")
      ok = ok && (plot_every = n) > 0;
    else if (arg == "--log-every")
      ok = ok && (log_every = n) > 0;
    else if (arg == "--out")
      ok = !(out_dir = std::string(value)).empty();
    else {
      std::fprintf(stderr, "gan: unknown option %s (see --help)\n", argv[i - 1]);
      return 2;
    }
    if (!ok) {
      std::fprintf(stderr, "gan: bad value '%s' for %s\n", argv[i], argv[i - 1]);
      return 2;
    }
  }

  try {
    if (!out_dir.empty()) std::filesystem::create_directories(out_dir);
    toy_gan::Gan gan = toy_gan::make_gan(config);
    nn::Generator gen(config.seed);
    nn::Generator plot_gen(config.seed +
                           1);  // pictures draw their own points: same run with or without --out
    const std::vector<float> real_plot =
        toy_gan::sample_real(config, 1000, plot_gen).to_vector<float>();
    auto picture = [&](const std::string& name, const std::string& title) {
      if (out_dir.empty()) return;
      nn::Generator g(config.seed + 2);  // the same noise in every picture
      const std::string path = out_dir + "/" + name;
      toy_gan::write_svg(path, config, real_plot, gan.sample(config, 1000, g).to_vector<float>(),
                         title);
      std::printf("wrote %s\n", path.c_str());
    };
    std::printf(
        "8 Gaussians on a ring of radius %.1f (stddev %.2f); G: %lld-d noise -> MLP -> 2-d, "
        "D: 2-d -> MLP -> %s; loss %s; %d steps, batch %lld, seed %llu\n",
        config.radius, config.stddev, static_cast<long long>(config.noise_dim),
        config.loss == toy_gan::Loss::WganGp ? "score" : "logit", toy_gan::loss_name(config.loss),
        config.steps, static_cast<long long>(config.batch_size),
        static_cast<unsigned long long>(config.seed));
    if (config.loss == toy_gan::Loss::WganGp) {
      std::printf("wgan-gp: lambda %g, %d critic steps per generator step\n", config.gp_lambda,
                  config.critic_steps);
    }
    picture("samples_0.svg", "step 0");
    const auto start = std::chrono::steady_clock::now();
    toy_gan::train(gan, config, gen, [&](const toy_gan::Progress& p) {
      if (p.step % log_every == 0 || p.step == 1) {
        std::printf("step %5d  d_loss %.3f  g_loss %.3f  d_acc %5.1f%%  radius %.2f", p.step,
                    p.d_loss, p.g_loss, 100.0 * p.d_accuracy, p.fake_mean_radius);
        if (config.loss == toy_gan::Loss::WganGp) std::printf("  gp %.3f", p.gradient_penalty);
        std::printf("\n");
        std::fflush(stdout);
      }
      if (p.step % plot_every == 0) {
        picture("samples_" + std::to_string(p.step) + ".svg", "step " + std::to_string(p.step));
      }
    });
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    nn::Generator eval_gen(config.seed + 3);
    const toy_gan::Coverage c =
        toy_gan::coverage(config, gan.sample(config, 4000, eval_gen).to_vector<float>());
    std::printf(
        "trained %d steps in %.1f s; of 4000 samples %.1f%% lie within 3 stddev of a mode; "
        "modes with >= 5%% of them: %d of %d; mean radius %.2f (data %.2f)\n",
        config.steps, seconds, 100.0 * c.near_fraction, c.modes_covered(0.05), config.modes,
        c.mean_radius, config.radius);
    picture("samples_final.svg", "after " + std::to_string(config.steps) + " steps");
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "gan: %s\n", e.what());
    return 1;
  }
}
