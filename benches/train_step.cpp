// train_step: times the reference model of musegen end to end, as a plain program (not
// Google Benchmark: one training step takes about a second).
//
//   Embedding(V, E) -> LSTM(E, H, num_layers=L, dropout=0.3) -> Linear(H, V)
//   -> cross_entropy over all T·B positions -> backward -> Adam step
//
// Default mode: times --steps training steps of (T, B) after --warmup untimed ones.
// --generate: sampling at batch 1, one token per call: embedding -> LSTM step (T = 1, the
// state carried) -> linear -> softmax -> sample; reports tokens per second over --tokens.
// The LSTM step is an nn::LSTMStepper with the embedding folded into layer 0, its weights
// stored as --weights fp32 (default) or fp16; --module times the LSTM module instead
// (lstm->forward at T = 1, what generation used before the stepper).
// --compare: the numeric effect of fp16 weights: fp32 and fp16 steppers side by side for
// --tokens steps, both fed the fp32 run's token and the same uniform draw; prints the
// largest |logit difference|, the share of steps sampling the same token, and the first
// step at which two free-running sequences (same seed) part.
// --device cuda: the same (the weights drawn on the host, then moved: the same model) on the
// GPU. Every timed interval starts and ends with nn::cuda::synchronize(), so it holds the GPU's
// work and not just its launching. Generation copies each step's probabilities back to the
// host and samples there, as musegen's host sampling does; --loop eager|graph instead runs the
// whole token on the device through nn::LSTMTokenLoop (CUDA graphs of 16 tokens with graph,
// every kernel launched per token with eager), 64 tokens per call as musegen generate does.
// Prints one JSON object. benches/lstm_vs_torch.py runs the same model in PyTorch and this
// program, and compares. Threads: OMP_NUM_THREADS (the comparison uses 2). E.g.
//   OMP_NUM_THREADS=2 build/release/benches/train_step --steps 5
//   OMP_NUM_THREADS=2 build/release/benches/train_step --generate --tokens 2000 --weights fp16
//   build/cuda/benches/train_step --device cuda --steps 10 --warmup 3
#include <libnn/libnn.hpp>

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace {

struct Config {
  std::int64_t T = 100, B = 64, V = 360, E = 512, H = 512, layers = 3;
  double dropout = 0.3;
  int steps = 3, warmup = 1;
  bool generate = false;
  bool module = false;   // --generate through the LSTM module, not the stepper
  bool compare = false;  // fp16 against fp32 weights, numerically
  bool fp16 = false;     // --weights fp16
  std::string loop = "host";  // --loop host|eager|graph (--generate)
  int tokens = 2000;
  std::uint64_t seed = 1;
  nn::Device device = nn::Device::cpu();  // --device cpu|cuda
};

[[noreturn]] void usage(const char* message) {
  std::fprintf(stderr,
               "train_step: %s\n"
               "usage: train_step [--T 100] [--B 64] [--V 360] [--E 512] [--H 512] [--layers 3]\n"
               "                  [--dropout 0.3] [--steps 3] [--warmup 1] [--seed 1]\n"
               "                  [--generate [--tokens 2000] [--weights fp32|fp16 | --module]\n"
               "                              [--loop host|eager|graph]]\n"
               "                  [--compare [--tokens 2000]] [--device cpu|cuda]\n",
               message);
  std::exit(2);
}

Config parse(int argc, char** argv) {
  Config c;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--generate" || a == "--module" || a == "--compare") {
      (a == "--generate" ? c.generate : a == "--module" ? c.module : c.compare) = true;
      continue;
    }
    if (a == "--device") {
      if (i + 1 >= argc) usage("missing value after --device");
      const std::string_view d = argv[++i];
      if (d != "cpu" && d != "cuda") usage("--device takes cpu or cuda");
      c.device = d == "cuda" ? nn::Device::cuda() : nn::Device::cpu();
      continue;
    }
    if (a == "--loop") {
      if (i + 1 >= argc) usage("missing value after --loop");
      c.loop = argv[++i];
      if (c.loop != "host" && c.loop != "eager" && c.loop != "graph")
        usage("--loop takes host, eager or graph");
      continue;
    }
    if (a == "--weights") {
      if (i + 1 >= argc) usage("missing value after --weights");
      const std::string_view w = argv[++i];
      if (w != "fp32" && w != "fp16") usage("--weights takes fp32 or fp16");
      c.fp16 = w == "fp16";
      continue;
    }
    if (i + 1 >= argc) usage(("missing value after " + std::string(a)).c_str());
    const char* v = argv[++i];
    char* end = nullptr;
    const double x = std::strtod(v, &end);
    if (end == v || *end != '\0') usage(("not a number after " + std::string(a) + ": " + v).c_str());
    const auto n = static_cast<std::int64_t>(x);
    if (a == "--T") c.T = n;
    else if (a == "--B") c.B = n;
    else if (a == "--V") c.V = n;
    else if (a == "--E") c.E = n;
    else if (a == "--H") c.H = n;
    else if (a == "--layers") c.layers = n;
    else if (a == "--dropout") c.dropout = x;
    else if (a == "--steps") c.steps = static_cast<int>(n);
    else if (a == "--warmup") c.warmup = static_cast<int>(n);
    else if (a == "--tokens") c.tokens = static_cast<int>(n);
    else if (a == "--seed") c.seed = static_cast<std::uint64_t>(n);
    else usage(("unknown option " + std::string(a)).c_str());
  }
  if (c.T < 1 || c.B < 1 || c.V < 2 || c.E < 1 || c.H < 1 || c.layers < 1 || c.steps < 1 ||
      c.warmup < 0 || c.tokens < 1)
    usage("sizes, --steps and --tokens must be positive");
  if (c.device.is_cuda() && !nn::cuda::is_available()) {
    std::fprintf(stderr, "train_step: --device cuda: no CUDA device: %s\n",
                 nn::cuda::unavailable_reason().c_str());
    std::exit(1);
  }
  if (c.device.is_cuda() && c.compare) usage("--compare runs on the CPU only");
  return c;
}

