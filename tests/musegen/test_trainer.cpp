// The trainer (train/trainer.hpp) is reusable: a GAN-shaped task — two small networks, two
// optimizers, a discriminator step and a generator step per training step — trains on it,
// and a run that is cancelled, or killed between checkpoints, then resumed gives the same
// losses and the same weights, bit for bit, as a run never interrupted. The oracle is that
// uninterrupted run; nothing here knows the values.
#include <gtest/gtest.h>

#include <fstream>
#include <limits>
#include <map>
#include <sstream>
#include <stdexcept>
#include <stop_token>

#include <libnn/libnn.hpp>

#include "../libnn/temp_dir.hpp"
#include "metrics_csv.hpp"
#include "plot.hpp"
#include "trainer.hpp"

namespace {

using namespace musegen;

// Real samples: x ~ N(3, 0.5). Noise: z ~ N(0, 1)², both from generators saved in the state.
class TinyGan final : public TrainingTask {
 public:
  explicit TinyGan(std::int64_t fail_at_step = 0)
      : init_(7),
        noise_(11),
        data_(13),
        g_(nn::LinearOptions(2, 1).generator(&init_)),
        d1_(nn::LinearOptions(1, 8).generator(&init_)),
        d2_(nn::LinearOptions(8, 1).generator(&init_)),
        g_opt_(g_.parameters(), nn::optim::AdamOptions(2e-2).betas({0.5, 0.999})),
        d_opt_(d_parameters(), nn::optim::AdamOptions(2e-2).betas({0.5, 0.999})),
        fail_at_step_(fail_at_step) {}

  std::vector<MetricColumn> columns() const override {
    using S = MetricColumn::Source;
    return {{"d_loss", S::step_mean, "train/d_loss", "epoch/d_loss"},
            {"g_loss", S::step_mean, "train/g_loss", "epoch/g_loss"},
            {"fake_mean", S::validation, "", "valid/fake_mean"},
            {"seconds", S::seconds, "", ""}};
  }
  std::int64_t steps_per_epoch() const override { return 6; }
  void begin_epoch(std::int64_t) override {}

  StepReport train_step(std::int64_t) override {
    ++step_;
    if (step_ == fail_at_step_) throw std::runtime_error("killed");  // as SIGKILL: nothing saved
    constexpr std::int64_t kBatch = 16;
    const nn::Tensor real = nn::randn({kBatch, 1}, &data_) * 0.5 + 3.0;
    const nn::Tensor z = nn::randn({kBatch, 2}, &noise_);
    // Discriminator: real → 1, fake (detached) → 0.
    const nn::Tensor fake = g_.forward(z);
    const nn::Tensor d_loss =
        nn::binary_cross_entropy_with_logits(d(real), nn::ones({kBatch, 1})) +
        nn::binary_cross_entropy_with_logits(d(fake.detach()), nn::zeros({kBatch, 1}));
    d_opt_.zero_grad();
    nn::backward({d_loss});
    d_opt_.step();
    // Generator (non-saturating): fake → 1 through the updated discriminator.
    const nn::Tensor g_loss = nn::binary_cross_entropy_with_logits(d(g_.forward(z)), nn::ones({kBatch, 1}));
    g_opt_.zero_grad();
    nn::backward({g_loss});
    g_opt_.step();
    return {{d_loss.item<float>(), g_loss.item<float>()}, kBatch};
  }

  std::vector<double> validate() override {
    nn::Generator fixed(99);
    return {nn::mean(g_.forward(nn::randn({256, 2}, &fixed))).item<float>()};
  }

  void save_state(nn::TrainingState& state) const override {
    for (const auto& [name, t] : weights()) state.tensors[name] = t;
    nn::TrainingState g, d;
    g_opt_.save_state(g);
    d_opt_.save_state(d);
    state.merge(g.prefixed("g_opt."));
    state.merge(d.prefixed("d_opt."));
    nn::save_generator(state, "noise.", noise_);
    nn::save_generator(state, "data.", data_);
    state.ints["gan.step"] = step_;
  }
  void load_state(const nn::TrainingState& state) override {
    g_.load_state_dict(nn::StateDict(sub(state, "g.")));
    d1_.load_state_dict(nn::StateDict(sub(state, "d1.")));
    d2_.load_state_dict(nn::StateDict(sub(state, "d2.")));
    g_opt_.load_state(state.sub("g_opt."));
    d_opt_.load_state(state.sub("d_opt."));
    nn::load_generator(state, "noise.", noise_);
    nn::load_generator(state, "data.", data_);
    step_ = state.ints.at("gan.step");
  }

