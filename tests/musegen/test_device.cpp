// --device cpu|cuda|auto (cli/device_option.hpp) and the app on a GPU.
//
// Without a GPU (here, CI): auto picks the CPU and says so on the command's first line; cuda
// fails before any work, with libnn's reason, for every command that takes the flag; --help
// lists it; the default prints nothing new. The CPU's results themselves are the existing
// tests' (test_train's exact resume, test_generate's fixed pieces): this change keeps them.
//
// With a GPU (scripts/gpu-check.sh runs these; they skip without one, saying why), the CPU is
// the oracle: a few training steps give the CPU's losses and weights within float rounding;
// weights trained on one device load and generate on the other; a resumed run on the GPU is
// the uninterrupted one bit for bit; generation's logits and the evaluation's NLL match the
// CPU's within tolerance.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iostream>
#include <libnn/cuda.hpp>
#include <libnn/libnn.hpp>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "../libnn/temp_dir.hpp"
#include "cli.hpp"
#include "commands.hpp"
#include "dataset.hpp"
#include "device_option.hpp"
#include "evaluate.hpp"
#include "generate.hpp"
#include "gpu_memory.hpp"
#include "model.hpp"
#include "particles.hpp"
#include "test_support.hpp"
#include "tiny_run.hpp"
#include "train.hpp"

namespace {

using namespace musegen;
namespace fs = std::filesystem;

#define SKIP_WITHOUT_CUDA()                                            \
  if (!nn::cuda::is_available())                                       \
  GTEST_SKIP() << "no CUDA device (" << nn::cuda::unavailable_reason() \
               << "): the GPU side of --device runs in scripts/gpu-check.sh"

// Runs a subcommand as main() would, with what it writes to std::cerr and std::cout kept.
struct Captured {
  std::string err, out;
};
template <class Command>
Captured run_command(Command command, std::vector<std::string> args) {
  std::ostringstream err, out;
  auto* old_err = std::cerr.rdbuf(err.rdbuf());
  auto* old_out = std::cout.rdbuf(out.rdbuf());
  try {
    command(args);
  } catch (...) {
    std::cerr.rdbuf(old_err);
    std::cout.rdbuf(old_out);
    throw;
  }
  std::cerr.rdbuf(old_err);
  std::cout.rdbuf(old_out);
  return {err.str(), out.str()};
}

std::string first_line(const std::string& text) { return text.substr(0, text.find('\n')); }

// What --device auto must say on this machine.
std::string expected_auto_line() {
  if (nn::cuda::is_available()) return "device: cuda:0 (--device auto)";
  return "device: cpu (--device auto: no CUDA device: " + nn::cuda::unavailable_reason() + ")";
}

// --- the option, on any machine ----------------------------------------------------------

TEST(DeviceOption, CpuIsTheDefaultAndPrintsNothing) {
  std::string device = "cpu";
  cli::Parser p("demo", "[options]", "A parser for tests.");
  cli::add_device_option(p, device);
  std::ostringstream help;
  ASSERT_TRUE(p.parse(std::vector<std::string>{}, help));
  std::ostringstream log;
  EXPECT_EQ(cli::choose_device(device, &log), nn::Device::cpu());
  EXPECT_EQ(log.str(), "");
}

TEST(DeviceOption, AutoPicksWhatThereIsAndSaysSo) {
  std::ostringstream log;
  const nn::Device chosen = cli::choose_device("auto", &log);
  EXPECT_EQ(chosen, nn::cuda::is_available() ? nn::Device::cuda(0) : nn::Device::cpu());
  EXPECT_EQ(log.str(), expected_auto_line() + "\n");
  EXPECT_EQ(cli::choose_device("auto", nullptr), chosen);  // null log (--quiet): nothing said
}

TEST(DeviceOption, AnotherNameIsAUsageErrorNamingTheChoices) {
  try {
    cli::choose_device("gpu", nullptr);
    FAIL() << "--device gpu was accepted";
  } catch (const cli::UsageError& e) {
    EXPECT_EQ(std::string(e.what()), "--device: expected cpu, cuda or auto, found \"gpu\"");
  }
}

TEST(DeviceOption, CudaWithoutAGpuFailsWithLibnnsReason) {
  if (nn::cuda::is_available()) GTEST_SKIP() << "this machine has a GPU: --device cuda works";
  try {
    cli::choose_device("cuda", &std::cerr);
    FAIL() << "--device cuda was accepted without a GPU";
  } catch (const cli::UsageError&) {
    FAIL() << "not a usage error: the command line is right, the machine lacks the device";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()),
              "--device cuda: no CUDA device: " + nn::cuda::unavailable_reason());
    EXPECT_FALSE(nn::cuda::unavailable_reason().empty());
  }
}