struct Model {
  std::shared_ptr<nn::Embedding> embed;
  std::shared_ptr<nn::LSTM> lstm;
  std::shared_ptr<nn::Linear> head;
  std::vector<nn::Tensor> parameters() const {
    std::vector<nn::Tensor> p = embed->parameters();
    for (const auto& m : {lstm->parameters(), head->parameters()}) p.insert(p.end(), m.begin(), m.end());
    return p;
  }
};

// Drawn on the host, then moved to c.device (before any optimizer is made: its state is made
// where the parameters are).
Model make_model(const Config& c, nn::Generator* gen) {
  Model m;
  m.embed = std::make_shared<nn::Embedding>(nn::EmbeddingOptions(c.V, c.E).generator(gen));
  m.lstm = std::make_shared<nn::LSTM>(
      nn::LSTMOptions(c.E, c.H).num_layers(c.layers).dropout(c.dropout).generator(gen));
  m.head = std::make_shared<nn::Linear>(nn::LinearOptions(c.H, c.V).generator(gen));
  m.embed->to(c.device);
  m.lstm->to(c.device);
  m.head->to(c.device);
  return m;
}

// Waits for the GPU's queued work (nothing on the CPU), so a timed interval holds it.
void synchronize(const Config& c) {
  if (c.device.is_cuda()) nn::cuda::synchronize();
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

std::string json_list(const std::vector<double>& v) {
  std::string s = "[";
  for (std::size_t i = 0; i < v.size(); ++i) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%s%.6f", i ? ", " : "", v[i]);
    s += buf;
  }
  return s + "]";
}