  std::map<std::string, nn::Tensor> weights() const {
    std::map<std::string, nn::Tensor> all;
    for (const auto& [prefix, module] : {std::pair<std::string, const nn::Module*>{"g.", &g_},
                                         {"d1.", &d1_}, {"d2.", &d2_}}) {
      for (const auto& [name, t] : module->state_dict()) all[prefix + name] = t;
    }
    return all;
  }

 private:
  nn::Tensor d(const nn::Tensor& x) const { return d2_.forward(nn::tanh(d1_.forward(x))); }
  std::vector<nn::Tensor> d_parameters() const {
    std::vector<nn::Tensor> p = d1_.parameters();
    for (const nn::Tensor& t : d2_.parameters()) p.push_back(t);
    return p;
  }
  static nn::NamedTensors sub(const nn::TrainingState& state, const std::string& prefix) {
    nn::NamedTensors out;
    for (const auto& [name, t] : state.sub(prefix).tensors) out.insert(name, t);
    return out;
  }

  nn::Generator init_, noise_, data_;
  nn::Linear g_, d1_, d2_;
  nn::optim::Adam g_opt_, d_opt_;
  std::int64_t step_ = 0, fail_at_step_;
};

TrainerOptions options() {
  TrainerOptions o;
  o.epochs = 3;
  o.log_seconds = 0;  // a metrics row per step
  o.checkpoint_every = 4;
  o.tensorboard = false;
  return o;
}

// Presses a cancel button (requests the stop) once step `at` is done, as a server's observer
// would from another thread.
class CancelAtStep final : public TrainObserver {
 public:
  CancelAtStep(std::stop_source& cancel, std::int64_t at) : cancel_(cancel), at_(at) {}
  void step_done(std::int64_t, const std::vector<double>&, double) override {
    if (++steps_ == at_) cancel_.request_stop();
  }

