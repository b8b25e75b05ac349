#include "sampling.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>

#include <libnn/random.hpp>

namespace musegen {

double uniform(std::uint64_t seed, std::uint64_t step, std::uint64_t draw) {
  auto r = nn::philox4x32(seed, step, draw);
  const std::uint64_t bits = (static_cast<std::uint64_t>(r[0]) << 21) ^ (r[1] >> 11);
  return static_cast<double>(bits & ((1ULL << 53) - 1)) * 0x1.0p-53;
}

std::vector<double> token_distribution(std::span<const float> logits,
                                       const SampleOptions& options) {
  const std::size_t V = logits.size();
  if (V == 0) throw std::invalid_argument("sample_token: empty logits");
  if (!(options.temperature > 0)) throw std::invalid_argument("temperature must be positive");
  if (!(options.top_p > 0 && options.top_p <= 1)) throw std::invalid_argument("top-p must be in (0, 1]");
  std::vector<double> p(V);
  double max = -INFINITY;
  for (float v : logits) max = std::max(max, static_cast<double>(v));
  double total = 0;
  for (std::size_t i = 0; i < V; ++i) {
    p[i] = std::exp((static_cast<double>(logits[i]) - max) / options.temperature);
    total += p[i];
  }
  for (double& v : p) v /= total;

  // Tokens by decreasing probability (ties by index: deterministic).
  std::vector<std::size_t> order(V);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return p[a] > p[b]; });
  std::size_t keep = V;
  if (options.top_k > 0) keep = std::min(keep, static_cast<std::size_t>(options.top_k));
  if (options.top_p < 1) {
    double mass = 0;
    std::size_t n = 0;
    while (n < keep) {
      mass += p[order[n]];
      ++n;
      if (mass >= options.top_p) break;
    }
    keep = n;
  }
  double kept = 0;
  for (std::size_t r = 0; r < keep; ++r) kept += p[order[r]];
  std::vector<double> out(V, 0.0);
  for (std::size_t r = 0; r < keep; ++r) out[order[r]] = p[order[r]] / kept;
  return out;
}

std::int32_t sample_token(std::span<const float> logits, const SampleOptions& options,
                          std::uint64_t step) {
  const auto p = token_distribution(logits, options);
  const double u = uniform(options.seed, step, 0);
  double cumulative = 0;
  std::int32_t last_nonzero = 0;
  for (std::size_t i = 0; i < p.size(); ++i) {
    if (p[i] == 0) continue;
    cumulative += p[i];
    last_nonzero = static_cast<std::int32_t>(i);
    if (u < cumulative) return static_cast<std::int32_t>(i);
  }
  return last_nonzero;  // rounding left u just above the total
}

std::vector<std::uint8_t> sample_frame(std::span<const float> logits, const SampleOptions& options,
                                       std::uint64_t step) {
  if (!(options.temperature > 0)) throw std::invalid_argument("temperature must be positive");
  std::vector<std::uint8_t> frame(logits.size());
  for (std::size_t k = 0; k < logits.size(); ++k) {
    const double p = 1.0 / (1.0 + std::exp(-static_cast<double>(logits[k]) / options.temperature));
    frame[k] = uniform(options.seed, step, k) < p ? 1 : 0;
  }
  return frame;
}

}  // namespace musegen
