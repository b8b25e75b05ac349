// example_gan_modes: trains examples/gan's GAN (the same toy_gan::train the command line runs)
// for a fixed number of steps with a fixed seed, then checks
//   - mode coverage: of 4000 samples, at least 7 of the 8 modes each get >= 5% within 3
//     stddev of their centre, and >= 80% of all samples lie within 3 stddev of some mode;
//   - the smoke test of issue 15: the discriminator does not stay at 100% (its mean accuracy
//     over the last 200 steps is below 90%), and the fakes' mean radius moves toward the
//     data's (its distance to the ring's radius shrinks to under half the initial one);
//   - a control: with the generator's optimizer step left out, the same checks on coverage
//     fail (so they can fail).
// With --loss wgan-gp (ctest example_gan_modes_wgan_gp) the same run with WGAN-GP (the
// example's defaults: gp_lambda, critic_steps) and the same checks, except the accuracy one
// (a critic's scores are not a classifier's: there is no 50% balance to reach).
// Exit status 0 when all hold; every number is printed either way.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <string>
#include <vector>

#include "toy_gan.hpp"

namespace {

int failures = 0;

void check(bool ok, const char* what) {
  std::printf("%s: %s\n", ok ? "ok  " : "FAIL", what);
  failures += !ok;
}

struct Run {
  toy_gan::Coverage coverage;
  std::vector<toy_gan::Progress> progress;
};

Run run(const toy_gan::Config& config, bool train_generator) {
  toy_gan::Gan gan = toy_gan::make_gan(config);
  nn::Generator gen(config.seed);
  Run r;
  toy_gan::train(
      gan, config, gen, [&](const toy_gan::Progress& p) { r.progress.push_back(p); },
      train_generator);
  nn::Generator eval_gen(config.seed + 3);
  r.coverage = toy_gan::coverage(config, gan.sample(config, 4000, eval_gen).to_vector<float>());
  return r;
}

bool covers(const toy_gan::Coverage& c) {
  return c.modes_covered(0.05) >= 7 && c.near_fraction >= 0.8;
}

void print(const char* label, const toy_gan::Coverage& c) {
  std::printf("%s: near a mode %.1f%%, mean radius %.2f, share per mode:", label,
              100.0 * c.near_fraction, c.mean_radius);
  for (double s : c.share) std::printf(" %.1f%%", 100.0 * s);
  std::printf("\n");
}

}  // namespace

int main(int argc, char** argv) {
  const auto start = std::chrono::steady_clock::now();
  toy_gan::Config config;  // the example's defaults: steps, seed, sizes
  if (argc == 3 && std::string(argv[1]) == "--loss") {
    config.loss = toy_gan::parse_loss(argv[2]);
  } else if (argc != 1) {
    std::fprintf(stderr, "usage: test_toy_gan [--loss nonsat|wgan-gp]\n");
    return 2;
  }
  std::printf("loss %s\n", toy_gan::loss_name(config.loss));

  const Run trained = run(config, /*train_generator=*/true);
  print("trained", trained.coverage);
  check(trained.coverage.modes_covered(0.05) >= 7,
        "at least 7 of 8 modes get >= 5% of the samples");
  check(trained.coverage.near_fraction >= 0.8,
        ">= 80% of the samples lie within 3 stddev of a mode");

  const auto& p = trained.progress;
  double last_acc = 0;
  const std::size_t tail = std::min<std::size_t>(200, p.size());
  for (std::size_t i = p.size() - tail; i < p.size(); ++i) last_acc += p[i].d_accuracy;
  last_acc /= static_cast<double>(tail);
  double max_acc = 0;
  for (const auto& q : p) max_acc = std::max(max_acc, q.d_accuracy);
  std::printf("discriminator accuracy: max %.1f%%, mean over the last %zu steps %.1f%%\n",
              100.0 * max_acc, tail, 100.0 * last_acc);
  if (config.loss == toy_gan::Loss::NonSaturating) {
    check(last_acc < 0.9,
          "the discriminator's accuracy leaves 100% (mean over the last 200 steps < 90%)");
  }
  const double r0 = std::abs(p.front().fake_mean_radius - config.radius);
  const double r1 = std::abs(trained.coverage.mean_radius - config.radius);
  std::printf("fakes' mean radius: step 1 %.2f, end %.2f, data %.2f\n", p.front().fake_mean_radius,
              trained.coverage.mean_radius, config.radius);
  check(r1 < 0.5 * r0, "the fakes' mean radius moves toward the data's (distance halves)");

  toy_gan::Config control = config;
  control.steps = 100;
  const Run frozen = run(control, /*train_generator=*/false);
  print("control (generator not stepped)", frozen.coverage);
  check(!covers(frozen.coverage),
        "control: without the generator's steps the coverage checks fail");

  std::printf("%.1f s\n",
              std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  return failures == 0 ? 0 : 1;
}
