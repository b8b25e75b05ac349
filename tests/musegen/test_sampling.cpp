// Sampling: the distribution after temperature / top-k / top-p against a brute-force oracle
// written from the definitions, the empirical frequencies of many draws against it, and
// determinism.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "sampling.hpp"

namespace {

using musegen::SampleOptions;

// The oracle: softmax(logits / T); keep token i when fewer than k tokens are strictly more
// likely (ties broken by index) and the mass of the tokens ranked before it is < p.
std::vector<double> brute_force(const std::vector<float>& logits, double temperature,
                                std::int64_t top_k, double top_p) {
  const std::size_t V = logits.size();
  std::vector<long double> e(V);
  long double z = 0;
  for (std::size_t i = 0; i < V; ++i) z += e[i] = std::exp(static_cast<long double>(logits[i]) / temperature);
  std::vector<double> p(V);
  for (std::size_t i = 0; i < V; ++i) p[i] = static_cast<double>(e[i] / z);
  std::vector<double> kept(V, 0);
  double total = 0;
  for (std::size_t i = 0; i < V; ++i) {
    std::size_t rank = 0;
    double before = 0;
    for (std::size_t j = 0; j < V; ++j) {
      if (p[j] > p[i] || (p[j] == p[i] && j < i)) {
        ++rank;
        before += p[j];
      }
    }
    if ((top_k > 0 && rank >= static_cast<std::size_t>(top_k)) || before >= top_p) continue;
    kept[i] = p[i];
    total += p[i];
  }
  for (double& v : kept) v /= total;
  return kept;
}

std::vector<float> some_logits() {
  std::vector<float> logits;
  for (int i = 0; i < 37; ++i) logits.push_back(std::sin(1.7f * static_cast<float>(i)) * 3.0f);
  return logits;
}

TEST(Sampling, DistributionMatchesTheDefinitions) {
  const auto logits = some_logits();
  for (double temperature : {0.5, 1.0, 1.7}) {
    for (std::int64_t top_k : {0, 1, 5, 36}) {
      for (double top_p : {1.0, 0.9, 0.5, 0.01}) {
        SampleOptions o;
        o.temperature = temperature;
        o.top_k = top_k;
        o.top_p = top_p;
        const auto got = musegen::token_distribution(logits, o);
        const auto want = brute_force(logits, temperature, top_k, top_p);
        for (std::size_t i = 0; i < logits.size(); ++i) {
          EXPECT_NEAR(got[i], want[i], 1e-12) << "T=" << temperature << " k=" << top_k
                                              << " p=" << top_p << " token " << i;
        }
      }
    }
  }
}

TEST(Sampling, FrequenciesFollowTheDistribution) {
  const auto logits = some_logits();
  SampleOptions o;
  o.top_p = 0.9;
  o.seed = 12345;
  const auto p = musegen::token_distribution(logits, o);
  constexpr int kDraws = 200000;
  std::vector<int> counts(logits.size(), 0);
  for (int s = 0; s < kDraws; ++s) ++counts[static_cast<std::size_t>(musegen::sample_token(logits, o, static_cast<std::uint64_t>(s)))];
  double chi2 = 0;
  int dof = -1;
  for (std::size_t i = 0; i < p.size(); ++i) {
    if (p[i] == 0) {
      EXPECT_EQ(counts[i], 0) << "token " << i << " was removed by top-p but drawn";
      continue;
    }
    const double expected = p[i] * kDraws;
    chi2 += (counts[i] - expected) * (counts[i] - expected) / expected;
    ++dof;
  }
  // The 99.99th percentile of chi-square is below dof + 6 sqrt(2 dof) + 20 for these sizes.
  EXPECT_LT(chi2, dof + 6 * std::sqrt(2.0 * dof) + 20) << "dof " << dof;
}

TEST(Sampling, TopKOneIsArgmaxAndSeedsRepeat) {
  const auto logits = some_logits();
  const auto argmax = std::max_element(logits.begin(), logits.end()) - logits.begin();
  SampleOptions greedy;
  greedy.top_k = 1;
  for (std::uint64_t s = 0; s < 50; ++s) EXPECT_EQ(musegen::sample_token(logits, greedy, s), argmax);

  SampleOptions a, b;
  a.seed = b.seed = 99;
  std::vector<std::int32_t> first, second, other;
  SampleOptions c;
  c.seed = 100;
  for (std::uint64_t s = 0; s < 64; ++s) {
    first.push_back(musegen::sample_token(logits, a, s));
    second.push_back(musegen::sample_token(logits, b, s));
    other.push_back(musegen::sample_token(logits, c, s));
  }
  EXPECT_EQ(first, second);
  EXPECT_NE(first, other);
}

TEST(Sampling, FrameKeysAreIndependentBernoullis) {
  std::vector<float> logits = {-4.0f, -1.0f, 0.0f, 1.0f, 4.0f};
  SampleOptions o;
  o.temperature = 2.0;
  constexpr int kDraws = 40000;
  std::vector<int> on(logits.size(), 0);
  int both = 0;
  for (int s = 0; s < kDraws; ++s) {
    auto f = musegen::sample_frame(logits, o, static_cast<std::uint64_t>(s));
    for (std::size_t k = 0; k < f.size(); ++k) on[k] += f[k];
    both += f[2] & f[3];
  }
  for (std::size_t k = 0; k < logits.size(); ++k) {
    const double p = 1 / (1 + std::exp(-logits[k] / 2.0));
    EXPECT_NEAR(on[k] / double(kDraws), p, 5 * std::sqrt(p * (1 - p) / kDraws)) << "key " << k;
  }
  const double p2 = 0.5, p3 = 1 / (1 + std::exp(-0.5));
  EXPECT_NEAR(both / double(kDraws), p2 * p3, 5 * std::sqrt(p2 * p3 / kDraws));
}

TEST(Sampling, BadOptionsAreRefused) {
  const auto logits = some_logits();
  SampleOptions o;
  o.temperature = 0;
  EXPECT_THROW(musegen::token_distribution(logits, o), std::invalid_argument);
  o.temperature = 1;
  o.top_p = 0;
  EXPECT_THROW(musegen::token_distribution(logits, o), std::invalid_argument);
  EXPECT_THROW(musegen::token_distribution({}, SampleOptions{}), std::invalid_argument);
}

}  // namespace
