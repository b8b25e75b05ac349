// mlp: libnn's smallest complete training program. Classifies points of three interleaved
// spirals in the plane (CS231n's classic toy set) with a multilayer perceptron
// Linear(2,H) -> ReLU -> Linear(H,H) -> ReLU -> Linear(H,3), cross-entropy loss, Adam and a
// cosine learning-rate schedule.
//
// The spirals wind a full turn and a half around each other, so no straight line separates
// one class from the rest: a linear classifier (trained first, the same way, as the
// baseline) stays near 50%, while the MLP should pass the target accuracy on held-out
// points. The program exits with status 1 when the MLP's final test accuracy is below
// --target, so it doubles as an end-to-end test of libnn (the install_consumer test runs it).
//
// Everything random -- the data, the initial weights, the shuffling -- comes from libnn's
// seeded generator, so a given --seed gives the same run every time. --device cuda trains
// on the GPU (libnn's CUDA backend); the data is drawn on the CPU either way, so both
// devices see the same points, weights and batches.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <numeric>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

#include <libnn/libnn.hpp>

namespace {

constexpr std::int64_t kClasses = 3;

struct Config {
  int epochs = 40;
  std::uint64_t seed = 1;
  double lr = 1e-2;
  std::int64_t hidden = 64;
  std::int64_t batch_size = 32;
  std::int64_t train_per_class = 300;
  std::int64_t test_per_class = 300;
  double noise = 0.15;
  double target = 0.95;
  std::string device = "auto";  // cpu, cuda or auto
};

void print_help() {
  const Config d;
  std::printf(
      "usage: mlp [options]\n"
      "Trains an MLP on three interleaved 2-D spirals with libnn, after a linear baseline.\n"
      "Exits 1 if the MLP's final test accuracy is below --target.\n\n"
      "  --epochs N       training epochs (default %d)\n"
      "  --seed S         seed of libnn's generator: data, weights, shuffling (default %llu)\n"
      "  --lr X           Adam's initial learning rate, annealed to 0 (default %g)\n"
      "  --hidden H       width of the two hidden layers (default %lld)\n"
      "  --batch-size B   minibatch size (default %lld)\n"
      "  --noise X        angular noise of the spirals, radians (default %g)\n"
      "  --target X       required final test accuracy in [0,1] (default %g)\n"
      "  --device D       cpu, cuda or auto: the GPU when libnn has CUDA and one is present\n"
      "                   (default %s)\n"
      "  --help           this text\n",
      d.epochs, static_cast<unsigned long long>(d.seed), d.lr, static_cast<long long>(d.hidden),
      static_cast<long long>(d.batch_size), d.noise, d.target, d.device.c_str());
}

template <class T>
bool parse_number(std::string_view text, T& out) {
  if constexpr (std::is_floating_point_v<T>) {
    // std::from_chars for double needs GCC 11+; strtod keeps this portable.
    const std::string s(text);
    char* end = nullptr;
    out = static_cast<T>(std::strtod(s.c_str(), &end));
    return !s.empty() && end == s.c_str() + s.size();
  } else {
    const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
    return ec == std::errc() && ptr == text.data() + text.size();
  }
}

// Returns false (after printing why) when the command line is wrong.
bool parse_args(int argc, char** argv, Config& config, bool& help) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      help = true;
      return true;
    }
    if (i + 1 >= argc) {
      std::fprintf(stderr, "mlp: %s needs a value (see --help)\n", argv[i]);
      return false;
    }
    const std::string_view value = argv[++i];
    bool ok = false;
    if (arg == "--epochs") ok = parse_number(value, config.epochs) && config.epochs >= 0;
    else if (arg == "--seed") ok = parse_number(value, config.seed);
    else if (arg == "--lr") ok = parse_number(value, config.lr) && config.lr > 0;
    else if (arg == "--hidden") ok = parse_number(value, config.hidden) && config.hidden > 0;
    else if (arg == "--batch-size") ok = parse_number(value, config.batch_size) && config.batch_size > 0;
    else if (arg == "--noise") ok = parse_number(value, config.noise) && config.noise >= 0;
    else if (arg == "--target") ok = parse_number(value, config.target);
    else if (arg == "--device") {
      config.device = std::string(value);
      ok = value == "cpu" || value == "cuda" || value == "auto";
    }
    else {
      std::fprintf(stderr, "mlp: unknown option %s (see --help)\n", argv[i - 1]);
      return false;
    }
    if (!ok) {
      std::fprintf(stderr, "mlp: bad value '%s' for %s\n", argv[i], argv[i - 1]);
      return false;
    }
  }
  return true;
}

