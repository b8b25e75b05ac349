#include "batches.hpp"

#include <algorithm>
#include <numeric>
#include <stdexcept>

namespace musegen {

std::vector<Window> make_windows(std::span<const Sequence> split, StepKind kind,
                                 std::int64_t max_length) {
  if (max_length <= 0) throw std::invalid_argument("make_windows: max_length must be positive");
  const bool frames = kind == StepKind::frame;
  std::vector<Window> windows;
  for (std::size_t s = 0; s < split.size(); ++s) {
    const std::int64_t steps = split[s].steps();
    // Positions that are predicted: tokens 1..n-1, frames 0..n-1.
    const std::int64_t first = frames ? 0 : 1;
    for (std::int64_t start = first; start < steps;) {
      const std::int64_t length = std::min(max_length, steps - start);  // no overflow
      windows.push_back({static_cast<std::int32_t>(s), start, length});
      start += length;
    }
  }
  return windows;
}

Batch make_batch(std::span<const Sequence> split, std::span<const Window> windows, StepKind kind,
                 nn::Device device) {
  if (windows.empty()) throw std::invalid_argument("make_batch: no windows");
  const std::int64_t K = split[windows[0].sequence].width;
  for (const Window& w : windows) {
    const Sequence& s = split[w.sequence];
    if (s.kind != kind || (kind == StepKind::frame && s.width != K))
      throw std::invalid_argument("make_batch: " + s.source + ": its steps are not those of the batch");
  }
  const std::int64_t B = static_cast<std::int64_t>(windows.size());
  std::int64_t T = 0;
  for (const auto& w : windows) T = std::max(T, w.length);
  Batch batch;
  const nn::TensorOptions floats = nn::TensorOptions().device(device);
  const nn::TensorOptions ints = nn::TensorOptions(nn::DType::Int64).device(device);
  if (kind == StepKind::frame) {
    std::vector<float> input(static_cast<std::size_t>(T * B * K), 0.0f);
    std::vector<float> target(input.size(), 0.0f);
    std::vector<float> mask(static_cast<std::size_t>(T * B), 0.0f);
    for (std::int64_t b = 0; b < B; ++b) {
      const Window& w = windows[b];
      const auto& frames = split[w.sequence].frames;
      for (std::int64_t t = 0; t < w.length; ++t) {
        const std::int64_t pos = w.start + t;  // predicted frame
        float* in = &input[static_cast<std::size_t>((t * B + b) * K)];
        float* out = &target[static_cast<std::size_t>((t * B + b) * K)];
        for (std::int64_t k = 0; k < K; ++k) {
          if (pos > 0) in[k] = frames[static_cast<std::size_t>((pos - 1) * K + k)];
          out[k] = frames[static_cast<std::size_t>(pos * K + k)];
        }
        mask[static_cast<std::size_t>(t * B + b)] = 1.0f;
      }
      batch.predictions += w.length;
    }
    batch.input = nn::from_vector(input, {T, B, K}, floats);
    batch.target = nn::from_vector(target, {T, B, K}, floats);
    batch.mask = nn::from_vector(mask, {T, B}, floats);
  } else {
    std::vector<std::int64_t> input(static_cast<std::size_t>(T * B), 0);
    std::vector<std::int64_t> target(input.size(), -100);
    for (std::int64_t b = 0; b < B; ++b) {
      const Window& w = windows[b];
      const auto& tokens = split[w.sequence].tokens;
      for (std::int64_t t = 0; t < w.length; ++t) {
        const std::int64_t pos = w.start + t;  // predicted token, >= 1
        input[static_cast<std::size_t>(t * B + b)] = tokens[static_cast<std::size_t>(pos - 1)];
        target[static_cast<std::size_t>(t * B + b)] = tokens[static_cast<std::size_t>(pos)];
      }
      batch.predictions += w.length;
    }
    batch.input = nn::from_vector(input, {T, B}, ints);
    batch.target = nn::from_vector(target, {T, B}, ints);
  }
  return batch;
}

nn::Tensor nll_sum(const nn::Tensor& logits, const Batch& batch, StepKind kind) {
  if (kind == StepKind::frame) {
    // (T,B,K) per-value terms → (T,B) per frame → masked sum.
    nn::Tensor terms = nn::binary_cross_entropy_with_logits(
        logits, batch.target, nn::BCEWithLogitsOptions().reduction(nn::Reduction::None));
    return nn::sum(nn::sum(terms, {2}) * batch.mask);
  }
  const std::int64_t V = logits.size(-1);
  return nn::cross_entropy(logits.reshape({-1, V}), batch.target.reshape({-1}),
                           nn::CrossEntropyOptions().reduction(nn::Reduction::Sum));
}

std::vector<std::int64_t> permutation(std::int64_t n, std::uint64_t seed, std::uint64_t stream) {
  std::vector<std::int64_t> order(static_cast<std::size_t>(std::max<std::int64_t>(n, 0)));
  std::iota(order.begin(), order.end(), 0);
  for (std::int64_t i = n - 1; i > 0; --i) {
    // 64 random bits per draw: counter (stream, i); the modulo bias is below 2^-40.
    auto r = nn::philox4x32(seed, static_cast<std::uint64_t>(i), stream);
    std::uint64_t bits = (static_cast<std::uint64_t>(r[0]) << 32) | r[1];
    auto j = static_cast<std::int64_t>(bits % static_cast<std::uint64_t>(i + 1));
    std::swap(order[static_cast<std::size_t>(i)], order[static_cast<std::size_t>(j)]);
  }
  return order;
}

}  // namespace musegen
