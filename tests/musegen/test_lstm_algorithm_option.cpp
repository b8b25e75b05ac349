// --lstm-algorithm (cli/device_option.hpp): parsed, checked, handed to libnn
// (nn::cuda::set_lstm_algorithm), and said when it matters. No GPU needed: the algorithms
// themselves are tests/libnn/cuda/test_cuda_lstm_algorithms.cpp's.
#include <gtest/gtest.h>

#include <iostream>
#include <libnn/cuda.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "cli.hpp"
#include "commands.hpp"
#include "device_option.hpp"

namespace {

using namespace musegen;

// Puts libnn's algorithm back to auto when a test ends.
struct ResetAlgorithm {
  ~ResetAlgorithm() { nn::cuda::set_lstm_algorithm(nn::cuda::LstmAlgorithm::Auto); }
};

TEST(LstmAlgorithmOption, ParsedAndHandedToLibnn) {
  ResetAlgorithm reset;
  for (const std::string name : {"stepwise", "persistent", "cudnn", "auto"}) {
    std::string algorithm = "auto";
    cli::Parser p("demo", "[options]", "A parser for tests.");
    cli::add_lstm_algorithm_option(p, algorithm);
    std::ostringstream help;
    ASSERT_TRUE(p.parse(std::vector<std::string>{"--lstm-algorithm", name}, help));
    EXPECT_EQ(algorithm, name);
    std::ostringstream log;
    cli::apply_lstm_algorithm(algorithm, nn::Device::cuda(0), &log);
    EXPECT_EQ(nn::cuda::lstm_algorithm_name(nn::cuda::lstm_algorithm()), name);
    EXPECT_EQ(log.str(), name == "auto" ? "" : "lstm: " + name + " (--lstm-algorithm)\n");
  }
}

TEST(LstmAlgorithmOption, OnTheCpuSaysItHasNoEffect) {
  ResetAlgorithm reset;
  std::ostringstream log;
  cli::apply_lstm_algorithm("persistent", nn::Device::cpu(), &log);
  EXPECT_EQ(log.str(), "lstm: --lstm-algorithm persistent has no effect on the cpu\n");
  cli::apply_lstm_algorithm("cudnn", nn::Device::cpu(), nullptr);  // --quiet: nothing said
}

TEST(LstmAlgorithmOption, AnotherNameIsAUsageErrorNamingTheChoices) {
  ResetAlgorithm reset;
  try {
    cli::apply_lstm_algorithm("fused", nn::Device::cpu(), nullptr);
    FAIL() << "--lstm-algorithm fused was accepted";
  } catch (const cli::UsageError& e) {
    EXPECT_EQ(std::string(e.what()),
              "--lstm-algorithm: expected auto, stepwise, persistent or cudnn, found \"fused\"");
  }
  EXPECT_EQ(nn::cuda::lstm_algorithm(), nn::cuda::LstmAlgorithm::Auto);
}

TEST(LstmAlgorithmOption, TrainHelpListsIt) {
  std::ostringstream out;
  auto* old_out = std::cout.rdbuf(out.rdbuf());
  const std::vector<std::string> args{"--help"};
  int status = -1;
  try {
    status = cmd_train(args);
  } catch (...) {
    std::cout.rdbuf(old_out);
    throw;
  }
  std::cout.rdbuf(old_out);
  EXPECT_EQ(status, 0);
  EXPECT_NE(out.str().find("--lstm-algorithm NAME"), std::string::npos) << out.str();
}

}  // namespace