// Points and their classes, on the host (batches are cut from here).
struct Dataset {
  std::vector<float> points;          // (N,2), row-major
  std::vector<std::int64_t> labels;   // (N)
  std::int64_t size() const { return static_cast<std::int64_t>(labels.size()); }
};

// Class k: radius r from 0 to 1, angle 4k + 4r (+ noise), so each arm turns 4 radians and
// the three arms interleave. Radii are drawn uniformly, angle noise is Gaussian.
Dataset make_spirals(std::int64_t per_class, double noise, nn::Generator& gen) {
  Dataset data;
  const auto radius = nn::rand({kClasses, per_class}, &gen).to_vector<float>();
  const auto jitter = nn::randn({kClasses, per_class}, &gen).to_vector<float>();
  for (std::int64_t k = 0; k < kClasses; ++k) {
    for (std::int64_t i = 0; i < per_class; ++i) {
      const double r = radius[static_cast<std::size_t>(k * per_class + i)];
      const double angle = 4.0 * static_cast<double>(k) + 4.0 * r +
                           noise * jitter[static_cast<std::size_t>(k * per_class + i)];
      data.points.push_back(static_cast<float>(r * std::sin(angle)));
      data.points.push_back(static_cast<float>(r * std::cos(angle)));
      data.labels.push_back(k);
    }
  }
  return data;
}

// A random permutation of 0..n-1 from the generator (sort by random keys).
std::vector<std::int64_t> permutation(std::int64_t n, nn::Generator& gen) {
  const auto keys = nn::rand({n}, &gen).to_vector<float>();
  std::vector<std::int64_t> order(static_cast<std::size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](std::int64_t a, std::int64_t b) {
    return keys[static_cast<std::size_t>(a)] < keys[static_cast<std::size_t>(b)];
  });
  return order;
}

// The rows `order[begin, end)` of the data set as tensors on `device`: x (B,2), y (B).
std::pair<nn::Tensor, nn::Tensor> batch(const Dataset& data, const std::vector<std::int64_t>& order,
                                        std::size_t begin, std::size_t end, nn::Device device) {
  std::vector<float> x;
  std::vector<std::int64_t> y;
  for (std::size_t i = begin; i < end; ++i) {
    const auto row = static_cast<std::size_t>(order[i]);
    x.push_back(data.points[2 * row]);
    x.push_back(data.points[2 * row + 1]);
    y.push_back(data.labels[row]);
  }
  const auto B = static_cast<std::int64_t>(end - begin);
  return {nn::from_vector(x, {B, 2}, nn::TensorOptions().device(device)),
          nn::from_vector(y, {B}, nn::TensorOptions(nn::DType::Int64).device(device))};
}

// Fraction of rows whose largest logit is the label. logits (N,C), labels (N) int64.
double accuracy(const nn::Tensor& logits, const nn::Tensor& labels) {
  const auto predicted = nn::max(logits, 1).indices.to_vector<std::int64_t>();
  const auto truth = labels.to_vector<std::int64_t>();
  std::int64_t correct = 0;
  for (std::size_t i = 0; i < truth.size(); ++i) correct += predicted[i] == truth[i];
  return static_cast<double>(correct) / static_cast<double>(truth.size());
}

struct EpochResult {
  double loss = 0;
  double train_accuracy = 0;
  double test_accuracy = 0;
};

