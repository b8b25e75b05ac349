// CPU loss kernels (src/kernels/loss.hpp): fused cross-entropy and binary cross-entropy with
// logits, forward and backward: the reference implementation.
//
// Cross-entropy never materializes the softmax: the forward reads each row of logits twice
// (max, then the exp-sum with the row's plain sum picked up on the way) and saves only the
// row's log-sum-exp (as max + log of the shifted sum); the backward rebuilds softmax from
// logits and those two numbers and writes
// grad_logits = w * (softmax - smoothed one-hot) in the same pass. Rows are split across
// threads; each row is computed by one thread in a fixed order (sums in double), so results
// do not depend on the thread count. The exponentials of a row are computed by vexp
// (cpu/vec_math.hpp), a chunk at a time into a stack buffer.
#include "kernels/loss.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <mutex>

#include "cpu/parallel.hpp"
#include "cpu/vec_math.hpp"

namespace nn::cpu {
namespace {

using kernels::CrossEntropyStats;

constexpr std::int64_t kWorkGrain = 1 << 14;  // elements below which a fork does not pay
constexpr std::int64_t kExpChunk = 256;        // exps computed at a time (a multiple of 8)

// sum_c exp(v[c] - m) and (when wanted) sum_c v[c], both in double, 8 lanes each.
// (The order of the additions is that of one loop over k: lane k % 8 for the whole groups of
// 8, then the last n % 8 in order; the chunks only decide when exp is computed.)
void exp_sum_and_sum(const float* v, std::int64_t n, float m, bool want_sum, double& exp_sum,
                     double& sum) {
  double e[8] = {}, s[8] = {};
  const std::int64_t whole = n - n % 8;
  exp_sum = 0.0;
  sum = 0.0;
  float ex[kExpChunk];
  for (std::int64_t k0 = 0; k0 < n; k0 += kExpChunk) {
    const std::int64_t len = std::min(kExpChunk, n - k0);
    for (std::int64_t j = 0; j < len; ++j) ex[j] = v[k0 + j] - m;
    vexp(ex, ex, len);
    const std::int64_t len_whole = std::max<std::int64_t>(0, std::min(len, whole - k0));
    std::int64_t j = 0;
    for (; j < len_whole; j += 8) {
      for (int l = 0; l < 8; ++l) e[l] += ex[j + l];
    }
    for (; j < len; ++j) exp_sum += ex[j];
  }
  if (want_sum) {
    std::int64_t k = 0;
    for (; k < whole; k += 8) {
      for (int l = 0; l < 8; ++l) s[l] += v[k + l];
    }
    for (; k < n; ++k) sum += v[k];
  }
  for (int l = 0; l < 8; ++l) {
    exp_sum += e[l];
    sum += s[l];
  }
}

CrossEntropyStats cross_entropy_forward_cpu(const Tensor& logits, const Tensor& target,
                                            Tensor& loss, Tensor& row_max, Tensor& log_sum,
                                            std::int64_t ignore_index, float label_smoothing) {
  // logits is (N,C), target (N), loss, row_max and log_sum (N)
  const std::int64_t n_rows = logits.size(0), c = logits.size(1);
  const float* px = logits.data_ptr<float>();
  const std::int64_t* pt = target.data_ptr<std::int64_t>();
  float* pl = loss.data_ptr<float>();
  float* pm = row_max.data_ptr<float>();
  float* ps = log_sum.data_ptr<float>();
  const double eps = label_smoothing;

  CrossEntropyStats stats;
  std::mutex stats_mutex;
  parallel_for(n_rows, std::max<std::int64_t>(1, kWorkGrain / std::max<std::int64_t>(1, c)),
               [&](std::int64_t begin, std::int64_t end) {
    CrossEntropyStats local;
    for (std::int64_t n = begin; n < end; ++n) {
      const std::int64_t y = pt[n];
      if (y == ignore_index) {
        pl[n] = pm[n] = ps[n] = 0.0f;
        continue;
      }
      if (y < 0 || y >= c) {
        if (local.bad_row < 0) {
          local.bad_row = n;
          local.bad_target = y;
        }
        continue;
      }
      ++local.valid_rows;
      const float* xr = px + n * c;
      const float m = nn::cpu::row_max(xr, c);
      double exp_sum = 0.0, sum = 0.0;
      exp_sum_and_sum(xr, c, m, eps > 0.0, exp_sum, sum);
      const double row_log_sum = std::log(exp_sum);
      const double row_lse = static_cast<double>(m) + row_log_sum;
      // -log p_y = lse - x_y;  mean_c(-log p_c) = lse - mean_c x_c
      double row_loss = (1.0 - eps) * (row_lse - xr[y]);
      if (eps > 0.0) row_loss += eps * (row_lse - sum / static_cast<double>(c));
      pl[n] = static_cast<float>(row_loss);
      pm[n] = m;
      ps[n] = static_cast<float>(row_log_sum);
    }
    // Counting and taking the smallest bad row are order-independent: deterministic.
    std::lock_guard<std::mutex> lock(stats_mutex);
    stats.valid_rows += local.valid_rows;
    if (local.bad_row >= 0 && (stats.bad_row < 0 || local.bad_row < stats.bad_row)) {
      stats.bad_row = local.bad_row;
      stats.bad_target = local.bad_target;
    }
  });
  return stats;
}

void cross_entropy_backward_cpu(const Tensor& grad_loss, float scale, const Tensor& logits,
                                const Tensor& target, const Tensor& row_max,
                                const Tensor& log_sum, Tensor& grad_logits,
                                std::int64_t ignore_index, float label_smoothing) {
  // logits and grad_logits are (N,C); target, row_max, log_sum (N); grad_loss (N) or ()
  const std::int64_t n_rows = logits.size(0), c = logits.size(1);
  const float* pg = grad_loss.data_ptr<float>();
  const bool per_row = grad_loss.numel() == n_rows;  // with N == 1 both readings agree
  const float* px = logits.data_ptr<float>();
  const std::int64_t* pt = target.data_ptr<std::int64_t>();
  const float* pm = row_max.data_ptr<float>();
  const float* ps = log_sum.data_ptr<float>();
  float* po = grad_logits.data_ptr<float>();
  const float smooth = c > 0 ? label_smoothing / static_cast<float>(c) : 0.0f;
  const float hit = 1.0f - label_smoothing;
  parallel_for(n_rows, std::max<std::int64_t>(1, kWorkGrain / std::max<std::int64_t>(1, c)),
               [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t n = begin; n < end; ++n) {
      const float* xr = px + n * c;
      float* outr = po + n * c;
      const std::int64_t y = pt[n];
      if (y == ignore_index) {
        for (std::int64_t k = 0; k < c; ++k) outr[k] = 0.0f;
        continue;
      }
      // loss[n] = (1-eps) * (lse - x_y) + eps * (lse - mean_c x_c), lse = log sum_c exp(x_c)
      //   -> d loss[n] / d x_c = softmax_c - (1-eps) * [c == y] - eps/C
      const float w = pg[per_row ? n : 0] * scale;
      const float m = pm[n], s = ps[n];
      float e[kExpChunk];  // softmax, a chunk at a time
      for (std::int64_t k0 = 0; k0 < c; k0 += kExpChunk) {
        const std::int64_t len = std::min(kExpChunk, c - k0);
        for (std::int64_t k = 0; k < len; ++k) e[k] = (xr[k0 + k] - m) - s;
        vexp(e, e, len);
        for (std::int64_t k = 0; k < len; ++k) outr[k0 + k] = w * (e[k] - smooth);
      }
      outr[y] -= w * hit;
    }
  });
}

// Where pos_weight's value for column j lives: stride 0 for a single value.
struct PosWeight {
  const float* data = nullptr;  // null: pos_weight = 1
  std::int64_t stride = 0;
};

PosWeight pos_weight_view(const Tensor& pos_weight) {
  if (!pos_weight.defined()) return {};
  return {pos_weight.data_ptr<float>(), pos_weight.numel() == 1 ? 0 : 1};
}

std::int64_t last_dim(const Tensor& x) { return x.dim() == 0 ? 1 : x.size(-1); }

void bce_with_logits_forward_cpu(const Tensor& logits, const Tensor& target,
                                 const Tensor& pos_weight, Tensor& loss) {
  const std::int64_t n = logits.numel(), l = last_dim(logits);
  if (n == 0) return;
  const float* px = logits.data_ptr<float>();
  const float* pt = target.data_ptr<float>();
  float* pl = loss.data_ptr<float>();
  const PosWeight pw = pos_weight_view(pos_weight);
  parallel_for(n / l, std::max<std::int64_t>(1, kWorkGrain / l), [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t row = begin; row < end; ++row) {
      for (std::int64_t j = 0; j < l; ++j) {
        const std::int64_t i = row * l + j;
        const float x = px[i], t = pt[i];
        const float weight = pw.data ? pw.data[j * pw.stride] : 1.0f;
        // -[pw t log sigmoid(x) + (1-t) log(1 - sigmoid(x))]
        //   = pw t softplus(-x) + (1-t) softplus(x): two non-negative terms, no cancellation
        const float log_term = std::log1p(std::exp(-std::fabs(x)));
        const float softplus_neg = std::max(-x, 0.0f) + log_term;
        const float softplus_pos = std::max(x, 0.0f) + log_term;
        pl[i] = weight * t * softplus_neg + (1.0f - t) * softplus_pos;
      }
    }
  });
}

