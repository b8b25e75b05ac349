#include "evaluate.hpp"

#include <algorithm>
#include <limits>

#include "batches.hpp"

namespace musegen {

NllResult evaluate_nll(MusicModel& model, std::span<const Sequence> split, std::int64_t window,
                       std::int64_t batch) {
  const StepKind kind = model.config().step().kind;
  const bool was_training = model.is_training();
  model.eval();
  nn::NoGradGuard no_grad;
  auto windows = make_windows(split, kind,
                              window > 0 ? window : std::numeric_limits<std::int64_t>::max());
  // Similar lengths together: less padding, and the sum does not depend on the batch split
  // order beyond float rounding.
  std::stable_sort(windows.begin(), windows.end(),
                   [](const Window& a, const Window& b) { return a.length > b.length; });
  NllResult result;
  for (std::size_t i = 0; i < windows.size(); i += static_cast<std::size_t>(batch)) {
    const std::size_t n = std::min(windows.size() - i, static_cast<std::size_t>(batch));
    Batch b = make_batch(split, std::span(windows).subspan(i, n), kind, model.device());
    auto [logits, state] = model.forward(b.input);
    result.nll_sum += static_cast<double>(nll_sum(logits, b, kind).item<float>());
    result.predictions += b.predictions;
  }
  model.train(was_training);
  return result;
}

}  // namespace musegen