// Every command that runs the model takes --device, and --help says so.
TEST(DeviceOption, EveryModelCommandListsItInHelp) {
  const std::vector<std::pair<const char*, int (*)(Args)>> commands = {
      {"train", cmd_train},
      {"generate", cmd_generate},
      {"eval", cmd_eval},
      {"accompany", cmd_accompany}};
  for (const auto& [name, command] : commands) {
    const Captured c = run_command(command, {"--help"});
    EXPECT_NE(c.out.find("--device NAME"), std::string::npos) << name << " --help:\n" << c.out;
    EXPECT_NE(c.out.find("cpu, cuda"), std::string::npos) << name;
  }
}

// Before any work: the paths given do not exist, so any other first step would fail on them
// with another message.
TEST(DeviceOption, CudaWithoutAGpuFailsFirstInEveryCommand) {
  if (nn::cuda::is_available()) GTEST_SKIP() << "this machine has a GPU: --device cuda works";
  const std::string expected = "--device cuda: no CUDA device: " + nn::cuda::unavailable_reason();
  const std::vector<std::pair<int (*)(Args), std::vector<std::string>>> runs = {
      {cmd_train, {"/nonexistent/data.mgds", "--run-dir", "/nonexistent/run", "--device", "cuda"}},
      {cmd_generate, {"/nonexistent/run", "--device", "cuda"}},
      {cmd_eval, {"--checkpoint", "/nonexistent/run", "--device", "cuda"}},
      {cmd_accompany,
       {"/nonexistent/run", "/nonexistent/in.mid", "--keep", "0", "--out", "/nonexistent/out.mid",
        "--device", "cuda"}},
  };
  for (const auto& [command, args] : runs) {
    try {
      run_command(command, args);
      FAIL() << args[0] << ": --device cuda was accepted without a GPU";
    } catch (const std::exception& e) {
      EXPECT_EQ(std::string(e.what()), expected) << "after " << args[0];
    }
  }
}

#ifdef MUSEGEN_EXE
// The program itself: the message on stderr and exit status 1, at once.
TEST(DeviceOption, TheProgramExitsNonZeroWithTheMessage) {
  if (nn::cuda::is_available()) GTEST_SKIP() << "this machine has a GPU: --device cuda works";
  for (const std::string command :
       {"train /nonexistent.mgds", "generate /nonexistent", "eval --checkpoint /nonexistent"}) {
    std::string output;
    const bool ok = test::run_capture(
        std::string(MUSEGEN_EXE) + " " + command + " --device cuda 2>&1; echo \"exit $?\"", output);
    ASSERT_TRUE(ok);
    EXPECT_NE(output.find("--device cuda: no CUDA device: "), std::string::npos) << command << ":\n"
                                                                                 << output;
    EXPECT_NE(output.find("exit 1"), std::string::npos) << command << ":\n" << output;
  }
}
#endif