 private:
  std::stop_source& cancel_;
  std::int64_t at_, steps_ = 0;
};

// metrics.csv without the wall-clock column: step, epoch, d_loss, g_loss, fake_mean, kind.
std::vector<std::string> rows_of(const std::filesystem::path& csv) {
  std::ifstream in(csv);
  std::string line;
  std::vector<std::string> rows;
  while (std::getline(in, line)) {
    auto cells = plot::split_csv_line(line);
    EXPECT_EQ(cells.size(), 7u) << line;
    if (cells.size() == 7) cells.erase(cells.begin() + 5);  // seconds
    std::string row;
    for (const auto& c : cells) row += c + ",";
    rows.push_back(row);
  }
  return rows;
}

void expect_same_weights(const TinyGan& a, const TinyGan& b) {
  const auto wa = a.weights(), wb = b.weights();
  ASSERT_EQ(wa.size(), wb.size());
  for (const auto& [name, t] : wa) {
    EXPECT_EQ(t.to_vector<float>(), wb.at(name).to_vector<float>()) << name;
  }
}

TrainerResult whole_run(const std::filesystem::path& dir, TinyGan& task) {
  Trainer trainer(RunDir{dir}, task, options());
  return trainer.run();
}

TEST(Trainer, GanCancelledThenResumedMatchesAnUninterruptedRun) {
  test_util::TempDir tmp;
  TinyGan whole;
  const TrainerResult reference = whole_run(tmp.path() / "whole", whole);
  EXPECT_EQ(reference.steps, 18);
  EXPECT_FALSE(reference.interrupted);

  const RunDir run{tmp.path() / "cancelled"};
  {
    TinyGan first;
    TrainerOptions o = options();
    std::stop_source cancel;
    o.stop = cancel.get_token();
    CancelAtStep button(cancel, 9);  // a cancel button pressed during step 9
    Trainer trainer(run, first, o, &button);
    const TrainerResult r = trainer.run();
    EXPECT_TRUE(r.interrupted);
    EXPECT_EQ(r.steps, 9);
  }
  TinyGan second;
  Trainer trainer(run, second, options());
  trainer.resume(nn::load_training_state(run.state()));
  EXPECT_EQ(trainer.step(), 9);
  const TrainerResult r = trainer.run();
  EXPECT_EQ(r.steps, 18);
  EXPECT_EQ(r.best_valid_loss, reference.best_valid_loss);
  EXPECT_EQ(rows_of(run.metrics()), rows_of(RunDir{tmp.path() / "whole"}.metrics()));
  expect_same_weights(second, whole);
}

TEST(Trainer, GanKilledBetweenCheckpointsResumesFromTheLastOne) {
  test_util::TempDir tmp;
  TinyGan whole;
  whole_run(tmp.path() / "whole", whole);

  const RunDir run{tmp.path() / "killed"};
  {
    TinyGan first(/*fail_at_step=*/11);  // checkpoints at 4 and 8; dies in step 11
    Trainer trainer(run, first, options());
    EXPECT_THROW(trainer.run(), std::runtime_error);
  }
  TinyGan second;
  Trainer trainer(run, second, options());
  trainer.resume(nn::load_training_state(run.state()));
  EXPECT_EQ(trainer.step(), 8) << "the last checkpoint before the kill";
  trainer.run();
  // The rows the killed session logged after step 8 are replaced, not repeated.
  EXPECT_EQ(rows_of(run.metrics()), rows_of(RunDir{tmp.path() / "whole"}.metrics()));
  expect_same_weights(second, whole);
}

TEST(Trainer, MetricsRowsSayTheirKind) {
  test_util::TempDir tmp;
  TinyGan task;
  whole_run(tmp.path(), task);
  std::ifstream in(RunDir{tmp.path()}.metrics());
  std::string header;
  std::getline(in, header);
  EXPECT_EQ(header, "step,epoch,d_loss,g_loss,fake_mean,seconds,kind");
  std::map<std::string, int> kinds;
  for (std::string line; std::getline(in, line);) ++kinds[plot::split_csv_line(line).back()];
  EXPECT_EQ(kinds["interval"], 18);
  EXPECT_EQ(kinds["epoch"], 3);
  EXPECT_EQ(kinds.size(), 2u);
}

// The reader takes a row's kind from its kind column, not from which cells are empty; an old
// file (no kind column) gets one when a resumed run truncates it, by the rule it was written with.
TEST(MetricsCsv, KindColumnDecidesAndOldFilesAreUpgraded) {
  test_util::TempDir tmp;
  const auto file = tmp.path() / "metrics.csv";
  {
    plot::MetricsCsvWriter w(file, {"lr", "train_loss", "valid_loss", "valid_perplexity", "grad_norm"});
    const double nan = std::numeric_limits<double>::quiet_NaN();
    const std::vector<double> interval = {0.1, 2.5, nan, nan, 0.7}, epoch = {0.1, 2.4, 2.6, nan, 0.5};
    w.row(plot::MetricsRowKind::interval, 5, 0, interval);
    w.row(plot::MetricsRowKind::epoch, 6, 1, epoch);  // an epoch row that has a grad_norm
    EXPECT_THROW(w.row(plot::MetricsRowKind::epoch, 7, 1, std::vector<double>{1.0}), std::logic_error);
  }
  auto rows = plot::read_metrics_csv(file);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].train_loss, 2.5);
  EXPECT_FALSE(rows[0].epoch_train_loss);
  EXPECT_EQ(rows[1].epoch_train_loss, 2.4);
  EXPECT_FALSE(rows[1].train_loss);
  EXPECT_THROW(plot::MetricsCsvWriter(file, {"d_loss"}), std::runtime_error) << "another run's header";

  std::ofstream(file) << "step,epoch,lr,train_loss,valid_loss,valid_perplexity,grad_norm\n"
                      << "5,0,0.1,2.5,,,0.7\n6,1,0.1,2.4,2.6,,\n9,1,0.1,2.3,,,0.6\n";
  plot::truncate_metrics_csv(file, 6);
  std::ifstream in(file);
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_EQ(text.str(), "step,epoch,lr,train_loss,valid_loss,valid_perplexity,grad_norm,kind\n"
                        "5,0,0.1,2.5,,,0.7,interval\n6,1,0.1,2.4,2.6,,,epoch\n");
}

}  // namespace
