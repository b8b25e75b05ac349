// The run folder under misuse and damage (issue 18, "nothing lost, nothing silent"), through
// the binary as a user meets it (cli_table.hpp): one `train` per folder at a time, no
// temporaries left by killed writers, no resume on other data, weights files checked for
// damage and NaN, sizes checked before anything is allocated. The datasets and models are
// tiny (tiny_run.hpp), so the whole file runs in seconds.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include <libnn/libnn.hpp>

#include "../libnn/temp_dir.hpp"
#include "cli_table.hpp"
#include "run_lock.hpp"
#include "tiny_run.hpp"

namespace {

namespace fs = std::filesystem;
using namespace musegen;
using test::CliCase;
using test::expect_case;
using test::read_all;
using test::spawn_musegen;

// A model that trains a few steps in milliseconds on tiny_dataset().
const std::vector<std::string> kTinyModel = {"--embed", "8", "--hidden", "8", "--layers", "1"};
const std::vector<std::string> kQuick = {"--seq-len", "8", "--batch", "4", "--no-tensorboard",
                                         "--sample-steps", "0", "--quiet"};

std::vector<std::string> concat(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// `train DATASET --run-dir RUN` with the tiny model and `more`.
std::vector<std::string> tiny_train(const std::string& dataset, const std::string& run,
                                    const std::vector<std::string>& more = {}) {
  return concat(concat(concat({"train", dataset, "--run-dir", run}, kTinyModel), kQuick), more);
}

// Another dataset than tiny_dataset(): one training sequence fewer.
Dataset other_dataset() {
  Dataset data = test::tiny_dataset(Encoding::events);
  data.train.pop_back();
  return data;
}

bool wait_for(const std::function<bool()>& condition, double seconds) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

TEST(RunFolder, OneTrainAtATimeAndAKillReleasesTheLock) {
  test_util::TempDir dir("musegen_run_folder");
  save_dataset(dir.path() / "a.mgds", test::tiny_dataset(Encoding::events));
  // A run far too long to end by itself, checkpointing every step: it is killed below.
  const pid_t holder = spawn_musegen(tiny_train("a.mgds", "run", {"--epochs", "1000000", "--checkpoint-every", "1"}),
                                     dir.path());
  ASSERT_GT(holder, 0);
  const std::string pid = "pid " + std::to_string(holder);
  const bool running = wait_for([&] {
    return read_all(dir.path() / "run/lock").find(pid) != std::string::npos &&
           fs::exists(dir.path() / "run/state.mgstate");
  }, 20);
  if (running) {
    const std::string in_use = "run is in use by musegen train, " + pid + " on ";
    expect_case({"a second run in a folder in use", tiny_train("a.mgds", "run"), 1, in_use, {"run/lock"}},
                dir.path());
    expect_case({"resume while it runs", {"train", "--resume", "--run-dir", "run"}, 1, in_use, {"run/lock"}},
                dir.path());
    // The lock comes before the dataset is read: a busy folder is refused at once, whatever
    // the dataset (here one that does not exist, which would otherwise be the message).
    expect_case({"a second run in a folder in use, on data not yet read", tiny_train("absent.mgds", "run"), 1,
                 in_use, {"run/lock"}},
                dir.path());
  }
  kill(holder, SIGKILL);
  int status = 0;
  waitpid(holder, &status, 0);
  ASSERT_TRUE(running) << "the background train never wrote its lock file and first checkpoint";
  // The kernel released the killed holder's lock: the folder can be taken again.
  EXPECT_NO_THROW(RunLock(RunDir{dir.path() / "run"}, "test"));
}

TEST(RunFolder, ResumeRemovesTheTemporariesOfKilledWrites) {
  test_util::TempDir dir("musegen_run_folder");
  save_dataset(dir.path() / "a.mgds", test::tiny_dataset(Encoding::events));
  expect_case({"a short run", tiny_train("a.mgds", "run", {"--epochs", "1"}), 0, "", {}}, dir.path());
  // What nn::io::write_file_atomically leaves when killed between creating and renaming.
  const std::vector<std::string> stale = {"state.mgstate.tmp-4242-0-1234", "model.safetensors.tmp-4242-1-99",
                                          "best.safetensors.tmp-17-3-5", "metrics.csv.tmp-4242-2-7"};
  // Not temporaries of the run's own files: kept.
  const std::vector<std::string> foreign = {"notes.txt.tmp-1-2-3", "model.safetensors.tmp-draft"};
  for (const auto& name : concat(stale, foreign)) std::ofstream(dir.path() / "run" / name) << "partial";
  expect_case({"resume after killed writes", {"train", "--resume", "--run-dir", "run"}, 0,
               "removed 4 stale temporary files", {"run/state.mgstate", "run/model.safetensors"}},
              dir.path());
  for (const auto& name : stale) EXPECT_FALSE(fs::exists(dir.path() / "run" / name)) << name;
  for (const auto& name : foreign) EXPECT_TRUE(fs::exists(dir.path() / "run" / name)) << name;
}

TEST(RunFolder, ResumeRefusesOtherDataUnlessTheRunPredatesTheHash) {
  test_util::TempDir dir("musegen_run_folder");
  const fs::path a = dir.path() / "a.mgds";
  save_dataset(a, test::tiny_dataset(Encoding::events));
  save_dataset(dir.path() / "b.mgds", other_dataset());
  expect_case({"a short run", tiny_train("a.mgds", "run", {"--epochs", "1"}), 0, "", {}}, dir.path());
  const std::vector<std::string> run_files = {"run/state.mgstate", "run/model.safetensors", "run/metrics.csv"};

  const auto r = expect_case({"resume on another dataset file", {"train", "b.mgds", "--resume", "--run-dir", "run"},
                              1, "cannot resume on b.mgds", run_files},
                             dir.path());
  EXPECT_NE(r.text().find(fs::absolute(a).string()), std::string::npos) << "names the run's dataset:\n" << r.text();
  EXPECT_NE(r.text().find(test::file_hash(a)), std::string::npos) << r.text();

  fs::copy_file(a, dir.path() / "a.original");
  fs::copy_file(dir.path() / "b.mgds", a, fs::copy_options::overwrite_existing);
  expect_case({"resume after the dataset file was rewritten", {"train", "--resume", "--run-dir", "run"}, 1,
               "the run was trained on", run_files},
              dir.path());
  fs::copy_file(dir.path() / "a.original", a, fs::copy_options::overwrite_existing);
  expect_case({"resume on the original data", {"train", "--resume", "--run-dir", "run"}, 0, "", {}}, dir.path());

  // A run folder written before the hash was saved: resumed as it always was, unchecked.
  nn::TrainingState state = nn::load_training_state(dir.path() / "run/state.mgstate");
  ASSERT_EQ(state.strings.erase("options.dataset_sha256"), 1u);
  nn::save_training_state(dir.path() / "run/state.mgstate", state);
  expect_case({"resume of an old run on other data", {"train", "b.mgds", "--resume", "--run-dir", "run"}, 0, "", {}},
              dir.path());
}

TEST(RunFolder, ResumeOnAFileSaysItIsNotAFolder) {
  test_util::TempDir dir("musegen_run_folder");
  std::ofstream(dir.path() / "afile") << "not a run";
  expect_case({"resume with --run-dir naming a file", {"train", "--resume", "--run-dir", "afile"}, 1,
               "afile: not a folder but a regular file", {"afile"}},
              dir.path());
}

// A run folder whose model.safetensors is written as train writes it (with its checksum),
// after `edit` has changed the weights.
void save_run(const fs::path& dir, const std::function<void(MusicModel&)>& edit = {}) {
  const Dataset data = test::tiny_dataset(Encoding::events);
  fs::create_directories(dir);
  save_dataset(dir / "tiny.mgds", data);
  ModelConfig config;
  config.encoding = data.codec.encoding();
  config.vocab = data.codec.vocab_size();
  config.embed = config.hidden = 8;
  config.layers = 1;
  nn::Generator init(7);
  MusicModel model(config, &init);
  if (edit) edit(model);
  auto metadata = config.to_metadata();
  metadata["musegen.dataset"] = fs::absolute(dir / "tiny.mgds").string();
  save_model_weights(model, RunDir{dir}.weights(), metadata);
}

std::vector<std::string> generate(const std::string& run) {
  return {"generate", run, "--steps", "4", "--out", run + ".tokens", "--quiet"};
}

TEST(RunFolder, LoadRefusesDamagedOrNonFiniteWeights) {
  test_util::TempDir dir("musegen_run_folder");
  save_run(dir.path() / "good");
  expect_case({"generate from intact weights", generate("good"), 0, "", {"good/model.safetensors"}}, dir.path());

  // One bit of the last tensor byte flipped, as a failing disk would.
  save_run(dir.path() / "flipped");
  {
    std::fstream file(dir.path() / "flipped/model.safetensors", std::ios::in | std::ios::out | std::ios::binary);
    file.seekg(-1, std::ios::end);
    const char byte = static_cast<char>(file.get() ^ 0x01);
    file.seekp(-1, std::ios::end);
    file.put(byte);
  }
  expect_case({"generate from a damaged weights file", generate("flipped"), 1,
               "flipped/model.safetensors: the tensors do not match the file's checksum", {}},
              dir.path());

  // NaN written by a run whose checksum is right: the weights themselves are unusable.
  const auto poison = [](MusicModel& model) {
    model.state_dict().at("lstm.weight_hh_l0").data_ptr<float>()[3] = std::numeric_limits<float>::quiet_NaN();
  };
  save_run(dir.path() / "nan", poison);
  expect_case({"generate from weights holding NaN", generate("nan"), 1,
               "nan/model.safetensors: tensor \"lstm.weight_hh_l0\" holds 1 non-finite value", {}},
              dir.path());
}

TEST(RunFolder, SizesAreCheckedBeforeAllocating) {
  test_util::TempDir dir("musegen_run_folder");
  save_run(dir.path() / "good");
  // Small enough to build, but not what the tensors hold; and too big to build at all.
  const std::vector<std::pair<std::string, std::string>> crafted = {
      {"5000000", "parameters, but the file's tensors hold"}, {"9999999999", "parameters, more than musegen builds"}};
  for (const auto& [vocab, message] : crafted) {
    const fs::path run = dir.path() / ("vocab" + vocab);
    fs::create_directories(run);
    std::map<std::string, std::string> metadata;
    const nn::NamedTensors tensors = nn::load_safetensors(dir.path() / "good/model.safetensors", &metadata);
    metadata["musegen.vocab"] = vocab;
    nn::save_safetensors(RunDir{run}.weights(), tensors, metadata);
    expect_case({"generate from a crafted vocabulary of " + vocab, generate("vocab" + vocab), 1, message, {}},
                dir.path(), 10);
  }
  save_dataset(dir.path() / "a.mgds", test::tiny_dataset(Encoding::events));
  // Sizes each inside their flag's range (--hidden 1..65536, --layers 1..64) whose model is
  // still too big: the check of the whole model, after the ranges of the flags.
  expect_case({"train a huge hidden size", concat({"train", "a.mgds", "--run-dir", "big", "--hidden", "65536"}, kQuick),
               1, "train: --embed 256 --hidden 65536 --layers 3: the model", {}},
              dir.path(), 10);
  expect_case({"train 64 wide layers",
               concat({"train", "a.mgds", "--run-dir", "deep", "--layers", "64", "--hidden", "4096"}, kQuick),
               1, "parameters, more than musegen builds", {}},
              dir.path(), 10);
  EXPECT_FALSE(fs::exists(dir.path() / "big/state.mgstate"));
}

}  // namespace

namespace {

// --threads changes how fast, never what: a model large enough for libnn to split its GEMMs
// and LSTM steps between threads trains to the same bits on 1 and on 2 threads (the oracle is
// the 1-thread run; docs/libnn.md, "Threads"). Out-of-range values: test_cli_ranges.cpp.
TEST(RunFolder, ThreadsFlagChangesNoBitOfTheWeights) {
  test_util::TempDir dir("musegen_run_folder");
  save_dataset(dir.path() / "a.mgds", test::tiny_dataset(Encoding::events));
  const std::vector<std::string> model = {"--embed", "64", "--hidden", "128", "--layers", "1", "--seq-len", "32",
                                          "--batch", "16", "--max-steps", "3", "--no-tensorboard",
                                          "--sample-steps", "0", "--quiet"};
  for (const std::string threads : {"1", "2"}) {
    expect_case({"train on " + threads + " thread(s)",
                 concat({"train", "a.mgds", "--run-dir", "run" + threads, "--threads", threads}, model), 0, "", {}},
                dir.path());
  }
  const nn::io::StFile one = nn::io::read_safetensors(dir.path() / "run1/model.safetensors");
  const nn::io::StFile two = nn::io::read_safetensors(dir.path() / "run2/model.safetensors");
  ASSERT_EQ(one.tensors.size(), two.tensors.size());
  ASSERT_FALSE(one.tensors.empty());
  for (const nn::io::StTensor& t : one.tensors) {
    const nn::io::StTensor* other = two.find(t.name);
    ASSERT_NE(other, nullptr) << t.name;
    EXPECT_EQ(t.shape, other->shape) << t.name;
    EXPECT_TRUE(t.data == other->data) << t.name << " differs between 1 and 2 threads";
  }
}

}  // namespace