// The first line of generate, train and eval with --device auto; the default says nothing of it.
TEST(DeviceOption, AutoIsTheFirstLineOfGenerateTrainAndEval) {
  test_util::TempDir tmp;
  ModelConfig config;
  config.embed = 8;
  config.hidden = 12;
  config.layers = 1;
  const fs::path run =
      test::save_tiny_run(tmp.path() / "run", test::tiny_dataset(Encoding::events), config);
  const std::string out = (tmp.path() / "out.tokens").string();

  Captured g =
      run_command(cmd_generate, {run.string(), "--steps", "3", "--out", out, "--device", "auto"});
  EXPECT_EQ(first_line(g.err), expected_auto_line()) << g.err;
  g = run_command(cmd_generate, {run.string(), "--steps", "3", "--out", out});
  EXPECT_EQ(g.err.find("device:"), std::string::npos) << g.err;

  const Captured t = run_command(
      cmd_train, {(run / "tiny.mgds").string(), "--run-dir", (tmp.path() / "trained").string(),
                  "--embed", "8", "--hidden", "12", "--layers", "1", "--max-steps", "1", "--epochs",
                  "1", "--no-tensorboard", "--device", "auto"});
  EXPECT_EQ(first_line(t.err), expected_auto_line()) << t.err;

  const Captured e =
      run_command(cmd_eval, {"--checkpoint", run.string(), "--split", "valid", "--device", "auto"});
  EXPECT_EQ(first_line(e.err), expected_auto_line()) << e.err;
  EXPECT_NE(e.out.find("nats per token"), std::string::npos) << e.out;
}

TEST(GpuMemory, OutOfMemoryIsRecognisedAndTurnedIntoAdvice) {
  // libnn's allocator's own words (src/cuda/allocator.cu) and cuBLAS's.
  EXPECT_TRUE(
      is_out_of_memory(nn::Error("CUDA out of memory on cuda:0: tried to allocate 2.0 MiB")));
  EXPECT_TRUE(is_out_of_memory(nn::Error("cublasGemmEx failed: CUBLAS_STATUS_ALLOC_FAILED")));
  EXPECT_FALSE(is_out_of_memory(nn::Error("matmul: expected b of shape (4,N), got (5,3)")));
  const std::string message =
      out_of_memory_message(nn::Device::cpu(), "step 3", "try a smaller --batch",
                            nn::Error("CUDA out of memory on cuda:0"));
  EXPECT_EQ(
      message,
      "out of memory at step 3: try a smaller --batch; libnn said: CUDA out of memory on cuda:0");
  EXPECT_EQ(gpu_memory_field(nn::Device::cpu()), "");
}

// --- on a GPU: the CPU is the oracle ---------------------------------------------------------

// Twelve token sequences of a learnable pattern, three for validation.
fs::path write_dataset(const fs::path& dir, Encoding encoding) {
  Dataset data = test::tiny_dataset(encoding);
  const fs::path file = dir / "data.mgds";
  save_dataset(file, data);
  return file;
}

TrainOptions small_run(const fs::path& dataset, const fs::path& run_dir, nn::Device device) {
  TrainOptions o;
  o.dataset = dataset;
  o.run_dir = run_dir;
  o.embed = 8;
  o.hidden = 16;
  o.layers = 2;
  o.dropout = 0.2;  // dropout masks are the same bits on both devices (docs/libnn.md)
  o.seq_len = 7;
  o.batch = 3;
  o.epochs = 2;
  o.warmup = 2;
  o.lr = 1e-2;
  o.log_seconds = 0;
  o.checkpoint_every = 0;
  o.quiet = true;
  o.tensorboard = false;
  o.device = device;
  return o;
}

std::vector<double> column(const fs::path& metrics, std::size_t index) {
  std::ifstream in(metrics);
  std::string line;
  std::getline(in, line);  // header
  std::vector<double> values;
  while (std::getline(in, line)) {
    std::vector<std::string> cells;
    std::stringstream s(line);
    std::string cell;
    while (std::getline(s, cell, ',')) cells.push_back(cell);
    if (cells.size() > index && !cells[index].empty()) values.push_back(std::stod(cells[index]));
  }
  return values;
}

