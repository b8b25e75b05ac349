// Training windows and batches against brute force, the NLL against a per-sequence
// computation written from the definition, and the resume contract: a run stopped (as by
// Ctrl-C) and resumed gives the same per-step losses and the same final weights, bit for
// bit, as a run never stopped.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <csignal>
#include <fstream>
#include <thread>
#include <map>
#include <sstream>

#include <libnn/libnn.hpp>

#include "../libnn/temp_dir.hpp"
#include "batches.hpp"
#include "dataset.hpp"
#include "evaluate.hpp"
#include "model.hpp"
#include "train.hpp"

namespace {

using namespace musegen;

Sequence token_sequence(std::int64_t n, std::int32_t vocab, std::uint64_t seed) {
  Sequence s;
  s.source = "synthetic-" + std::to_string(seed);
  for (std::int64_t i = 0; i < n; ++i) {
    // A learnable pattern with some noise: mostly (i * 3) mod vocab.
    auto r = nn::philox4x32(seed, static_cast<std::uint64_t>(i));
    s.tokens.push_back(r[0] % 5 == 0 ? static_cast<std::int32_t>(r[1] % vocab)
                                     : static_cast<std::int32_t>((i * 3) % vocab));
  }
  return s;
}

Sequence roll_sequence(std::int64_t n, std::uint64_t seed) {
  Sequence s = Sequence::of_frames("roll-" + std::to_string(seed), kRollKeys);
  s.frames.assign(static_cast<std::size_t>(n * kRollKeys), 0);
  for (std::int64_t t = 0; t < n; ++t) {
    for (int k = 0; k < kRollKeys; ++k) {
      auto r = nn::philox4x32(seed, static_cast<std::uint64_t>(t * kRollKeys + k));
      s.frames[static_cast<std::size_t>(t * kRollKeys + k)] = r[0] % 11 == 0 ? 1 : 0;
    }
  }
  return s;
}

TEST(Batches, WindowsCoverEveryPredictionOnce) {
  std::vector<Sequence> split = {token_sequence(1, 9, 1), token_sequence(10, 9, 2),
                                 token_sequence(25, 9, 3)};
  for (std::int64_t T : {1, 4, 9, 100}) {
    auto windows = make_windows(split, StepKind::token, T);
    std::map<std::pair<int, std::int64_t>, int> seen;
    for (const auto& w : windows) {
      EXPECT_GE(w.length, 1);
      EXPECT_LE(w.length, T);
      for (std::int64_t p = w.start; p < w.start + w.length; ++p) ++seen[{w.sequence, p}];
    }
    // Tokens 1..n-1 of each sequence are predicted once: 0 + 9 + 24.
    EXPECT_EQ(seen.size(), 33u) << "T=" << T;
    for (const auto& [key, count] : seen) {
      EXPECT_EQ(count, 1);
      EXPECT_GE(key.second, 1);
      EXPECT_LT(key.second, split[static_cast<std::size_t>(key.first)].steps());
    }
    // Roll: frames 0..n-1 are predicted.
    std::vector<Sequence> rolls = {roll_sequence(3, 1), roll_sequence(7, 2)};
    std::int64_t predicted = 0;
    for (const auto& w : make_windows(rolls, StepKind::frame, T)) predicted += w.length;
    EXPECT_EQ(predicted, 10);
  }
}

TEST(Batches, InputsAreTheStepsBeforeTheTargets) {
  std::vector<Sequence> tokens = {token_sequence(6, 7, 5), token_sequence(3, 7, 6)};
  auto windows = make_windows(tokens, StepKind::token, 4);  // (0,1,4) (0,5,1) (1,1,2)
  ASSERT_EQ(windows.size(), 3u);
  Batch b = make_batch(tokens, windows, StepKind::token);
  ASSERT_EQ(b.input.shape(), (nn::Shape{4, 3}));
  EXPECT_EQ(b.predictions, 7);
  auto in = b.input.to_vector<std::int64_t>();
  auto out = b.target.to_vector<std::int64_t>();
  for (std::int64_t j = 0; j < 3; ++j) {
    const auto& w = windows[static_cast<std::size_t>(j)];
    const auto& seq = tokens[static_cast<std::size_t>(w.sequence)].tokens;
    for (std::int64_t t = 0; t < 4; ++t) {
      const auto i = static_cast<std::size_t>(t * 3 + j);
      if (t < w.length) {
        EXPECT_EQ(in[i], seq[static_cast<std::size_t>(w.start + t - 1)]);
        EXPECT_EQ(out[i], seq[static_cast<std::size_t>(w.start + t)]);
      } else {
        EXPECT_EQ(out[i], -100) << "padding is ignored by the loss";
      }
    }
  }

  std::vector<Sequence> rolls = {roll_sequence(5, 9)};
  Batch r = make_batch(rolls, make_windows(rolls, StepKind::frame, 8), StepKind::frame);
  ASSERT_EQ(r.input.shape(), (nn::Shape{5, 1, 88}));
  auto rin = r.input.to_vector<float>();
  auto rout = r.target.to_vector<float>();
  const auto& f = rolls[0].frames;
  for (std::size_t k = 0; k < 88; ++k) EXPECT_EQ(rin[k], 0.0f) << "the first frame is predicted from silence";
  for (std::size_t t = 1; t < 5; ++t) {
    for (std::size_t k = 0; k < 88; ++k) {
      EXPECT_EQ(rin[t * 88 + k], f[(t - 1) * 88 + k]);
      EXPECT_EQ(rout[t * 88 + k], f[t * 88 + k]);
    }
  }
}

// NLL of one sequence computed from the definition with doubles, from the model's logits.
double reference_nll(MusicModel& model, const Sequence& s) {
  model.eval();
  const bool roll = model.config().frames();
  const std::int64_t n = s.steps();
  nn::NoGradGuard guard;
  double total = 0;
  if (roll) {
    std::vector<float> in(static_cast<std::size_t>(n * 88), 0.0f);
    for (std::size_t i = 88; i < in.size(); ++i) in[i] = s.frames[i - 88];
    auto [logits, st] = model.forward(nn::from_vector(in, {n, 1, 88}));
    auto z = logits.to_vector<float>();
    for (std::size_t i = 0; i < z.size(); ++i) {
      const double p = 1 / (1 + std::exp(-static_cast<double>(z[i])));
      total -= s.frames[i] ? std::log(p) : std::log1p(-p);
    }
  } else {
    std::vector<std::int64_t> in(s.tokens.begin(), s.tokens.end() - 1);
    auto [logits, st] = model.forward(nn::from_vector(in, {n - 1, 1}));
    auto z = logits.to_vector<float>();
    const auto V = static_cast<std::size_t>(model.config().vocab);
    for (std::size_t t = 0; t + 1 < static_cast<std::size_t>(n); ++t) {
      double m = -1e300, sum = 0;
      for (std::size_t v = 0; v < V; ++v) m = std::max(m, static_cast<double>(z[t * V + v]));
      for (std::size_t v = 0; v < V; ++v) sum += std::exp(z[t * V + v] - m);
      total -= z[t * V + static_cast<std::size_t>(s.tokens[t + 1])] - m - std::log(sum);
    }
  }
  return total;
}

TEST(Evaluate, NllMatchesThePerSequenceDefinition) {
  for (Encoding encoding : {Encoding::events, Encoding::roll}) {
    ModelConfig config;
    config.encoding = encoding;
    config.vocab = encoding == Encoding::roll ? 88 : 11;
    config.embed = 6;
    config.hidden = 10;
    config.layers = 2;
    nn::Generator g(3);
    MusicModel model(config, &g);
    std::vector<Sequence> split;
    for (std::uint64_t i = 0; i < 5; ++i) {
      split.push_back(encoding == Encoding::roll ? roll_sequence(3 + 4 * static_cast<std::int64_t>(i), i)
                                                 : token_sequence(2 + 5 * static_cast<std::int64_t>(i), 11, i));
    }
    double expected = 0;
    std::int64_t predictions = 0;
    for (const auto& s : split) {
      expected += reference_nll(model, s);
      predictions += s.steps() - (encoding == Encoding::roll ? 0 : 1);
    }
    for (std::int64_t batch : {1, 2, 7}) {
      NllResult got = evaluate_nll(model, split, 0, batch);
      EXPECT_EQ(got.predictions, predictions);
      EXPECT_NEAR(got.nll_sum, expected, 1e-4 * std::abs(expected)) << "batch " << batch;
    }
  }
}

std::vector<std::string> loss_column(const std::filesystem::path& csv) {
  std::ifstream in(csv);
  std::string line;
  std::getline(in, line);  // header
  std::vector<std::string> rows;
  while (std::getline(in, line)) {
    // step,epoch,lr,train_loss,valid_loss,...: keep step, train_loss and valid_loss.
    std::vector<std::string> cells;
    std::stringstream s(line);
    std::string cell;
    while (std::getline(s, cell, ',')) cells.push_back(cell);
    if (cells.size() > 4) rows.push_back(cells[0] + " " + cells[3] + " " + cells[4]);
  }
  return rows;
}

std::vector<char> bytes_of(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

TEST(Train, ResumedRunGivesTheSameLossesAndWeights) {
  test_util::TempDir dir;
  Dataset data;
  data.codec = Codec::events(CodecParams{});
  const auto V = static_cast<std::int32_t>(data.codec.vocab_size());
  for (std::uint64_t i = 0; i < 12; ++i) data.train.push_back(token_sequence(30 + static_cast<std::int64_t>(i), V, i));
  for (std::uint64_t i = 0; i < 3; ++i) data.valid.push_back(token_sequence(20, V, 100 + i));
  const auto dataset = dir.path() / "synthetic.mgds";
  save_dataset(dataset, data);

  TrainOptions o;
  o.dataset = dataset;
  o.embed = 8;
  o.hidden = 12;
  o.layers = 2;
  o.dropout = 0.2;  // dropout draws must resume too
  o.seq_len = 9;
  o.batch = 5;
  o.epochs = 3;
  o.warmup = 4;
  o.lr = 1e-2;
  o.log_seconds = 0;  // a metrics row per step
  o.checkpoint_every = 0;
  o.quiet = true;
  std::ostringstream log;

  TrainOptions whole = o;
  whole.run_dir = dir.path() / "whole";
  TrainResult a = train(whole, log);
  EXPECT_FALSE(a.interrupted);
  ASSERT_GT(a.steps, 10);

  TrainOptions first = o;
  first.run_dir = dir.path() / "parts";
  first.stop_after_step = 7;  // inside the second epoch (steps per epoch: 76 windows / 5 = 16?)
  TrainResult b = train(first, log);
  EXPECT_TRUE(b.interrupted);
  EXPECT_EQ(b.steps, 7);
  TrainOptions second;
  second.run_dir = first.run_dir;
  second.resume = true;
  second.quiet = true;
  second.log_seconds = 0;
  TrainResult c = train(second, log);
  EXPECT_FALSE(c.interrupted);
  EXPECT_EQ(c.steps, a.steps);

  EXPECT_EQ(loss_column(whole.run_dir / "metrics.csv"), loss_column(first.run_dir / "metrics.csv"));
  EXPECT_EQ(bytes_of(whole.run_dir / "model.safetensors"), bytes_of(first.run_dir / "model.safetensors"))
      << "the resumed run ends with different weights";
  EXPECT_DOUBLE_EQ(a.best_valid_loss, c.best_valid_loss);
  // The loss went down: the pattern is learnable.
  auto rows = loss_column(whole.run_dir / "metrics.csv");
  ASSERT_GE(rows.size(), 2u);
}

TEST(Train, RefusesToOverwriteARunAndToResumeNothing) {
  test_util::TempDir dir;
  Dataset data;
  data.codec = Codec::roll(1);
  for (std::uint64_t i = 0; i < 4; ++i) data.train.push_back(roll_sequence(6, i));
  save_dataset(dir.path() / "r.mgds", data);
  TrainOptions o;
  o.dataset = dir.path() / "r.mgds";
  o.run_dir = dir.path() / "run";
  o.embed = 4;
  o.hidden = 4;
  o.layers = 1;
  o.epochs = 1;
  o.quiet = true;
  std::ostringstream log;
  TrainOptions resume = o;
  resume.resume = true;
  EXPECT_THROW(train(resume, log), std::runtime_error);
  train(o, log);
  try {
    train(o, log);
    ADD_FAILURE() << "a second run into the same folder was accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("--resume"), std::string::npos) << e.what();
  }
  LoadedModel loaded = load_model(o.run_dir);
  EXPECT_EQ(loaded.model->config().vocab, 88);
  EXPECT_EQ(loaded.model->config().hidden, 4);
}

TEST(Train, CtrlCWritesACheckpointAndStops) {
  test_util::TempDir dir;
  Dataset data;
  data.codec = Codec::roll(1);
  for (std::uint64_t i = 0; i < 8; ++i) data.train.push_back(roll_sequence(12, i));
  save_dataset(dir.path() / "r.mgds", data);
  TrainOptions o;
  o.dataset = dir.path() / "r.mgds";
  o.run_dir = dir.path() / "run";
  o.embed = 4;
  o.hidden = 8;
  o.layers = 1;
  o.batch = 2;
  o.epochs = 1000000;  // far longer than the test: only Ctrl-C ends it
  o.checkpoint_every = 0;
  o.quiet = true;
  std::ostringstream log;
  // SIGINT from another thread once training runs: the handler train() installs must turn it
  // into "finish the step, write a checkpoint, return" (the default action would kill the test).
  std::thread ctrl_c([] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    std::raise(SIGINT);
  });
  TrainResult r = train(o, log);
  ctrl_c.join();
  EXPECT_TRUE(r.interrupted);
  ASSERT_GT(r.steps, 0);
  nn::TrainingState state = nn::load_training_state(o.run_dir / "state.mgstate");
  EXPECT_EQ(state.ints.at("step"), r.steps) << "the checkpoint is the last step's";
}

TEST(Train, SigtermWritesACheckpointAndStopsAsCtrlCDoes) {
  test_util::TempDir dir;
  Dataset data;
  data.codec = Codec::roll(1);
  for (std::uint64_t i = 0; i < 8; ++i) data.train.push_back(roll_sequence(12, i));
  save_dataset(dir.path() / "r.mgds", data);
  TrainOptions o;
  o.dataset = dir.path() / "r.mgds";
  o.run_dir = dir.path() / "run";
  o.embed = 4;
  o.hidden = 8;
  o.layers = 1;
  o.batch = 2;
  o.epochs = 1000000;  // far longer than the test: only Ctrl-C ends it
  o.checkpoint_every = 0;
  o.quiet = true;
  std::ostringstream log;
  // SIGTERM (timeout, batch schedulers, service managers) from another thread once training runs: the handler train() installs must turn it
  // into "finish the step, write a checkpoint, return" (the default action would kill the test).
  std::thread ctrl_c([] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    std::raise(SIGTERM);
  });
  TrainResult r = train(o, log);
  ctrl_c.join();
  EXPECT_TRUE(r.interrupted);
  ASSERT_GT(r.steps, 0);
  nn::TrainingState state = nn::load_training_state(o.run_dir / "state.mgstate");
  EXPECT_EQ(state.ints.at("step"), r.steps) << "the checkpoint is the last step's";
}

}  // namespace