// Trains `model` (any module with forward(x (B,2)) -> logits (B,3)) and returns the last
// epoch's numbers; prints one line per epoch when `log` is set.
EpochResult train(nn::Sequential& model, const Dataset& train_set, const Dataset& test_set,
                  const Config& config, nn::Device device, nn::Generator& gen, bool log) {
  model.to(device);  // before the optimizer: its state is made where the parameters are
  nn::optim::Adam optimizer(model.parameters(), nn::optim::AdamOptions(config.lr));
  // The learning rate follows a cosine from lr down to 0 over the run, stepped per epoch, so
  // the last epochs settle instead of jumping around the minimum.
  nn::optim::CosineAnnealingLR schedule(optimizer, std::max(config.epochs, 1));
  std::vector<std::int64_t> identity(static_cast<std::size_t>(test_set.size()));
  std::iota(identity.begin(), identity.end(), 0);
  const auto [test_x, test_y] = batch(test_set, identity, 0, identity.size(), device);
  std::vector<std::int64_t> train_order(static_cast<std::size_t>(train_set.size()));
  std::iota(train_order.begin(), train_order.end(), 0);
  const auto [all_train_x, all_train_y] = batch(train_set, train_order, 0, train_order.size(), device);

  EpochResult result;
  for (int epoch = 1; epoch <= config.epochs; ++epoch) {
    model.train();
    const std::vector<std::int64_t> order = permutation(train_set.size(), gen);
    double loss_sum = 0;
    std::int64_t seen = 0;
    for (std::size_t begin = 0; begin < order.size(); begin += static_cast<std::size_t>(config.batch_size)) {
      const std::size_t end = std::min(order.size(), begin + static_cast<std::size_t>(config.batch_size));
      const auto [x, y] = batch(train_set, order, begin, end, device);
      const nn::Tensor loss = nn::cross_entropy(model.forward(x), y);  // x (B,2) -> logits (B,3)
      optimizer.zero_grad();
      loss.backward();
      optimizer.step();
      loss_sum += loss.item<float>() * static_cast<double>(end - begin);
      seen += static_cast<std::int64_t>(end - begin);
    }
    schedule.step();
    model.eval();
    nn::NoGradGuard no_grad;
    result.loss = loss_sum / static_cast<double>(seen);
    result.train_accuracy = accuracy(model.forward(all_train_x), all_train_y);
    result.test_accuracy = accuracy(model.forward(test_x), test_y);
    if (log) {
      std::printf("epoch %3d  loss %.4f  train acc %5.1f%%  test acc %5.1f%%\n", epoch, result.loss,
                  100.0 * result.train_accuracy, 100.0 * result.test_accuracy);
    }
  }
  return result;
}

}  // namespace

int main(int argc, char** argv) {
  Config config;
  bool help = false;
  if (!parse_args(argc, argv, config, help)) return 2;
  if (help) {
    print_help();
    return 0;
  }

  try {
    nn::Device device = nn::Device::cpu();
    if (config.device == "cuda" || (config.device == "auto" && nn::cuda::is_available())) {
      if (!nn::cuda::is_available()) {
        std::fprintf(stderr, "mlp: --device cuda: %s\n", nn::cuda::unavailable_reason().c_str());
        return 1;
      }
      device = nn::Device::cuda();
    }
    std::printf("device: %s%s\n", device.str().c_str(),
                config.device == "auto" ? " (--device auto)" : "");
    nn::manual_seed(config.seed);  // the weights' initializations draw from the global one
    nn::Generator data_gen(config.seed);
    const Dataset train_set = make_spirals(config.train_per_class, config.noise, data_gen);
    const Dataset test_set = make_spirals(config.test_per_class, config.noise, data_gen);
    std::printf("spirals: %lld train / %lld test points, %lld classes, noise %.2f, seed %llu\n",
                static_cast<long long>(train_set.size()), static_cast<long long>(test_set.size()),
                static_cast<long long>(kClasses), config.noise,
                static_cast<unsigned long long>(config.seed));

    // Baseline: a linear classifier (softmax regression), trained the same way.
    nn::Sequential linear(std::make_shared<nn::Linear>(2, kClasses));
    const EpochResult baseline = train(linear, train_set, test_set, config, device, data_gen, false);
    std::printf("linear baseline: test acc %.1f%% after %d epochs\n",
                100.0 * baseline.test_accuracy, config.epochs);

    const std::int64_t H = config.hidden;
    nn::Sequential mlp(std::make_shared<nn::Linear>(2, H), std::make_shared<nn::ReLU>(),
                       std::make_shared<nn::Linear>(H, H), std::make_shared<nn::ReLU>(),
                       std::make_shared<nn::Linear>(H, kClasses));
    std::printf("model: %s\n", mlp.str().c_str());
    const EpochResult final_result = train(mlp, train_set, test_set, config, device, data_gen, true);

    const bool passed = final_result.test_accuracy >= config.target;
    std::printf("final test accuracy %.1f%% (target %.1f%%, linear baseline %.1f%%): %s\n",
                100.0 * final_result.test_accuracy, 100.0 * config.target,
                100.0 * baseline.test_accuracy, passed ? "PASS" : "FAIL");
    return passed ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mlp: %s\n", e.what());
    return 1;
  }
}
