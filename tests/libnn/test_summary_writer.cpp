// nn::io::SummaryWriter against TensorBoard's own readers (tensorboard_check.py): the files
// must give back exactly the scalars and images written, through both the classic
// EventAccumulator (which checks every record's CRCs) and the plugin accumulator that the
// TensorBoard server uses. The interpreter that can import tensorboard is found at configure
// time (scripts/setup.sh installs it in a venv); without one these tests skip and say so.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iomanip>
#include <limits>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "libnn/io/summary_writer.hpp"
#include "temp_dir.hpp"

namespace {

namespace fs = std::filesystem;

#ifndef MUSEGEN_TENSORBOARD_PYTHON
#define MUSEGEN_TENSORBOARD_PYTHON ""
#endif

// A complete 2x1 RGB PNG (IHDR, IDAT, IEND), made with PIL:
//   python3 -c "from PIL import Image; import io; b=io.BytesIO();
//     Image.new('RGB',(2,1),(255,0,0)).save(b,'PNG'); print(b.getvalue().hex())"
const std::vector<std::uint8_t> kPng = [] {
  const std::string hex =
      "89504e470d0a1a0a0000000d49484452000000020000000108020000007b40e8dd"
      "0000000f49444154789c63fccfc0c0c0c0000006080101cb477675"
      "0000000049454e44ae426082";
  std::vector<std::uint8_t> bytes;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2)
    bytes.push_back(static_cast<std::uint8_t>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  return bytes;
}();

std::string hex(const std::vector<std::uint8_t>& bytes) {
  std::ostringstream s;
  for (auto b : bytes) s << std::hex << std::setw(2) << std::setfill('0') << int(b);
  return s.str();
}

// What tensorboard_check.py compares against, built up next to the writes.
class Expected {
 public:
  void scalar(const std::string& tag, std::int64_t step, double value) {
    std::ostringstream s;
    s << std::setprecision(17) << value;
    lines_ << "scalar\t" << tag << '\t' << step << '\t' << s.str() << '\n';
  }
  void image(const std::string& tag, std::int64_t step, int width, int height,
             const std::vector<std::uint8_t>& png) {
    lines_ << "image\t" << tag << '\t' << step << '\t' << width << '\t' << height << '\t' << hex(png) << '\n';
  }
  void tags(const std::string& kind, const std::string& list) { lines_ << "tags\t" << kind << '\t' << list << '\n'; }
  void write(const fs::path& path) const { std::ofstream(path) << lines_.str(); }