// The largest and the mean |a - b| over two models' tensors of the same names (read to the host).
std::pair<double, double> weight_differences(const MusicModel& a, const MusicModel& b) {
  double largest = 0, sum = 0;
  std::size_t n = 0;
  const nn::NamedTensors wb = b.state_dict();
  for (const auto& [name, ta] : a.state_dict()) {
    const std::vector<float> x = ta.to(nn::Device::cpu()).to_vector<float>();
    const std::vector<float> y = wb.find(name)->to(nn::Device::cpu()).to_vector<float>();
    for (std::size_t i = 0; i < x.size(); ++i) {
      const double d = std::abs(static_cast<double>(x[i]) - y[i]);
      largest = std::max(largest, d);
      sum += d;
      ++n;
    }
  }
  return {largest, n > 0 ? sum / static_cast<double>(n) : 0.0};
}

// The model's logits over a fixed token sequence, on the host.
std::vector<float> logits_of(MusicModel& model, std::int64_t vocab) {
  nn::NoGradGuard no_grad;
  std::vector<std::int64_t> tokens;
  for (std::int64_t i = 0; i < 20; ++i) tokens.push_back((i * 7 + 3) % vocab);
  const nn::Tensor input =
      nn::from_vector(tokens, {20, 1}, nn::TensorOptions(nn::DType::Int64).device(model.device()));
  auto [logits, state] = model.forward(input);
  return logits.to(nn::Device::cpu()).to_vector<float>();
}

double largest_difference(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  double largest = 0;
  for (std::size_t i = 0; i < std::min(a.size(), b.size()); ++i)
    largest = std::max(largest, std::abs(static_cast<double>(a[i]) - b[i]));
  return largest;
}

TEST(DeviceCuda, TrainingStepsGiveTheCpusLossesAndWeights) {
  SKIP_WITHOUT_CUDA();
  test_util::TempDir tmp;
  const fs::path dataset = write_dataset(tmp.path(), Encoding::events);
  std::ostringstream log;
  const TrainResult cpu = train(small_run(dataset, tmp.path() / "cpu", nn::Device::cpu()), log);
  const TrainResult gpu = train(small_run(dataset, tmp.path() / "gpu", nn::Device::cuda()), log);
  ASSERT_EQ(cpu.steps, gpu.steps);
  ASSERT_GT(cpu.steps, 5);
  // metrics.csv's train_loss (column 3) per step, and the validation losses.
  const std::vector<double> a = column(tmp.path() / "cpu" / "metrics.csv", 3);
  const std::vector<double> b = column(tmp.path() / "gpu" / "metrics.csv", 3);
  ASSERT_EQ(a.size(), b.size());
  ASSERT_FALSE(a.empty());
  // The first step: the same weights, batch and dropout masks, so only the sums' order
  // differs. Later steps drift further: AdamW divides each gradient by its own running size,
  // so a gradient near zero whose sign the rounding flips moves its weight by up to lr.
  EXPECT_NEAR(a[0], b[0], 1e-5 * std::abs(a[0])) << "the first step's loss";
  for (std::size_t i = 1; i < a.size(); ++i)
    EXPECT_NEAR(a[i], b[i], 2e-3 * std::abs(a[i])) << "row " << i;
  EXPECT_NEAR(cpu.best_valid_loss, gpu.best_valid_loss, 2e-3 * cpu.best_valid_loss);
  const LoadedModel wa = load_model(tmp.path() / "cpu" / "model.safetensors");
  const LoadedModel wb = load_model(tmp.path() / "gpu" / "model.safetensors");
  const auto [largest, mean] = weight_differences(*wa.model, *wb.model);
  EXPECT_LT(mean, 1e-4) << "the mean |difference| of the final weights";
  EXPECT_LT(largest, 0.1) << "the largest |difference| of the final weights (lr 1e-2, " << cpu.steps
                          << " steps)";
}