int train(const Config& c) {
  nn::Generator gen(c.seed);
  Model m = make_model(c, &gen);
  nn::optim::Adam opt(m.parameters(), nn::optim::AdamOptions(1e-3));
  const nn::Tensor tokens = nn::randint(0, c.V, {c.T, c.B}, &gen).to(c.device);
  const nn::Tensor targets = nn::randint(0, c.V, {c.T * c.B}, &gen).to(c.device);
  std::vector<double> times;
  double loss_value = 0.0;
  for (int s = 0; s < c.warmup + c.steps; ++s) {
    synchronize(c);
    const auto start = std::chrono::steady_clock::now();
    opt.zero_grad();
    const nn::Tensor x = m.embed->forward(tokens);              // (T,B,E)
    const nn::Tensor y = std::get<0>(m.lstm->forward(x));       // (T,B,H)
    const nn::Tensor logits = m.head->forward(y).reshape({c.T * c.B, c.V});
    const nn::Tensor loss = nn::cross_entropy(logits, targets);
    loss.backward();
    opt.step();
    loss_value = loss.item<float>();
    synchronize(c);  // item() waited for the loss; the optimizer's step may still run
    if (s >= c.warmup) times.push_back(seconds_since(start));
  }
  std::printf(
      "{\"mode\": \"train\", \"device\": \"%s\", \"threads\": %d, \"T\": %lld, \"B\": %lld, \"V\": "
      "%lld, \"E\": %lld, "
      "\"H\": %lld, \"layers\": %lld, \"steps\": %d, \"step_seconds\": %s, "
      "\"median_step_seconds\": %.6f, \"final_loss\": %.4f}\n",
      c.device.str().c_str(), omp_get_max_threads(), static_cast<long long>(c.T),
      static_cast<long long>(c.B), static_cast<long long>(c.V), static_cast<long long>(c.E),
      static_cast<long long>(c.H), static_cast<long long>(c.layers), c.steps,
      json_list(times).c_str(), median(times), loss_value);
  return 0;
}

// Inverse-CDF sampling of one token from probabilities p (V).
std::int64_t sample(const float* p, std::int64_t V, float u) {
  float acc = 0.0f;
  for (std::int64_t k = 0; k < V; ++k) {
    acc += p[k];
    if (u < acc) return k;
  }
  return V - 1;
}

// The head at batch 1: logits (V) = h (1,H) · W^T + b.
nn::Tensor head_logits(const Model& m, const nn::Tensor& h) { return m.head->forward(h); }

nn::LSTMStepperOptions stepper_options(bool fp16) {
  return nn::LSTMStepperOptions().weight_dtype(fp16 ? nn::DType::Float16 : nn::DType::Float32);
}

int generate(const Config& c) {
  nn::Generator gen(c.seed);
  Model m = make_model(c, &gen);
  m.lstm->eval();
  nn::NoGradGuard no_grad;
  const nn::LSTMStepper stepper(*m.embed, *m.lstm, stepper_options(c.fp16));
  const nn::TensorOptions ids = nn::TensorOptions(nn::DType::Int64).device(c.device);
  std::vector<std::int64_t> token{0};
  std::optional<nn::LSTMState> module_state;
  nn::LSTMState state;
  auto step = [&] {
    nn::Tensor h;
    if (c.module) {
      const nn::Tensor x = m.embed->forward(nn::from_vector(token, {1, 1}, ids));  // (1,1,E)
      auto [y, next] = m.lstm->forward(x, module_state);
      module_state = next;
      h = y.reshape({1, c.H});
    } else {
      h = stepper.step_tokens(nn::from_vector(token, {1}, ids), state);  // (1,H)
    }
    nn::Tensor probs = nn::softmax(head_logits(m, h), -1);
    if (c.device.is_cuda()) probs = probs.to(nn::Device::cpu());  // waits for the step
    const float u = nn::rand({1}, &gen).item<float>();
    token[0] = sample(probs.data_ptr<float>(), c.V, u);
  };
  // --loop eager|graph: the whole token on the device, 64 tokens per call.
  std::optional<nn::LSTMTokenLoop> loop;
  std::uint64_t draw = 0;
  if (c.loop != "host") {
    if (c.module) usage("--loop eager|graph runs the stepper, not --module");
    loop.emplace(stepper, *m.head,
                 nn::TokenLoopOptions().seed(c.seed).graph_tokens(c.loop == "graph" ? 16 : 0));
  }
  auto run = [&](int tokens) {
    if (!loop) {
      for (int i = 0; i < tokens; ++i) step();
      return;
    }
    for (int done = 0; done < tokens;) {
      const int n = std::min(64, tokens - done);
      token[0] = loop->generate(token[0], state, n, draw).back();
      draw += static_cast<std::uint64_t>(n);
      done += n;
    }
  };
  run(std::min(c.tokens, 128));  // warm-up (and the graph's capture)
  synchronize(c);
  const auto start = std::chrono::steady_clock::now();
  run(c.tokens);
  synchronize(c);
  const double elapsed = seconds_since(start);
  std::string how = loop ? loop->how() : "";
  std::replace(how.begin(), how.end(), '"', '\'');
  std::printf(
      "{\"mode\": \"generate\", \"device\": \"%s\", \"lstm\": \"%s\", \"threads\": %d, \"V\": "
      "%lld, \"E\": %lld, "
      "\"H\": %lld, \"layers\": %lld, \"tokens\": %d, \"seconds\": %.4f, "
      "\"tokens_per_second\": %.1f, \"last_token\": %lld}\n",
      c.device.str().c_str(),
      (c.module ? std::string("module")
                : (c.loop == "host" ? "stepper-" : "loop-" + c.loop + "(" + how + ")-") +
                      (c.fp16 ? "fp16" : "fp32"))
          .c_str(),
      omp_get_max_threads(), static_cast<long long>(c.V), static_cast<long long>(c.E),
      static_cast<long long>(c.H), static_cast<long long>(c.layers), c.tokens, elapsed,
      c.tokens / elapsed, static_cast<long long>(token[0]));
  return 0;
}

