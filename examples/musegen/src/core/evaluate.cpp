#include "evaluate.hpp"

#include <algorithm>
#include <limits>
#include <stdexcept>

#include "batches.hpp"

namespace musegen {

NllResult evaluate_nll(MusicModel& model, std::span<const Sequence> split, std::int64_t window,
                       std::int64_t batch) {
  const Encoding encoding = model.config().encoding;
  const bool was_training = model.is_training();
  model.eval();
  nn::NoGradGuard no_grad;
  auto windows = make_windows(split, encoding,
                              window > 0 ? window : std::numeric_limits<std::int64_t>::max());
  // Similar lengths together: less padding, and the sum does not depend on the batch split
  // order beyond float rounding.
  std::stable_sort(windows.begin(), windows.end(),
                   [](const Window& a, const Window& b) { return a.length > b.length; });
  NllResult result;
  for (std::size_t i = 0; i < windows.size(); i += static_cast<std::size_t>(batch)) {
    const std::size_t n = std::min(windows.size() - i, static_cast<std::size_t>(batch));
    Batch b = make_batch(split, std::span(windows).subspan(i, n), encoding);
    auto [logits, state] = model.forward(b.input);
    result.nll_sum += static_cast<double>(nll_sum(logits, b, encoding).item<float>());
    result.predictions += b.predictions;
  }
  model.train(was_training);
  return result;
}

LoadedModel load_model(const std::filesystem::path& run_dir_or_weights) {
  LoadedModel loaded;
  std::filesystem::path path = run_dir_or_weights;
  if (std::filesystem::is_directory(path)) {
    if (std::filesystem::exists(path / "best.safetensors")) {
      path /= "best.safetensors";
    } else if (std::filesystem::exists(path / "model.safetensors")) {
      path /= "model.safetensors";
    } else {
      throw std::runtime_error(run_dir_or_weights.string() +
                               ": no best.safetensors or model.safetensors in this folder "
                               "(is it the --run-dir of a `musegen train` run?)");
    }
  }
  nn::NamedTensors weights = nn::load_safetensors(path, &loaded.metadata);
  ModelConfig config = ModelConfig::from_metadata(loaded.metadata, path.string());
  loaded.model = std::make_unique<MusicModel>(config, nullptr);
  try {
    loaded.model->load_state_dict(weights, /*strict=*/true);
  } catch (const std::exception& e) {
    throw std::runtime_error(path.string() + ": " + e.what());
  }
  loaded.model->eval();
  loaded.weights = path;
  return loaded;
}

}  // namespace musegen
