// bench_lstm_cuda: one LSTM layer on the GPU, forward + backward, with each of libnn's CUDA
// algorithms (nn::cuda::set_lstm_algorithm: stepwise, persistent, cudnn), at T = 100 and
// batch 1, 16, 64, 256 x hidden 256, 512, 1024 (input size = hidden), in fp32 and bf16
// (--precisions fp32,tf32,bf16: nn::set_float32_matmul_precision "highest", "high", "medium";
// docs/libnn.md, "Matrix product precision"; the tensors are float32 in all). Timed with
// CUDA events on libnn's current stream: `--reps` forward + backward passes after `--warmup`,
// the mean per pass. PyTorch's cuDNN LSTM at the same shapes is benches/lstm_cudnn_torch.py
// (the yardstick); scripts/gpu-check.sh runs both and prints them side by side.
//
// Each row says what really ran (nn::cuda::last_lstm_run(): "stepwise (persistent does not
// fit: ...)" when a shape falls back), so a fallback is never timed under another name.
//
// --generate: batch-1 generation instead, Embedding(360,H) -> --layers (3) x LSTM(H) ->
// Linear(H,360) per --hidden, float32 and float16 weights, three ways: "stepper" (per token
// nn::LSTMStepper::step_tokens + the head, no sampling, one CUDA-event interval over the
// tokens), "loop-eager" and "loop-graph" (nn::LSTMTokenLoop, sampling included: every kernel
// launched per token, or a CUDA graph of 16 tokens replayed; 64 tokens per call, each call
// ending in the copy of its tokens to the host; wall clock). Tokens per second over --tokens.
//
// Output: one JSON object per line ({"algorithm", "precision", "ran", "T", "batch", "hidden",
// "fwd_bwd_ms", "fwd_ms"}), then a table. Without a usable GPU it prints why and exits 0; in a
// build without the CUDA backend it says so.
//   build/release/benches/bench_lstm_cuda [--quick] [--reps N] [--batch 1,16] [--hidden 256]
//                                         [--algorithms stepwise,persistent,cudnn] [--T 100]
//                                         [--precisions fp32,bf16]
//   build/release/benches/bench_lstm_cuda --generate [--hidden 512,1024] [--layers 3]
//                                         [--tokens 2000]
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#if !defined(NN_BENCH_WITH_CUDA)

int main() {
  std::printf("bench_lstm_cuda: libnn was built without CUDA; nothing to measure\n");
  return 0;
}

#else

#include <cuda_runtime.h>

#include <chrono>
#include <cmath>
#include <exception>
#include <sstream>

#include "libnn/autograd.hpp"
#include "libnn/cuda.hpp"
#include "libnn/error.hpp"
#include "libnn/modules/embedding.hpp"
#include "libnn/modules/linear.hpp"
#include "libnn/modules/lstm.hpp"
#include "libnn/modules/lstm_stepper.hpp"
#include "libnn/ops.hpp"
#include "libnn/random.hpp"
#include "libnn/tensor.hpp"

namespace {

using nn::Tensor;
constexpr nn::Device kCuda = nn::Device::cuda(0);

void check(cudaError_t status, const char* what) {
  if (status != cudaSuccess) {
    throw nn::Error(std::string("bench_lstm_cuda: ") + what + ": " + cudaGetErrorString(status));
  }
}

std::vector<long> parse_list(const std::string& text, const char* flag) {
  std::vector<long> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    char* end = nullptr;
    const long v = std::strtol(item.c_str(), &end, 10);
    if (item.empty() || *end != '\0' || v <= 0) {
      throw nn::Error(std::string("bench_lstm_cuda: ") + flag +
                      " expects positive integers separated by commas, got '" + text + "'");
    }
    out.push_back(v);
  }
  return out;
}

std::vector<std::string> split(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) out.push_back(item);
  return out;
}

struct Options {
  long T = 100;
  int warmup = 2, reps = 5;
  std::vector<long> batches{1, 16, 64, 256};
  std::vector<long> hiddens{256, 512, 1024};
  std::vector<std::string> algorithms{"stepwise", "persistent", "cudnn"};
  std::vector<std::string> precisions{"fp32", "bf16"};
  bool generate = false;
  long layers = 3, tokens = 2000;
};