void bce_with_logits_backward_cpu(const Tensor& grad_loss, float scale, const Tensor& logits,
                                  const Tensor& target, const Tensor& pos_weight,
                                  Tensor& grad_logits) {
  const std::int64_t n = logits.numel(), l = last_dim(logits);
  if (n == 0) return;
  const float* pg = grad_loss.data_ptr<float>();
  const bool elementwise = grad_loss.numel() == n;  // with n == 1 both readings agree
  const float* px = logits.data_ptr<float>();
  const float* pt = target.data_ptr<float>();
  float* po = grad_logits.data_ptr<float>();
  const PosWeight pw = pos_weight_view(pos_weight);
  parallel_for(n / l, std::max<std::int64_t>(1, kWorkGrain / l), [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t row = begin; row < end; ++row) {
      for (std::int64_t j = 0; j < l; ++j) {
        const std::int64_t i = row * l + j;
        const float x = px[i], t = pt[i];
        const float weight = pw.data ? pw.data[j * pw.stride] : 1.0f;
        // loss = pw t softplus(-x) + (1-t) softplus(x)
        //   -> d loss / dx = (1-t) sigmoid(x) - pw t sigmoid(-x)
        const float e = std::exp(-std::fabs(x));
        const float big = 1.0f / (1.0f + e), small = e / (1.0f + e);  // sigmoid(|x|), sigmoid(-|x|)
        const float sig_pos = x >= 0.0f ? big : small;
        const float sig_neg = x >= 0.0f ? small : big;
        const float g = pg[elementwise ? i : 0] * scale;
        po[i] = g * ((1.0f - t) * sig_pos - weight * t * sig_neg);
      }
    }
  });
}

}  // namespace
}  // namespace nn::cpu

namespace nn::kernels {
Table<CrossEntropyFn> cross_entropy_forward{"cross_entropy_forward", cpu::cross_entropy_forward_cpu};
Table<CrossEntropyBackwardFn> cross_entropy_backward{"cross_entropy_backward",
                                                     cpu::cross_entropy_backward_cpu};
Table<BceWithLogitsFn> bce_with_logits_forward{"bce_with_logits_forward",
                                               cpu::bce_with_logits_forward_cpu};
Table<BceWithLogitsBackwardFn> bce_with_logits_backward{"bce_with_logits_backward",
                                                        cpu::bce_with_logits_backward_cpu};
}  // namespace nn::kernels