// fp16 against fp32 weights on the same model (see the file comment).
int compare(const Config& c) {
  nn::Generator gen(c.seed);
  Model m = make_model(c, &gen);
  nn::NoGradGuard no_grad;
  const nn::LSTMStepper s32(*m.embed, *m.lstm, stepper_options(false));
  const nn::LSTMStepper s16(*m.embed, *m.lstm, stepper_options(true));
  // Lockstep: both fed the fp32 run's token, both sampling with the same u.
  nn::LSTMState st32, st16;
  std::int64_t token = 0;
  double max_diff = 0.0, max_logit = 0.0;
  int same = 0;
  nn::Generator draws(c.seed + 1);
  for (int i = 0; i < c.tokens; ++i) {
    const nn::Tensor ids = nn::from_vector(std::vector<std::int64_t>{token}, {1});
    const nn::Tensor l32 = head_logits(m, s32.step_tokens(ids, st32));
    const nn::Tensor l16 = head_logits(m, s16.step_tokens(ids, st16));
    const std::vector<float> a = l32.to_vector<float>(), b = l16.to_vector<float>();
    for (std::size_t k = 0; k < a.size(); ++k) {
      max_diff = std::max(max_diff, static_cast<double>(std::abs(a[k] - b[k])));
      max_logit = std::max(max_logit, static_cast<double>(std::abs(a[k])));
    }
    const float u = nn::rand({1}, &draws).item<float>();
    const std::int64_t t32 = sample(nn::softmax(l32, -1).data_ptr<float>(), c.V, u);
    const std::int64_t t16 = sample(nn::softmax(l16, -1).data_ptr<float>(), c.V, u);
    same += t32 == t16;
    token = t32;
  }
  // Free-running: each samples its own sequence from the same seed.
  auto run = [&](const nn::LSTMStepper& s) {
    nn::Generator g(c.seed + 1);
    nn::LSTMState st;
    std::vector<std::int64_t> seq;
    std::int64_t t = 0;
    for (int i = 0; i < c.tokens; ++i) {
      const nn::Tensor probs = nn::softmax(
          head_logits(m, s.step_tokens(nn::from_vector(std::vector<std::int64_t>{t}, {1}), st)), -1);
      t = sample(probs.data_ptr<float>(), c.V, nn::rand({1}, &g).item<float>());
      seq.push_back(t);
    }
    return seq;
  };
  const std::vector<std::int64_t> f32 = run(s32), f16 = run(s16);
  int first_difference = -1, identical = 0;
  for (int i = 0; i < c.tokens; ++i) {
    if (f32[i] == f16[i]) ++identical;
    else if (first_difference < 0) first_difference = i;
  }
  std::printf(
      "{\"mode\": \"compare\", \"tokens\": %d, \"max_abs_logit_difference\": %.3g, "
      "\"max_abs_logit\": %.3g, \"lockstep_same_token_share\": %.4f, "
      "\"free_running_first_difference\": %d, \"free_running_same_token_share\": %.4f}\n",
      c.tokens, max_diff, max_logit, static_cast<double>(same) / c.tokens, first_difference,
      static_cast<double>(identical) / c.tokens);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const Config c = parse(argc, argv);
    if (c.compare) return compare(c);
    return c.generate ? generate(c) : train(c);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "train_step: %s\n", e.what());
    return 1;
  }
}
