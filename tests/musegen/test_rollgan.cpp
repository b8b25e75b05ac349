// rollgan (gan/rollgan.hpp): the networks' shapes, the gradient penalty's value and weight
// gradients against PyTorch's torch.autograd.grad(create_graph=True) (rollgan_torch_check.py),
// and a short training run on a tiny synthetic set: the critic's Wasserstein estimate falls
// from its peak and the samples move toward the data's statistics.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <libnn/ops.hpp>
#include <nlohmann/json.hpp>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "rollgan.hpp"
#include "test_support.hpp"

namespace musegen {
namespace {

RollGanConfig tiny_config() {
  RollGanConfig c;
  c.data.ensemble = parse_ensemble("violin,cello");
  c.data.bars = 1;  // 16 steps
  c.data.pitches = 16;
  c.shared_noise = 8;
  c.private_noise = 4;
  c.g_channels = 16;
  c.d_channels = 16;
  return c;
}

TEST(RollGan, ShapesAndRanges) {
  RollGanConfig c = tiny_config();
  RollGan gan(c, 7);
  nn::Generator g(3);
  const nn::Tensor x = gan.sample(5, g);
  ASSERT_EQ(x.shape(), (nn::Shape{5, 2, 16, 16}));
  const std::vector<float> v = x.to_vector<float>();
  EXPECT_TRUE(std::all_of(v.begin(), v.end(), [](float p) { return p > 0 && p < 1; }));
  EXPECT_EQ(gan.critic->forward(x).shape(), (nn::Shape{5}));
  // Each track has a generator of its own: the tracks differ.
  EXPECT_NE(x.slice(1, 0, 1).to_vector<float>(), x.slice(1, 1, 2).to_vector<float>());
  // The shared noise reaches every track, the private noise only its own.
  auto [shared, own] = gan.noise(4, g);
  gan.generator->eval();
  const nn::Tensor base = gan.generator->forward(shared, own);
  std::vector<float> own_values = own.to_vector<float>();
  for (int j = 0; j < 4; ++j) own_values[static_cast<std::size_t>(j)] += 1.0f;  // sample 0, track 0
  const nn::Tensor moved = gan.generator->forward(shared, nn::from_vector(own_values, own.shape()));
  EXPECT_NE(base.slice(1, 0, 1).to_vector<float>(), moved.slice(1, 0, 1).to_vector<float>());
  EXPECT_EQ(base.slice(1, 1, 2).to_vector<float>(), moved.slice(1, 1, 2).to_vector<float>());

  RollGanConfig bad = c;
  bad.data.pitches = 12;
  EXPECT_THROW(validate_rollgan_config(bad), std::invalid_argument);
  bad = c;
  bad.n_critic = 0;
  EXPECT_THROW(validate_rollgan_config(bad), std::invalid_argument);
  bad = c;
  bad.g_channels = 6;
  EXPECT_THROW(validate_rollgan_config(bad), std::invalid_argument);
}

nlohmann::json tensor_json(const nn::Tensor& t) {
  return {{"shape", t.shape()}, {"values", t.to_vector<float>()}};
}

// The penalty at fixed weights and points against PyTorch, by both methods: its value and the
// gradient its loss gives every critic weight (to float32 rounding: 1e-4 of the
// largest entry; the biases' is zero, as in PyTorch).
TEST(RollGan, GradientPenaltyMatchesTorch) {
  if (!test::python_has("torch")) GTEST_SKIP() << "/usr/bin/python3 cannot import torch";
  RollGanConfig c = tiny_config();
  RollGan gan(c, 11);
  nn::Generator g(5);
  const nn::Tensor x = nn::rand({3, 2, 16, 16}, &g);
  nlohmann::json spec;
  spec["weight"] = 10.0;
  spec["x"] = tensor_json(x);
  for (const auto& [name, t] : gan.critic->named_parameters())
    spec["params"][name] = tensor_json(t);
  const auto dir = test::fresh_temp_dir("rollgan_gp");
  std::ofstream(dir / "in.json") << spec.dump();
  std::string out;
  ASSERT_TRUE(test::run_capture("/usr/bin/python3 " MUSEGEN_TEST_DIR "/rollgan_torch_check.py '" +
                                    (dir / "in.json").string() + "' '" +
                                    (dir / "out.json").string() + "'",
                                out));
  const nlohmann::json torch = nlohmann::json::parse(std::ifstream(dir / "out.json"));

  const std::vector<float> scores = gan.critic->forward(x).to_vector<float>();
  for (std::size_t i = 0; i < scores.size(); ++i)
    EXPECT_NEAR(scores[i], torch["scores"][i].get<double>(), 1e-5);

  for (const PenaltyMethod method :
       {PenaltyMethod::double_backward, PenaltyMethod::frozen_slopes}) {
    SCOPED_TRACE(method == PenaltyMethod::double_backward ? "double backward" : "frozen slopes");
    const GradientPenalty gp = gradient_penalty(*gan.critic, x, 10.0, method);
    const double value = torch["value"].get<double>();
    EXPECT_NEAR(gp.value, value, 1e-4 * std::max(1.0, std::abs(value)));
    EXPECT_NEAR(gp.mean_norm, torch["mean_norm"].get<double>(), 1e-5);
    gan.critic->zero_grad();
    gp.loss.backward();
    for (const auto& [name, t] : gan.critic->named_parameters()) {
      SCOPED_TRACE(name);
      // A weight the penalty's graph does not reach (the biases) has no gradient: zero.
      const std::vector<float> ours =
          t.grad().defined() ? t.grad().to_vector<float>()
                             : std::vector<float>(static_cast<std::size_t>(t.numel()), 0.0f);
      const std::vector<double> want = torch["grads"][name].get<std::vector<double>>();
      ASSERT_EQ(ours.size(), want.size());
      double scale = 0, worst = 0;
      for (double w : want) scale = std::max(scale, std::abs(w));
      for (std::size_t i = 0; i < ours.size(); ++i)
        worst = std::max(worst, std::abs(ours[i] - want[i]));
      if (name.find("bias") == std::string::npos) {
        EXPECT_GT(scale, 0);
      }
      EXPECT_LE(worst, 1e-4 * std::max(scale, 1e-3)) << "largest |torch grad| " << scale;
    }
  }
}

// A tiny synthetic set: two tracks, each holding one of a few chords' notes for a whole bar
// (1/16 of the cells sound). Over 1000 steps (about 10 s) the critic's Wasserstein estimate falls
// from its peak, and the samples' statistics move toward the data's.
TEST(RollGan, TrainingMovesTowardTheData) {
  RollGanConfig c = tiny_config();
  c.n_critic = 2;
  RollDataset data;
  data.params = c.data;
  std::mt19937 rng(1);
  const auto size = static_cast<std::size_t>(c.data.sample_size());
  for (int i = 0; i < 64; ++i) {
    std::vector<std::uint8_t> phrase(size, 0);
    const int root = static_cast<int>(rng() % 4);
    for (int t = 0; t < 2; ++t) {
      const int pitch = t == 0 ? 8 + root : root;
      for (int s = 0; s < 16; ++s) phrase[static_cast<std::size_t>((t * 16 + s) * 16 + pitch)] = 1;
    }
    data.data.insert(data.data.end(), phrase.begin(), phrase.end());
    data.sources.push_back("synthetic " + std::to_string(i));
  }
  // Two statistics of 32 samples' probabilities: their mean (the data's: 1/16 of the cells
  // sound) and the share of their mass on the pitches the data uses in each track (1 in the data).
  const int kSteps = std::getenv("ROLLGAN_STEPS") ? std::atoi(std::getenv("ROLLGAN_STEPS")) : 1000;
  RollGan gan(c, 3);
  nn::Generator sampler(9);
  struct Stats {
    double density, in_set;
  };
  const auto stats = [&] {
    const std::vector<float> p = gan.sample(32, sampler).to_vector<float>();
    double all = 0, in = 0;
    for (std::size_t i = 0; i < p.size(); ++i) {
      const auto pitch = static_cast<int>(i % 16), track = static_cast<int>(i / 256 % 2);
      all += p[i];
      if (track == 0 ? pitch >= 8 && pitch < 12 : pitch < 4) in += p[i];
    }
    return Stats{all / static_cast<double>(p.size()), in / all};
  };
  const Stats before = stats();
  std::vector<double> w;
  std::vector<std::int64_t> order(64);
  for (int step = 0; step < kSteps; ++step) {
    if (step % 100 == 0)
      std::cout << "step " << step << " W " << (w.empty() ? 0 : w.back()) << "\n";
    std::iota(order.begin(), order.end(), 0);
    std::shuffle(order.begin(), order.end(), rng);
    std::vector<nn::Tensor> batches;
    for (int k = 0; k < c.n_critic; ++k)
      batches.push_back(phrases_tensor(data, std::span<const std::int64_t>(order).subspan(
                                                 static_cast<std::size_t>(k) * 16, 16)));
    const RollGanStep r = gan.train_step(batches);
    ASSERT_TRUE(std::isfinite(r.critic_loss) && std::isfinite(r.generator_loss));
    w.push_back(r.wasserstein);
  }
  const Stats after = stats();
  const auto mean_of = [&](std::size_t from, std::size_t to) {
    return std::accumulate(w.begin() + static_cast<long>(from), w.begin() + static_cast<long>(to),
                           0.0) /
           static_cast<double>(to - from);
  };
  double peak = 0;
  for (std::size_t i = 0; i + 20 <= w.size(); i += 20) peak = std::max(peak, mean_of(i, i + 20));
  const double last = mean_of(w.size() - 20, w.size());
  std::cout << "mean probability: data 0.0625, before " << before.density << ", after "
            << after.density << "; mass on the data's pitches: data 1, before " << before.in_set
            << ", after " << after.in_set << "; Wasserstein estimate: peak (20-step mean) " << peak
            << ", last 20 " << last << "\n";
  EXPECT_LT(last, 0.5 * peak);
  EXPECT_LT(std::abs(after.density - 0.0625), 0.5 * std::abs(before.density - 0.0625));
  EXPECT_LT(1 - after.in_set, 0.5 * (1 - before.in_set));
}

}  // namespace
}  // namespace musegen