// Weights trained on the GPU are written as host tensors: the file loads on the CPU (and the
// CPU's on the GPU), and the two devices give the same logits within float rounding.
TEST(DeviceCuda, WeightsTrainedOnOneDeviceGenerateOnTheOther) {
  SKIP_WITHOUT_CUDA();
  test_util::TempDir tmp;
  const fs::path dataset = write_dataset(tmp.path(), Encoding::events);
  std::ostringstream log;
  for (const nn::Device trained_on : {nn::Device::cuda(), nn::Device::cpu()}) {
    const fs::path run = tmp.path() / trained_on.str();
    train(small_run(dataset, run, trained_on), log);
    const LoadedModel on_cpu = load_model(run, nn::Device::cpu());
    const LoadedModel on_gpu = load_model(run, nn::Device::cuda());
    EXPECT_EQ(on_gpu.model->device(), nn::Device::cuda());
    const std::int64_t V = on_cpu.model->config().vocab;
    EXPECT_LT(largest_difference(logits_of(*on_cpu.model, V), logits_of(*on_gpu.model, V)), 1e-4)
        << "trained on " << trained_on.str();
    for (const LoadedModel* loaded : {&on_cpu, &on_gpu}) {
      Sequence primer = Sequence::of_tokens("primer");
      primer.tokens = {1, 2, 3};
      GenerateOptions g;
      g.steps = 24;
      const GenerateResult r = generate(*loaded->model, primer, g);
      EXPECT_EQ(r.generated, 24);
      EXPECT_EQ(r.sequence.tokens.size(), 27u);
    }
  }
}

// Plain sampling on the GPU runs whole on the device (nn::LSTMTokenLoop, CUDA graphs): the
// same draws as the host sampler on the same GPU's logits, so the same piece while no draw
// falls within float rounding of a boundary; and it stops and reports progress per chunk.
TEST(DeviceCuda, DeviceSamplingDrawsTheHostSamplersTokens) {
  SKIP_WITHOUT_CUDA();
  test_util::TempDir tmp;
  ModelConfig config;
  config.embed = 16;
  config.hidden = 32;
  config.layers = 2;
  const fs::path run =
      test::save_tiny_run(tmp.path() / "events", test::tiny_dataset(Encoding::events), config);
  LoadedModel gpu = load_model(run, nn::Device::cuda());
  Sequence primer = Sequence::of_tokens("primer");
  primer.tokens = {5, 9, 11, 2};
  for (const nn::DType weights : {nn::DType::Float32, nn::DType::Float16}) {
    GenerateOptions g;
    g.steps = 150;  // two chunks of 64 and a rest
    g.weights = weights;
    g.sample.top_p = 1.0;
    g.sample.temperature = 1.2;
    std::vector<std::int64_t> progress;
    g.progress = [&](const ProgressUpdate& p) { progress.push_back(p.done); };
    const GenerateResult device = generate(*gpu.model, primer, g);
    g.device_sampling = false;
    g.progress = nullptr;
    const GenerateResult host = generate(*gpu.model, primer, g);
    EXPECT_EQ(device.generated, 150);
    EXPECT_EQ(progress, (std::vector<std::int64_t>{64, 128, 150}));
    EXPECT_EQ(device.sequence.tokens, host.sequence.tokens);
  }
}

