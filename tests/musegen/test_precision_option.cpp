// --precision fp32|tf32|bf16 of `musegen train` and `gan-train` (train/precision.hpp): parsed,
// refused with a clear message when bad or on the CPU, saved with the run's options and kept on
// --resume, and handed to libnn for the run only. No GPU needed: what the precisions compute is
// tests/libnn/cuda's (test_cuda_tensor.cpp, test_cuda_lstm_precision.cpp).
#include <gtest/gtest.h>

#include <filesystem>
#include <iostream>
#include <libnn/libnn.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "../libnn/temp_dir.hpp"
#include "cli.hpp"
#include "cli_table.hpp"
#include "commands.hpp"
#include "device_option.hpp"
#include "precision.hpp"
#include "tiny_run.hpp"
#include "train.hpp"

namespace {

namespace fs = std::filesystem;
using namespace musegen;
using test::expect_case;

TEST(PrecisionOption, NamesMapToLibnnsSettings) {
  EXPECT_EQ(matmul_precision_for("fp32"), nn::MatmulPrecision::Highest);
  EXPECT_EQ(matmul_precision_for("tf32"), nn::MatmulPrecision::High);
  EXPECT_EQ(matmul_precision_for("bf16"), nn::MatmulPrecision::Medium);
  for (const std::string name : {"fp32", "tf32", "bf16"}) {
    EXPECT_NO_THROW(cli::check_precision_option(name)) << name;
    EXPECT_NO_THROW(check_precision(name, nn::Device::cuda(0))) << name;
  }
  EXPECT_NO_THROW(check_precision("fp32", nn::Device::cpu()));
}

TEST(PrecisionOption, AnotherNameIsAUsageErrorNamingTheChoices) {
  for (const std::string bad : {"fp16", "BF16", "", "medium"}) {
    try {
      cli::check_precision_option(bad);
      FAIL() << "--precision " << bad << " was accepted";
    } catch (const cli::UsageError& e) {
      EXPECT_EQ(std::string(e.what()),
                "--precision: expected fp32, tf32 or bf16, found \"" + bad + "\"");
    }
  }
}

TEST(PrecisionOption, Tf32AndBf16OnTheCpuAreRefusedSayingWhy) {
  for (const std::string name : {"tf32", "bf16"}) {
    try {
      check_precision(name, nn::Device::cpu());
      FAIL() << "--precision " << name << " on the cpu was accepted";
    } catch (const std::invalid_argument& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find("--precision " + name + " needs a GPU"), std::string::npos) << msg;
      EXPECT_NE(msg.find("float32 only"), std::string::npos) << msg;
    }
  }
}

TEST(PrecisionOption, TrainAndGanTrainHelpListIt) {
  for (auto* command : {&cmd_train, &cmd_gan_train}) {
    std::ostringstream out;
    auto* old_out = std::cout.rdbuf(out.rdbuf());
    int status = -1;
    try {
      status = (*command)(std::vector<std::string>{"--help"});
    } catch (...) {
      std::cout.rdbuf(old_out);
      throw;
    }
    std::cout.rdbuf(old_out);
    EXPECT_EQ(status, 0);
    EXPECT_NE(out.str().find("--precision NAME"), std::string::npos) << out.str();
    EXPECT_NE(out.str().find("bf16"), std::string::npos) << out.str();
  }
}