// libnn's matmul precision for a --precisions entry.
nn::MatmulPrecision matmul_precision(const std::string& name) {
  if (name == "fp32") return nn::MatmulPrecision::Highest;
  if (name == "tf32") return nn::MatmulPrecision::High;
  if (name == "bf16") return nn::MatmulPrecision::Medium;
  throw nn::Error(
      "bench_lstm_cuda: --precisions expects fp32, tf32 or bf16 separated by commas, "
      "got '" +
      name + "'");
}

void usage() {
  std::printf(
      "usage: bench_lstm_cuda [--quick] [--T N] [--reps N] [--warmup N] [--batch LIST]\n"
      "                       [--hidden LIST] [--algorithms LIST] [--precisions LIST]\n"
      "       bench_lstm_cuda --generate [--hidden LIST] [--layers N] [--tokens N]\n"
      "  One LSTM layer (input size = hidden) on the GPU, forward + backward, per algorithm\n"
      "  (stepwise, persistent, cudnn) and matmul precision (fp32, tf32, bf16: the GEMMs'\n"
      "  operands; tensors stay float32), timed with CUDA events; JSON lines, then a table.\n"
      "  --quick   2 timed passes after 1 warm-up (default 5 after 2)\n"
      "  defaults: --T 100 --batch 1,16,64,256 --hidden 256,512,1024 --precisions fp32,bf16\n"
      "  --generate  batch-1 generation (Embedding(360,H) -> LSTM layers -> Linear(H,360)) in\n"
      "              tokens/s: the stepper per token, the token loop eager and as a CUDA graph\n"
      "              (defaults --hidden 512 --layers 3 --tokens 2000)\n");
}

Options parse(int argc, char** argv) {
  Options o;
  bool hidden_given = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw nn::Error("bench_lstm_cuda: " + arg + " needs a value");
      return argv[++i];
    };
    if (arg == "--help" || arg == "-h") {
      usage();
      std::exit(0);
    } else if (arg == "--quick") {
      o.warmup = 1;
      o.reps = 2;
    } else if (arg == "--generate") {
      o.generate = true;
    } else if (arg == "--layers") {
      o.layers = parse_list(value(), "--layers").at(0);
    } else if (arg == "--tokens") {
      o.tokens = parse_list(value(), "--tokens").at(0);
    } else if (arg == "--T") {
      o.T = parse_list(value(), "--T").at(0);
    } else if (arg == "--reps") {
      o.reps = static_cast<int>(parse_list(value(), "--reps").at(0));
    } else if (arg == "--warmup") {
      o.warmup = static_cast<int>(parse_list(value(), "--warmup").at(0));
    } else if (arg == "--batch") {
      o.batches = parse_list(value(), "--batch");
    } else if (arg == "--hidden") {
      o.hiddens = parse_list(value(), "--hidden");
      hidden_given = true;
    } else if (arg == "--algorithms") {
      o.algorithms = split(value());
      for (const std::string& a : o.algorithms) nn::cuda::set_lstm_algorithm(a);  // checks
      nn::cuda::set_lstm_algorithm(nn::cuda::LstmAlgorithm::Auto);
    } else if (arg == "--precisions") {
      o.precisions = split(value());
      for (const std::string& p : o.precisions) matmul_precision(p);  // checks
    } else {
      usage();
      throw nn::Error("bench_lstm_cuda: unknown argument '" + arg + "'");
    }
  }
  if (o.generate && !hidden_given) o.hiddens = {512};
  return o;
}

struct Timing {
  double fwd_bwd_ms = NAN, fwd_ms = NAN;
  std::string ran;
};