// Generation's per-step logits (the stepper on the GPU against the CPU's), fed the same tokens.
TEST(DeviceCuda, GenerationLogitsMatchTheCpus) {
  SKIP_WITHOUT_CUDA();
  test_util::TempDir tmp;
  for (const Encoding encoding : {Encoding::events, Encoding::roll}) {
    ModelConfig config;
    config.embed = 16;
    config.hidden = 32;
    config.layers = 2;
    const fs::path run = test::save_tiny_run(tmp.path() / encoding_name(encoding),
                                             test::tiny_dataset(encoding), config);
    LoadedModel cpu = load_model(run, nn::Device::cpu());
    LoadedModel gpu = load_model(run, nn::Device::cuda());
    // A rule that records the logits of every step and then lets the sampler draw: the logits
    // generate() itself computed (token models).
    struct Recorder final : TokenRule {
      std::vector<std::vector<float>> seen;
      std::int32_t next(std::span<const std::int32_t>, std::span<float> logits) override {
        seen.emplace_back(logits.begin(), logits.end());
        return kSample;
      }
    };
    if (encoding == Encoding::roll) {
      Sequence primer = test::synthetic_sequence(encoding, 6, kRollKeys, 9);
      GenerateOptions g;
      g.steps = 16;
      const GenerateResult a = generate(*cpu.model, primer, g), b = generate(*gpu.model, primer, g);
      EXPECT_EQ(b.generated, 16);
      // Untrained logits are far from the draws' thresholds: the frames agree.
      std::int64_t same = 0;
      for (std::size_t i = 0; i < a.sequence.frames.size(); ++i)
        same += a.sequence.frames[i] == b.sequence.frames[i];
      EXPECT_GE(static_cast<double>(same), 0.99 * static_cast<double>(a.sequence.frames.size()));
      continue;
    }
    auto ra = std::make_shared<Recorder>(), rb = std::make_shared<Recorder>();
    Sequence primer = Sequence::of_tokens("primer");
    primer.tokens = {5, 9, 11, 2};
    GenerateOptions g;
    g.steps = 32;
    g.rule = ra;
    const GenerateResult a = generate(*cpu.model, primer, g);
    g.rule = rb;
    const GenerateResult b = generate(*gpu.model, primer, g);
    ASSERT_EQ(ra->seen.size(), rb->seen.size());
    // Compared while the pieces agree (afterwards the inputs differ).
    std::size_t compared = 0;
    for (std::size_t i = 0; i < ra->seen.size(); ++i) {
      EXPECT_LT(largest_difference(ra->seen[i], rb->seen[i]), 1e-4) << "step " << i;
      ++compared;
      if (a.sequence.tokens[primer.tokens.size() + i] !=
          b.sequence.tokens[primer.tokens.size() + i])
        break;
    }
    EXPECT_GE(compared, 8u) << "the pieces parted after " << compared << " steps";
  }
}

TEST(DeviceCuda, ResumedRunOnTheGpuIsTheWholeRunBitForBit) {
  SKIP_WITHOUT_CUDA();
  test_util::TempDir tmp;
  const fs::path dataset = write_dataset(tmp.path(), Encoding::events);
  std::ostringstream log;
  const TrainResult whole =
      train(small_run(dataset, tmp.path() / "whole", nn::Device::cuda()), log);
  TrainOptions first = small_run(dataset, tmp.path() / "parts", nn::Device::cuda());
  first.stop_after_step = whole.steps / 2;
  ASSERT_TRUE(train(first, log).interrupted);
  TrainOptions second;
  second.run_dir = first.run_dir;
  second.resume = true;
  second.quiet = true;
  second.log_seconds = 0;
  second.tensorboard = false;
  second.device = nn::Device::cuda();
  const TrainResult resumed = train(second, log);
  EXPECT_EQ(resumed.steps, whole.steps);
  EXPECT_EQ(column(tmp.path() / "whole" / "metrics.csv", 3),
            column(tmp.path() / "parts" / "metrics.csv", 3));
  const auto bytes = [](const fs::path& f) {
    std::ifstream in(f, std::ios::binary);
    return std::vector<char>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  };
  EXPECT_EQ(bytes(tmp.path() / "whole" / "model.safetensors"),
            bytes(tmp.path() / "parts" / "model.safetensors"))
      << "the resumed GPU run ends with other weights";
  EXPECT_DOUBLE_EQ(whole.best_valid_loss, resumed.best_valid_loss);
}

TEST(DeviceCuda, EvaluationNllMatchesTheCpus) {
  SKIP_WITHOUT_CUDA();
  test_util::TempDir tmp;
  for (const Encoding encoding : {Encoding::events, Encoding::roll}) {
    ModelConfig config;
    config.embed = 16;
    config.hidden = 32;
    config.layers = 2;
    const Dataset data = test::tiny_dataset(encoding);
    const fs::path run = test::save_tiny_run(tmp.path() / encoding_name(encoding), data, config);
    LoadedModel cpu = load_model(run, nn::Device::cpu());
    LoadedModel gpu = load_model(run, nn::Device::cuda());
    for (const std::int64_t window : {0, 5}) {
      const NllResult a = evaluate_nll(*cpu.model, data.valid, window, 2);
      const NllResult b = evaluate_nll(*gpu.model, data.valid, window, 2);
      EXPECT_EQ(a.predictions, b.predictions);
      EXPECT_NEAR(a.mean(), b.mean(), 1e-5 * a.mean())
          << encoding_name(encoding) << ", window " << window;
    }
  }
}