// Through the binary: the errors a user meets, and the saved option.
TEST(PrecisionOption, TheBinaryRefusesBadValuesAndTheCpuAndSavesTheRunsPrecision) {
  test_util::TempDir dir("musegen_precision");
  save_dataset(dir.path() / "a.mgds", test::tiny_dataset(Encoding::events));
  const std::vector<std::string> tiny = {
      "train",    "a.mgds",  "--run-dir",        "run",
      "--embed",  "8",       "--hidden",         "8",
      "--layers", "1",       "--seq-len",        "8",
      "--batch",  "4",       "--no-tensorboard", "--sample-steps",
      "0",        "--quiet", "--epochs",         "1"};
  auto with = [&](std::vector<std::string> more) {
    std::vector<std::string> args = tiny;
    args.insert(args.end(), more.begin(), more.end());
    return args;
  };
  expect_case({"a bad --precision",
               with({"--precision", "fp16"}),
               2,
               "--precision: expected fp32, tf32 or bf16, found \"fp16\"",
               {"a.mgds"}},
              dir.path());
  expect_case({"bf16 on the cpu",
               with({"--precision", "bf16", "--device", "cpu"}),
               1,
               "--precision bf16 needs a GPU",
               {"a.mgds"}},
              dir.path());
  EXPECT_FALSE(fs::exists(dir.path() / "run")) << "refused before the run folder was made";
  expect_case({"gan-train: bf16 on the cpu",
               {"gan-train", "a.mgds", "--run-dir", "gan", "--precision", "tf32"},
               1,
               "--precision tf32 needs a GPU",
               {"a.mgds"}},
              dir.path());

  expect_case({"an fp32 run", with({"--precision", "fp32"}), 0, "", {}}, dir.path());
  const fs::path state_file = dir.path() / "run/state.mgstate";
  nn::TrainingState state = nn::load_training_state(state_file);
  std::string keys;
  for (const auto& [key, value] : state.strings) keys += " " + key;
  ASSERT_TRUE(state.strings.contains("options.precision")) << "saved strings:" << keys;
  EXPECT_EQ(state.strings.at("options.precision"), "fp32");
  expect_case({"--precision cannot change on resume",
               {"train", "--resume", "--run-dir", "run", "--precision", "bf16"},
               2,
               "--precision cannot change when resuming",
               {"run/state.mgstate"}},
              dir.path());

  // A run saved as bf16 (on a GPU) resumed on the CPU: refused, naming the saved precision.
  state.strings["options.precision"] = "bf16";
  nn::save_training_state(state_file, state);
  expect_case({"resume a bf16 run on the cpu",
               {"train", "--resume", "--run-dir", "run"},
               1,
               "--precision bf16 needs a GPU",
               {"run/state.mgstate"}},
              dir.path());

  // A run from before --precision existed resumes as the fp32 run it was (without the
  // default, the missing key would be an error: "not a musegen training state").
  state.strings.erase("options.precision");
  nn::save_training_state(state_file, state);
  expect_case({"resume a run saved without a precision",
               {"train", "--resume", "--run-dir", "run"},
               0,
               "",
               {}},
              dir.path());
}

// train() sets libnn's precision for the run only: the caller's setting is back afterwards,
// after a run and after a refused one.
TEST(PrecisionOption, TrainLeavesTheCallersSettingAsItWas) {
  test_util::TempDir dir("musegen_precision_scope");
  save_dataset(dir.path() / "a.mgds", test::tiny_dataset(Encoding::events));
  const nn::Float32MatmulPrecisionGuard caller(nn::MatmulPrecision::High);
  TrainOptions o;
  o.dataset = dir.path() / "a.mgds";
  o.run_dir = dir.path() / "run";
  o.embed = o.hidden = 8;
  o.layers = 1;
  o.seq_len = 8;
  o.batch = 4;
  o.epochs = 1;
  o.tensorboard = false;
  o.sample_steps = 0;
  o.quiet = true;
  o.handle_sigint = false;
  o.precision = "fp32";
  std::ostringstream log;
  train(o, log);
  EXPECT_EQ(nn::float32_matmul_precision(), nn::MatmulPrecision::High);
  o.run_dir = dir.path() / "run2";
  o.precision = "bf16";
  EXPECT_THROW(train(o, log), std::invalid_argument);
  EXPECT_EQ(nn::float32_matmul_precision(), nn::MatmulPrecision::High);
}

}  // namespace