Timing measure(const Options& o, long B, long H) {
  nn::Generator gen(1234);
  const float scale = 1.0f / std::sqrt(static_cast<float>(H));
  auto param = [&](nn::Shape shape) {
    return (nn::randn(shape, &gen) * scale).to(kCuda).set_requires_grad(true);
  };
  Tensor x = nn::randn({o.T, B, H}, &gen).to(kCuda).set_requires_grad(true);
  Tensor w_ih = param({4 * H, H}), w_hh = param({4 * H, H}), b_ih = param({4 * H}),
         b_hh = param({4 * H});
  Tensor gy = nn::randn({o.T, B, H}, &gen).to(kCuda);
  auto step = [&] {
    nn::LSTMLayerResult r = nn::lstm_layer(x, Tensor(), Tensor(), w_ih, w_hh, b_ih, b_hh);
    nn::backward({r.output}, {gy});
  };
  auto forward_only = [&] {
    nn::NoGradGuard no_grad;
    nn::lstm_layer(x, Tensor(), Tensor(), w_ih, w_hh, b_ih, b_hh);
  };
  auto stream = static_cast<cudaStream_t>(nn::cuda::get_current_stream());
  cudaEvent_t start, stop;
  check(cudaEventCreate(&start), "cudaEventCreate");
  check(cudaEventCreate(&stop), "cudaEventCreate");
  auto time = [&](const auto& fn) {
    for (int i = 0; i < o.warmup; ++i) fn();
    nn::cuda::synchronize();
    check(cudaEventRecord(start, stream), "cudaEventRecord");
    for (int i = 0; i < o.reps; ++i) fn();
    check(cudaEventRecord(stop, stream), "cudaEventRecord");
    check(cudaEventSynchronize(stop), "cudaEventSynchronize");
    float ms = 0.0f;
    check(cudaEventElapsedTime(&ms, start, stop), "cudaEventElapsedTime");
    return static_cast<double>(ms) / o.reps;
  };
  Timing t;
  t.fwd_bwd_ms = time(step);
  const nn::cuda::LstmRun run = nn::cuda::last_lstm_run();
  t.ran = run.forward == run.backward ? run.forward : run.forward + " / " + run.backward;
  t.fwd_ms = time(forward_only);
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  return t;
}

// --generate: tokens per second of one way to generate at batch 1.
struct GenRow {
  std::string way, weights, ran;
  long H = 0;
  double tokens_per_s = NAN;
};

GenRow measure_generate(const Options& o, long H, nn::DType dtype, const std::string& way) {
  constexpr long V = 360;
  nn::Generator gen(99);
  nn::Embedding embedding(nn::EmbeddingOptions(V, H).generator(&gen));
  nn::LSTM lstm(nn::LSTMOptions(H, H).num_layers(o.layers).generator(&gen));
  nn::Linear head(nn::LinearOptions(H, V).generator(&gen));
  embedding.to(kCuda);
  lstm.to(kCuda);
  head.to(kCuda);
  nn::NoGradGuard no_grad;
  const nn::LSTMStepper stepper(embedding, lstm, nn::LSTMStepperOptions().weight_dtype(dtype));
  GenRow row{way, dtype == nn::DType::Float16 ? "fp16" : "fp32", way, H, NAN};
  nn::LSTMState state;
  if (way == "stepper") {
    const Tensor token = nn::zeros({1}, nn::TensorOptions(nn::DType::Int64).device(kCuda));
    auto run = [&](long n) {
      for (long i = 0; i < n; ++i) head.forward(stepper.step_tokens(token, state));
    };
    run(100);
    nn::cuda::synchronize();
    auto stream = static_cast<cudaStream_t>(nn::cuda::get_current_stream());
    cudaEvent_t start, stop;
    check(cudaEventCreate(&start), "cudaEventCreate");
    check(cudaEventCreate(&stop), "cudaEventCreate");
    check(cudaEventRecord(start, stream), "cudaEventRecord");
    run(o.tokens);
    check(cudaEventRecord(stop, stream), "cudaEventRecord");
    check(cudaEventSynchronize(stop), "cudaEventSynchronize");
    float ms = 0.0f;
    check(cudaEventElapsedTime(&ms, start, stop), "cudaEventElapsedTime");
    cudaEventDestroy(start);
    cudaEventDestroy(stop);
    row.tokens_per_s = static_cast<double>(o.tokens) / (ms / 1000.0);
    return row;
  }
  nn::LSTMTokenLoop loop(stepper, head,
                         nn::TokenLoopOptions().graph_tokens(way == "loop-graph" ? 16 : 0));
  std::int64_t token = 0;
  std::uint64_t draw = 0;
  auto run = [&](long n) {
    for (long done = 0; done < n;) {
      const long m = std::min(64L, n - done);
      token = loop.generate(token, state, m, draw).back();
      draw += static_cast<std::uint64_t>(m);
      done += m;
    }
  };
  run(128);  // warm-up, and the graph's capture
  nn::cuda::synchronize();
  const auto start = std::chrono::steady_clock::now();
  run(o.tokens);
  nn::cuda::synchronize();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  row.tokens_per_s = static_cast<double>(o.tokens) / seconds;
  row.ran = loop.how();
  return row;
}