// accompany --particles: the slots (several sequences stepped at once, their states kept on
// the host between steps) give the CPU's logits on the GPU, reordered or not.
TEST(DeviceCuda, ParticleSlotsMatchTheCpus) {
  SKIP_WITHOUT_CUDA();
  test_util::TempDir tmp;
  ModelConfig config;
  config.embed = 16;
  config.hidden = 32;
  config.layers = 2;
  const fs::path run =
      test::save_tiny_run(tmp.path() / "run", test::tiny_dataset(Encoding::events), config);
  LoadedModel cpu = load_model(run, nn::Device::cpu());
  LoadedModel gpu = load_model(run, nn::Device::cuda());
  const auto a = model_slots(*cpu.model, 3), b = model_slots(*gpu.model, 3);
  const std::vector<std::int32_t> primer = {4, 8, 15, 16};
  a->start(primer);
  b->start(primer);
  const std::size_t V = static_cast<std::size_t>(a->vocab());
  std::vector<float> la(2 * V), lb(2 * V);
  const std::vector<int> slots = {0, 2};
  for (const std::vector<std::int32_t>& tokens :
       {std::vector<std::int32_t>{23, 42}, std::vector<std::int32_t>{7, 9}}) {
    a->step(slots, tokens, la);
    b->step(slots, tokens, lb);
    EXPECT_LT(largest_difference(la, lb), 1e-4);
    const std::vector<int> source = {2, 0, 1};
    a->reorder(source);
    b->reorder(source);
  }
}

// A run whose activations cannot fit any GPU (8 windows of 200,000 steps at H = 4096: the
// LSTM's gates alone are 105 GB) ends with the advice, not libnn's bare allocation error.
TEST(DeviceCuda, OutOfMemorySaysToLowerTheBatch) {
  SKIP_WITHOUT_CUDA();
  test_util::TempDir tmp;
  Dataset data;
  data.codec = Codec::events(CodecParams{});
  const std::int64_t V = data.codec.vocab_size();
  for (std::uint64_t i = 0; i < 8; ++i)
    data.train.push_back(test::synthetic_sequence(Encoding::events, 200'001, V, i));
  const fs::path dataset = tmp.path() / "long.mgds";
  save_dataset(dataset, data);
  TrainOptions o = small_run(dataset, tmp.path() / "run", nn::Device::cuda());
  o.embed = 64;
  o.hidden = 4096;
  o.layers = 1;
  o.seq_len = 200'000;
  o.batch = 8;
  o.epochs = 1;
  std::ostringstream log;
  try {
    train(o, log);
    FAIL() << "a step needing over 100 GB trained on the GPU";
  } catch (const std::runtime_error& e) {
    const std::string what = e.what();
    EXPECT_EQ(what.rfind("out of GPU memory at step 1 (", 0), 0u) << what;
    EXPECT_NE(what.find("try a smaller --batch (this run: 8)"), std::string::npos) << what;
    EXPECT_NE(what.find("libnn said: "), std::string::npos) << what;
  }
  // Everything the failed step held went with it: the GPU is usable again.
  EXPECT_LT(gpu_gib_in_use(nn::Device::cuda()), 1.0);
}

// The progress line's memory field reads the allocator's books.
TEST(DeviceCuda, MemoryFieldShowsTheTensorsHeld) {
  SKIP_WITHOUT_CUDA();
  const nn::Tensor held =
      nn::zeros({256, 1024, 1024}, nn::TensorOptions().device(nn::Device::cuda()));  // 1 GiB
  EXPECT_GE(gpu_gib_in_use(nn::Device::cuda()), 1.0);
  EXPECT_EQ(gpu_memory_field(nn::Device::cuda()).rfind("GPU ", 0), 0u);
}

}  // namespace
