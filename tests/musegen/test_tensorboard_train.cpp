// `musegen train` and TensorBoard: TensorBoard's own readers (tests/libnn/tensorboard_check.py)
// must give back every figure of metrics.csv under its tag, the piano-roll sample of every
// epoch as a PNG that PIL decodes, each step once after a crash and resume, and logging
// must not change what is trained.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <libnn/libnn.hpp>

#include "../libnn/temp_dir.hpp"
#include "dataset.hpp"
#include "evaluate.hpp"
#include "tensorboard_log.hpp"
#include "test_support.hpp"
#include "train.hpp"

namespace {

using namespace musegen;
namespace fs = std::filesystem;

#ifndef MUSEGEN_TENSORBOARD_PYTHON
#define MUSEGEN_TENSORBOARD_PYTHON ""
#endif

#define SKIP_WITHOUT_TENSORBOARD()                                                                \
  if (std::string(MUSEGEN_TENSORBOARD_PYTHON).empty())                                            \
  GTEST_SKIP() << "no Python interpreter that can import tensorboard was found at configure time " \
                  "(scripts/setup.sh installs one in ~/.cache/musegen/venv; then re-run cmake)"

Sequence tokens(std::int64_t n, std::int32_t vocab, std::uint64_t seed) {
  Sequence s;
  s.source = "synthetic-" + std::to_string(seed);
  for (std::int64_t i = 0; i < n; ++i) {
    auto r = nn::philox4x32(seed, static_cast<std::uint64_t>(i));
    s.tokens.push_back(static_cast<std::int32_t>(r[0] % 3 == 0 ? r[1] % vocab : (i * 5) % vocab));
  }
  return s;
}

// A small events dataset and the options of a quick run that logs a row every step.
TrainOptions small_run(const fs::path& dir) {
  Dataset data;
  data.codec = Codec::events(CodecParams{});
  const auto V = static_cast<std::int32_t>(data.codec.vocab_size());
  for (std::uint64_t i = 0; i < 10; ++i) data.train.push_back(tokens(40 + static_cast<std::int64_t>(i), V, i));
  for (std::uint64_t i = 0; i < 2; ++i) data.valid.push_back(tokens(30, V, 50 + i));
  save_dataset(dir / "synthetic.mgds", data);
  TrainOptions o;
  o.dataset = dir / "synthetic.mgds";
  o.embed = 8;
  o.hidden = 16;
  o.layers = 1;
  o.dropout = 0.1;
  o.seq_len = 10;
  o.batch = 8;
  o.epochs = 3;
  o.warmup = 3;
  o.lr = 1e-2;
  o.log_seconds = 0;  // a metrics row per step
  o.checkpoint_every = 0;
  o.sample_steps = 40;
  o.quiet = true;
  return o;
}

std::vector<std::vector<std::string>> csv_rows(const fs::path& csv) {
  std::ifstream in(csv);
  std::string line;
  std::getline(in, line);  // header: step,epoch,lr,train_loss,valid_loss,valid_perplexity,predictions_per_s,grad_norm,seconds
  std::vector<std::vector<std::string>> rows;
  while (std::getline(in, line)) {
    std::vector<std::string> cells;
    std::stringstream s(line);
    std::string cell;
    while (std::getline(s, cell, ',')) cells.push_back(cell);
    while (cells.size() < 9) cells.emplace_back();
    rows.push_back(cells);
  }
  return rows;
}

std::string hex(const std::vector<std::uint8_t>& bytes) {
  static const char* digits = "0123456789abcdef";
  std::string s;
  for (auto b : bytes) s += {digits[b >> 4], digits[b & 15]};
  return s;
}

// What TensorBoard must show for a run: every metrics.csv figure (written with 7 significant
// digits, hence the tolerance) under its tag, and a decodable 800x320 PNG per epoch; the last
// epoch's PNG must be `last_png` when given.
std::string expected_from_metrics(const fs::path& run, const std::vector<std::uint8_t>& last_png = {}) {
  std::ostringstream out;
  auto scalar = [&](const char* tag, const std::string& step, const std::string& value) {
    if (!value.empty()) out << "scalar\t" << tag << '\t' << step << '\t' << value << "\t1e-6\n";
  };
  std::size_t epochs = 0;
  const auto rows = csv_rows(run / "metrics.csv");
  for (const auto& r : rows) {
    if (r[4].empty()) {  // a log-interval row
      scalar("train/loss", r[0], r[3]);
      scalar("train/lr", r[0], r[2]);
      scalar("train/grad_norm", r[0], r[7]);
      scalar("train/predictions_per_s", r[0], r[6]);
    } else {  // an epoch row
      scalar("epoch/train_loss", r[0], r[3]);
      scalar("valid/loss", r[0], r[4]);
      scalar("valid/perplexity", r[0], r[5]);
      if (&r == &rows.back() && !last_png.empty())
        out << "image\tvalid/sample\t" << r[0] << "\t800\t320\t" << hex(last_png) << '\n';
      else
        out << "png\tvalid/sample\t" << r[0] << "\t800\t320\n";
      ++epochs;
    }
  }
  EXPECT_GT(epochs, 0u);
  out << "tags\tscalar\ttrain/loss,train/lr,train/grad_norm,train/predictions_per_s,"
         "epoch/train_loss,valid/loss,valid/perplexity\n";
  out << "tags\timage\tvalid/sample\n";
  return out.str();
}

bool tensorboard_agrees(const fs::path& run, const std::vector<std::uint8_t>& last_png,
                        std::string& output) {
  const fs::path expected = run.parent_path() / (run.filename().string() + ".expected");
  std::ofstream(expected) << expected_from_metrics(run, last_png);
  return test::run_capture(std::string(MUSEGEN_TENSORBOARD_PYTHON) + " " + MUSEGEN_TEST_DIR +
                               "/../libnn/tensorboard_check.py " + run.string() + " " +
                               expected.string() + " 2>&1",
                           output);
}

std::vector<char> bytes_of(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

int event_files(const fs::path& run) {
  int n = 0;
  for (const auto& e : fs::directory_iterator(run))
    n += e.path().filename().string().rfind("events.out.tfevents.", 0) == 0;
  return n;
}

TEST(TrainTensorBoard, ShowsEveryMetricAndASamplePerEpoch) {
  SKIP_WITHOUT_TENSORBOARD();
  test_util::TempDir dir("musegen_tb");
  TrainOptions o = small_run(dir.path());
  o.run_dir = dir.path() / "run";
  std::ostringstream log;
  const TrainResult r = train(o, log);
  ASSERT_EQ(r.epochs_done, 3);
  EXPECT_EQ(event_files(o.run_dir), 1);
  // The last picture is what the final weights draw from the first validation sequence's
  // first 16 steps, with the run's seed.
  LoadedModel loaded = load_model(o.run_dir);
  Dataset data = load_dataset(o.dataset);
  Sequence primer = data.valid.front();
  primer.tokens.resize(16);
  const SamplePicture last = sample_piano_roll(*loaded.model, data.codec, primer, o.sample_steps, 1,
                                               "step " + std::to_string(r.steps) + ", epoch 3");
  std::string output;
  EXPECT_TRUE(tensorboard_agrees(o.run_dir, last.png, output)) << output;
}

// A crash after step 12 whose last checkpoint was at step 7: the resumed session trains 8..
// again. TensorBoard must show each step once, with the values of the session that counts
// (those of metrics.csv, which train() truncates to the checkpoint).
TEST(TrainTensorBoard, AResumedRunShowsEachStepOnce) {
  SKIP_WITHOUT_TENSORBOARD();
  test_util::TempDir dir("musegen_tb");
  TrainOptions o = small_run(dir.path());
  o.run_dir = dir.path() / "run";
  o.sample_steps = 0;  // no pictures: this test is about steps
  std::ostringstream log;
  o.stop_after_step = 7;
  ASSERT_TRUE(train(o, log).interrupted);
  fs::copy_file(o.run_dir / "state.mgstate", dir.path() / "state-at-7.mgstate");

  TrainOptions again;
  again.run_dir = o.run_dir;
  again.resume = true;
  again.quiet = true;
  again.log_seconds = 0;
  again.sample_steps = 0;
  again.stop_after_step = 12;
  ASSERT_TRUE(train(again, log).interrupted);
  // The "crash": the checkpoint of step 12 is lost, the one of step 7 remains.
  fs::copy_file(dir.path() / "state-at-7.mgstate", o.run_dir / "state.mgstate",
                fs::copy_options::overwrite_existing);
  again.stop_after_step = 0;
  const TrainResult r = train(again, log);
  ASSERT_FALSE(r.interrupted);
  ASSERT_GT(r.steps, 12);
  EXPECT_EQ(event_files(o.run_dir), 3);

  std::ostringstream expected;
  for (const auto& row : csv_rows(o.run_dir / "metrics.csv"))
    if (row[4].empty()) expected << "scalar\ttrain/loss\t" << row[0] << '\t' << row[3] << "\t1e-6\n";
  const fs::path expected_path = dir.path() / "resumed.expected";
  std::ofstream(expected_path) << expected.str();
  std::string output;
  EXPECT_TRUE(test::run_capture(std::string(MUSEGEN_TENSORBOARD_PYTHON) + " " + MUSEGEN_TEST_DIR +
                                    "/../libnn/tensorboard_check.py " + o.run_dir.string() + " " +
                                    expected_path.string() + " 2>&1",
                                output))
      << output;
}

TEST(TrainTensorBoard, LoggingDoesNotChangeWhatIsTrained) {
  test_util::TempDir dir("musegen_tb");
  TrainOptions with = small_run(dir.path());
  with.run_dir = dir.path() / "with";
  TrainOptions without = with;
  without.run_dir = dir.path() / "without";
  without.tensorboard = false;
  std::ostringstream log;
  train(with, log);
  train(without, log);
  EXPECT_EQ(event_files(without.run_dir), 0);
  EXPECT_GE(event_files(with.run_dir), 1);
  EXPECT_EQ(bytes_of(with.run_dir / "model.safetensors"), bytes_of(without.run_dir / "model.safetensors"))
      << "drawing the TensorBoard samples changed the trained weights";
}

// The same weights and seed give the same picture, a PNG that PIL decodes to its size.
TEST(TrainTensorBoard, TheSampleIsDeterministicAndDecodes) {
  test_util::TempDir dir("musegen_tb");
  TrainOptions o = small_run(dir.path());
  o.run_dir = dir.path() / "run";
  std::ostringstream log;
  train(o, log);
  LoadedModel loaded = load_model(o.run_dir);
  Dataset data = load_dataset(o.dataset);
  Sequence primer = data.valid.front();
  primer.tokens.resize(16);
  const SamplePicture a = sample_piano_roll(*loaded.model, data.codec, primer, 40, 1, "t");
  const SamplePicture b = sample_piano_roll(*loaded.model, data.codec, primer, 40, 1, "t");
  EXPECT_EQ(a.png, b.png);
  EXPECT_EQ(a.width, 800);
  EXPECT_EQ(a.height, 320);
  if (!test::python_has("PIL")) GTEST_SKIP() << "PIL is missing (apt-get install python3-pil)";
  const fs::path png = dir.path() / "sample.png";
  std::ofstream(png, std::ios::binary).write(reinterpret_cast<const char*>(a.png.data()),
                                             static_cast<std::streamsize>(a.png.size()));
  std::string size;
  ASSERT_TRUE(test::run_capture("/usr/bin/python3 -c \"from PIL import Image; i=Image.open('" + png.string() +
                                    "'); i.load(); print(i.size[0], i.size[1])\"",
                                size));
  EXPECT_EQ(size, "800 320\n");
}

}  // namespace