std::string json_escape(const std::string& s) {
  std::string out;
  for (const char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

std::string json_ms(double ms) {
  if (!std::isfinite(ms)) return "null";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4f", ms);
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const Options o = parse(argc, argv);
    if (!nn::cuda::is_available()) {
      std::printf("bench_lstm_cuda: no usable GPU (%s); nothing to measure\n",
                  nn::cuda::unavailable_reason().c_str());
      return 0;
    }
    if (o.generate) {
      std::vector<GenRow> rows;
      for (const long H : o.hiddens) {
        for (const nn::DType dtype : {nn::DType::Float32, nn::DType::Float16}) {
          for (const std::string way : {"stepper", "loop-eager", "loop-graph"}) {
            GenRow row;
            try {
              row = measure_generate(o, H, dtype, way);
            } catch (const std::exception& e) {
              row = GenRow{way, dtype == nn::DType::Float16 ? "fp16" : "fp32",
                           std::string("error: ") + e.what(), H, NAN};
            }
            std::printf(
                "{\"generate\": \"%s\", \"weights\": \"%s\", \"hidden\": %ld, \"layers\": %ld, "
                "\"tokens\": %ld, \"tokens_per_s\": %s, \"ran\": \"%s\"}\n",
                row.way.c_str(), row.weights.c_str(), H, o.layers, o.tokens,
                std::isfinite(row.tokens_per_s) ? std::to_string(row.tokens_per_s).c_str() : "null",
                json_escape(row.ran.substr(0, 200)).c_str());
            std::fflush(stdout);
            rows.push_back(row);
          }
        }
      }
      std::printf(
          "\n| hidden | layers | weights | way | tokens/s | ran |\n|---|---|---|---|---|---|\n");
      for (const GenRow& r : rows) {
        std::printf("| %ld | %ld | %s | %s | %.0f | %s |\n", r.H, o.layers, r.weights.c_str(),
                    r.way.c_str(), r.tokens_per_s, r.ran.substr(0, 80).c_str());
      }
      return 0;
    }
    struct Row {
      std::string algorithm, precision;
      long B, H;
      Timing t;
    };
    std::vector<Row> rows;
    for (const long H : o.hiddens) {
      for (const long B : o.batches) {
        for (const std::string& precision : o.precisions) {
          for (const std::string& a : o.algorithms) {
            nn::cuda::set_lstm_algorithm(a);
            Row row{a, precision, B, H, {}};
            try {
              const nn::Float32MatmulPrecisionGuard guard(matmul_precision(precision));
              row.t = measure(o, B, H);
            } catch (const std::exception& e) {
              row.t.ran = std::string("error: ") + e.what();
            }
            nn::cuda::set_lstm_algorithm(nn::cuda::LstmAlgorithm::Auto);
            std::printf(
                "{\"algorithm\": \"%s\", \"precision\": \"%s\", \"ran\": \"%s\", \"T\": %ld, "
                "\"batch\": %ld, \"hidden\": %ld, \"fwd_bwd_ms\": %s, \"fwd_ms\": %s}\n",
                a.c_str(), precision.c_str(), json_escape(row.t.ran.substr(0, 200)).c_str(), o.T, B,
                H, json_ms(row.t.fwd_bwd_ms).c_str(), json_ms(row.t.fwd_ms).c_str());
            std::fflush(stdout);
            rows.push_back(row);
          }
        }
      }
    }
    std::printf("\n| hidden | batch | precision | algorithm | fwd+bwd ms | fwd ms | ran |\n");
    std::printf("|---|---|---|---|---|---|---|\n");
    for (const Row& r : rows) {
      std::printf("| %ld | %ld | %s | %s | %.3f | %.3f | %s |\n", r.H, r.B, r.precision.c_str(),
                  r.algorithm.c_str(), r.t.fwd_bwd_ms, r.t.fwd_ms, r.t.ran.substr(0, 80).c_str());
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 2;
  }
}

#endif