 private:
  std::ostringstream lines_;
};

// Runs the checker; returns its output, and whether it passed.
bool tensorboard_agrees(const fs::path& logdir, const Expected& expected, std::string& output) {
  const fs::path expected_path = logdir.parent_path() / (logdir.filename().string() + ".expected");
  expected.write(expected_path);
  const std::string command = std::string(MUSEGEN_TENSORBOARD_PYTHON) + " " + LIBNN_TEST_DIR +
                              "/tensorboard_check.py " + logdir.string() + " " + expected_path.string() +
                              " 2>&1";
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(::popen(command.c_str(), "r"), ::pclose);
  if (!pipe) return false;
  char buffer[4096];
  std::size_t n;
  output.clear();
  while ((n = std::fread(buffer, 1, sizeof buffer, pipe.get())) > 0) output.append(buffer, n);
  return ::pclose(pipe.release()) == 0;
}

#define SKIP_WITHOUT_TENSORBOARD()                                                                \
  if (std::string(MUSEGEN_TENSORBOARD_PYTHON).empty())                                            \
  GTEST_SKIP() << "no Python interpreter that can import tensorboard was found at configure time " \
                  "(scripts/setup.sh installs one in ~/.cache/musegen/venv; then re-run cmake)"

TEST(SummaryWriter, TensorBoardReadsScalarsAndImagesBack) {
  SKIP_WITHOUT_TENSORBOARD();
  test_util::TempDir dir("libnn_tb");
  const fs::path logdir = dir.path() / "run";
  Expected expected;
  {
    nn::io::SummaryWriter tb(logdir);
    EXPECT_EQ(tb.path().parent_path(), logdir);
    const std::int64_t big_step = (std::int64_t{1} << 40) + 3;  // beyond 32 bits
    const double values[] = {0.0, -1.5, 3.14159265358979, 1e-30, 6.02e23, -0.0,
                             std::numeric_limits<double>::quiet_NaN(), 123456789.123};
    std::int64_t step = 0;
    for (double v : values) {
      tb.add_scalar("train/loss", v, step);
      expected.scalar("train/loss", step, v);
      tb.add_scalar("valid/perplexity", v * 2, step);
      expected.scalar("valid/perplexity", step, v * 2);
      step += 7;
    }
    tb.add_scalar("lr", 3e-3, big_step);
    expected.scalar("lr", big_step, 3e-3);
    tb.add_scalar("négatif step", 1.0, -5);  // a UTF-8 tag, a negative step
    expected.scalar("négatif step", -5, 1.0);
    tb.add_image_png("valid/sample", kPng, 2, 1, 7);
    expected.image("valid/sample", 7, 2, 1, kPng);
    tb.add_image_png("valid/sample", kPng, 2, 1, 14);
    expected.image("valid/sample", 14, 2, 1, kPng);
    tb.flush();
  }
  expected.tags("scalar", "train/loss,valid/perplexity,lr,négatif step");
  expected.tags("image", "valid/sample");
  std::string output;
  EXPECT_TRUE(tensorboard_agrees(logdir, expected, output)) << output;
}

// Each session logs a SessionLog.START at its first step. A resumed run opens a second file in
// the same folder; its START tells TensorBoard to drop what the first file logged from that
// step on. (The server's accumulator takes the first START it sees as the run's beginning
// and only later ones as restarts, so the first session must log one too.)
TEST(SummaryWriter, SessionStartDropsTheStepsLoggedAfterTheCheckpoint) {
  SKIP_WITHOUT_TENSORBOARD();
  test_util::TempDir dir("libnn_tb");
  const fs::path logdir = dir.path() / "run";
  Expected expected;
  fs::path first_file;
  {
    nn::io::SummaryWriter first(logdir);
    first_file = first.path();
    first.add_session_start(1);
    for (std::int64_t step = 1; step <= 10; ++step) first.add_scalar("loss", 100.0 + step, step);
  }
  for (std::int64_t step = 1; step <= 5; ++step) expected.scalar("loss", step, 100.0 + step);
  {
    nn::io::SummaryWriter second(logdir);
    EXPECT_GT(second.path().filename().string(), first_file.filename().string())
        << "files must sort in the order they were written";
    second.add_session_start(6);
    for (std::int64_t step = 6; step <= 8; ++step) {
      second.add_scalar("loss", 200.0 + step, step);
      expected.scalar("loss", step, 200.0 + step);
    }
  }
  std::string output;
  EXPECT_TRUE(tensorboard_agrees(logdir, expected, output)) << output;
}

TEST(SummaryWriter, FileNamesAreTensorBoardsAndNeverReused) {
  test_util::TempDir dir("libnn_tb");
  std::vector<std::string> names;
  for (int i = 0; i < 3; ++i) names.push_back(nn::io::SummaryWriter(dir.path()).path().filename().string());
  for (const auto& name : names) EXPECT_EQ(name.rfind("events.out.tfevents.", 0), 0u) << name;
  EXPECT_LT(names[0], names[1]);
  EXPECT_LT(names[1], names[2]);
}

TEST(SummaryWriter, RecordFramingMatchesTheTFRecordLayout) {
  const std::vector<std::uint8_t> data = {1, 2, 3};
  const auto record = nn::io::tfrecord(data);
  ASSERT_EQ(record.size(), 8u + 4 + 3 + 4);
  EXPECT_EQ(record[0], 3);  // little-endian length
  for (int i = 1; i < 8; ++i) EXPECT_EQ(record[static_cast<std::size_t>(i)], 0);
  EXPECT_EQ(std::vector<std::uint8_t>(record.begin() + 12, record.begin() + 15), data);
}

TEST(SummaryWriter, BadImagesAndFoldersAreRefusedWithTheReason) {
  test_util::TempDir dir("libnn_tb");
  nn::io::SummaryWriter tb(dir.path());
  const std::vector<std::uint8_t> not_png = {'G', 'I', 'F', '8', '9', 'a', 0, 0, 0};
  try {
    tb.add_image_png("x", not_png, 2, 1, 0);
    FAIL() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("PNG signature"), std::string::npos) << e.what();
  }
  EXPECT_THROW(tb.add_image_png("x", kPng, 0, 1, 0), std::invalid_argument);
  EXPECT_THROW(tb.add_image_png("x", kPng, 2, 1, 0, 2), std::invalid_argument);

  const fs::path blocker = dir.path() / "a_file";
  std::ofstream(blocker) << "x";
  try {
    nn::io::SummaryWriter bad(blocker / "logs");
    FAIL() << "expected std::system_error";
  } catch (const std::system_error& e) {
    EXPECT_NE(std::string(e.what()).find(blocker.string()), std::string::npos) << e.what();
  }
}

}  // namespace
