// CPU optimizer kernels (src/kernels/optim.hpp): the fused SGD, Adam/AdamW and RMSprop steps,
// and the |x|^p sum behind clip_grad_norm_.
//
// Each step is one pass over the parameter: every element reads its gradient and moments once
// and writes the parameter and moments once. The options that change the formula (momentum,
// nesterov, amsgrad, centered) are template parameters, so each inner loop is branch-free and
// GCC vectorizes it at -O3; per-step constants (bias corrections) are computed once, in double,
// and rounded to float. Elements are independent, so splitting across threads by index keeps
// results identical whatever the thread count.
//
// The multi-tensor entries (sgd_step_multi, ...) call the single-tensor kernel on each entry
// in turn: on the CPU a call costs nothing worth saving, and the results are then those of
// the single-tensor kernel by construction.
#include "kernels/optim.hpp"
#include "kernels/optim_constants.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "cpu/parallel.hpp"

namespace nn::cpu {
namespace {

constexpr std::int64_t kGrain = 1 << 14;

// --- SGD ----------------------------------------------------------------------------------

template <bool kMomentum, bool kNesterov, bool kFirstStep>
void sgd_loop(float* __restrict p, const float* __restrict grad, float* __restrict buf,
              std::int64_t n, float sign, float lr, float momentum, float dampening_keep,
              float weight_decay) {
  for (std::int64_t i = 0; i < n; ++i) {
    const float g = sign * grad[i] + weight_decay * p[i];
    if constexpr (!kMomentum) {
      p[i] -= lr * g;
    } else {
      const float b = kFirstStep ? g : momentum * buf[i] + dampening_keep * g;
      buf[i] = b;
      const float d = kNesterov ? g + momentum * b : b;
      p[i] -= lr * d;
    }
  }
}

void sgd_step_cpu(Tensor& param, const Tensor& grad, Tensor& momentum_buffer,
                  const kernels::SgdStep& h) {
  float* p = param.data_ptr<float>();
  const float* g = grad.data_ptr<float>();
  float* buf = h.momentum != 0.0 ? momentum_buffer.data_ptr<float>() : nullptr;
  const float sign = h.maximize ? -1.0f : 1.0f;
  const auto lr = static_cast<float>(h.lr);
  const auto momentum = static_cast<float>(h.momentum);
  const auto keep = static_cast<float>(1.0 - h.dampening);
  const auto wd = static_cast<float>(h.weight_decay);
  parallel_for(param.numel(), kGrain, [&](std::int64_t begin, std::int64_t end) {
    float* pb = p + begin;
    const float* gb = g + begin;
    float* bb = buf ? buf + begin : nullptr;
    const std::int64_t n = end - begin;
    if (!buf) return sgd_loop<false, false, false>(pb, gb, bb, n, sign, lr, momentum, keep, wd);
    if (h.first_step) {
      if (h.nesterov) return sgd_loop<true, true, true>(pb, gb, bb, n, sign, lr, momentum, keep, wd);
      return sgd_loop<true, false, true>(pb, gb, bb, n, sign, lr, momentum, keep, wd);
    }
    if (h.nesterov) return sgd_loop<true, true, false>(pb, gb, bb, n, sign, lr, momentum, keep, wd);
    return sgd_loop<true, false, false>(pb, gb, bb, n, sign, lr, momentum, keep, wd);
  });
}

// --- Adam / AdamW -------------------------------------------------------------------------

template <bool kAmsgrad>
void adam_loop(float* __restrict p, const float* __restrict grad, float* __restrict m,
               float* __restrict v, float* __restrict vmax, std::int64_t n,
               const kernels::AdamConstants c) {
  for (std::int64_t i = 0; i < n; ++i) {
    const float pi = p[i] * c.decay;
    const float g = c.sign * grad[i] + c.l2 * p[i];
    const float mi = c.beta1 * m[i] + c.one_minus_beta1 * g;
    const float vi = c.beta2 * v[i] + c.one_minus_beta2 * (g * g);
    m[i] = mi;
    v[i] = vi;
    float vhat = vi;
    if constexpr (kAmsgrad) {
      vhat = std::max(vmax[i], vi);
      vmax[i] = vhat;
    }
    const float denom = std::sqrt(vhat) * c.inv_bc2_sqrt + c.eps;
    p[i] = pi - c.step_size * (mi / denom);
  }
}

void adam_step_cpu(Tensor& param, const Tensor& grad, Tensor& exp_avg, Tensor& exp_avg_sq,
                   Tensor& max_exp_avg_sq, const kernels::AdamStep& h) {
  const kernels::AdamConstants c = kernels::adam_constants(h, h.step);

  float* p = param.data_ptr<float>();
  const float* g = grad.data_ptr<float>();
  float* m = exp_avg.data_ptr<float>();
  float* v = exp_avg_sq.data_ptr<float>();
  float* vmax = h.amsgrad ? max_exp_avg_sq.data_ptr<float>() : nullptr;
  parallel_for(param.numel(), kGrain, [&](std::int64_t begin, std::int64_t end) {
    const std::int64_t n = end - begin;
    if (vmax) {
      adam_loop<true>(p + begin, g + begin, m + begin, v + begin, vmax + begin, n, c);
    } else {
      adam_loop<false>(p + begin, g + begin, m + begin, v + begin, nullptr, n, c);
    }
  });
}

// --- RMSprop ------------------------------------------------------------------------------

template <bool kCentered, bool kMomentum>
void rmsprop_loop(float* __restrict p, const float* __restrict grad, float* __restrict sq,
                  float* __restrict gavg, float* __restrict buf, std::int64_t n,
                  const kernels::RmspropConstants c) {
  for (std::int64_t i = 0; i < n; ++i) {
    const float g = c.sign * grad[i] + c.weight_decay * p[i];
    const float s = c.alpha * sq[i] + c.one_minus_alpha * (g * g);
    sq[i] = s;
    float var = s;
    if constexpr (kCentered) {
      const float a = c.alpha * gavg[i] + c.one_minus_alpha * g;
      gavg[i] = a;
      var = s - a * a;
    }
    const float d = std::sqrt(var) + c.eps;
    if constexpr (kMomentum) {
      const float b = c.momentum * buf[i] + g / d;
      buf[i] = b;
      p[i] -= c.lr * b;
    } else {
      p[i] -= c.lr * (g / d);
    }
  }
}

void rmsprop_step_cpu(Tensor& param, const Tensor& grad, Tensor& square_avg, Tensor& grad_avg,
                      Tensor& momentum_buffer, const kernels::RmspropStep& h) {
  const kernels::RmspropConstants c = kernels::rmsprop_constants(h);

  float* p = param.data_ptr<float>();
  const float* g = grad.data_ptr<float>();
  float* sq = square_avg.data_ptr<float>();
  float* gavg = h.centered ? grad_avg.data_ptr<float>() : nullptr;
  float* buf = h.momentum > 0.0 ? momentum_buffer.data_ptr<float>() : nullptr;
  parallel_for(param.numel(), kGrain, [&](std::int64_t begin, std::int64_t end) {
    const std::int64_t n = end - begin;
    float* pb = p + begin;
    const float* gb = g + begin;
    float* sb = sq + begin;
    float* ab = gavg ? gavg + begin : nullptr;
    float* bb = buf ? buf + begin : nullptr;
    if (gavg && buf) return rmsprop_loop<true, true>(pb, gb, sb, ab, bb, n, c);
    if (gavg) return rmsprop_loop<true, false>(pb, gb, sb, ab, bb, n, c);
    if (buf) return rmsprop_loop<false, true>(pb, gb, sb, ab, bb, n, c);
    return rmsprop_loop<false, false>(pb, gb, sb, ab, bb, n, c);
  });
}

// --- multi-tensor steps: each entry through the single-tensor kernel ---------------------

// A null buffer pointer stands for an undefined tensor (an unused buffer).
Tensor& or_none(Tensor* t, Tensor& none) { return t != nullptr ? *t : none; }

void sgd_step_multi_cpu(const std::vector<kernels::SgdTensors>& tensors,
                        const kernels::SgdStep& h) {
  kernels::SgdStep each = h;
  for (const kernels::SgdTensors& e : tensors) {
    Tensor none;
    each.first_step = e.first_step;
    sgd_step_cpu(*e.param, *e.grad, or_none(e.momentum_buffer, none), each);
  }
}

void adam_step_multi_cpu(const std::vector<kernels::AdamTensors>& tensors,
                         const kernels::AdamStep& h) {
  kernels::AdamStep each = h;
  for (const kernels::AdamTensors& e : tensors) {
    Tensor none;
    each.step = e.step;
    adam_step_cpu(*e.param, *e.grad, *e.exp_avg, *e.exp_avg_sq, or_none(e.max_exp_avg_sq, none),
                  each);
  }
}

void rmsprop_step_multi_cpu(const std::vector<kernels::RmspropTensors>& tensors,
                            const kernels::RmspropStep& h) {
  for (const kernels::RmspropTensors& e : tensors) {
    Tensor no_avg, no_buf;
    rmsprop_step_cpu(*e.param, *e.grad, *e.square_avg, or_none(e.grad_avg, no_avg),
                     or_none(e.momentum_buffer, no_buf), h);
  }
}

// --- sum of |x|^p -------------------------------------------------------------------------

// Blocks of a fixed size, each summed by one thread into its own slot, then the slots added
// in order: the result does not depend on how many threads ran.
constexpr std::int64_t kNormBlock = 4096;

template <class BlockFn>
std::vector<double> per_block(std::int64_t n, const BlockFn& block_fn) {
  const std::int64_t blocks = (n + kNormBlock - 1) / kNormBlock;
  std::vector<double> partial(static_cast<std::size_t>(blocks), 0.0);
  parallel_for(blocks, 8, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t b = begin; b < end; ++b) {
      const std::int64_t first = b * kNormBlock;
      partial[static_cast<std::size_t>(b)] = block_fn(first, std::min(n, first + kNormBlock));
    }
  });
  return partial;
}

double abs_pow_sum_cpu(const Tensor& x, double norm_type) {
  const float* px = x.data_ptr<float>();
  const std::int64_t n = x.numel();
  if (n == 0) return 0.0;
  if (std::isinf(norm_type)) {
    double best = 0.0;
    for (double m : per_block(n, [&](std::int64_t begin, std::int64_t end) {
           float block_max = 0.0f;
           for (std::int64_t i = begin; i < end; ++i) {
             const float a = std::fabs(px[i]);
             // NaN propagates, as torch.norm's does.
             block_max = (a > block_max || a != a) ? a : block_max;
           }
           return static_cast<double>(block_max);
         })) {
      best = (m > best || m != m) ? m : best;
    }
    return best;
  }
  std::vector<double> partial;
  if (norm_type == 2.0) {
    partial = per_block(n, [&](std::int64_t begin, std::int64_t end) {
      double lanes[8] = {};
      std::int64_t i = begin;
      for (; i + 8 <= end; i += 8) {
        for (int l = 0; l < 8; ++l) {
          const double v = px[i + l];
          lanes[l] += v * v;
        }
      }
      double total = 0.0;
      for (; i < end; ++i) total += static_cast<double>(px[i]) * px[i];
      for (double lane : lanes) total += lane;
      return total;
    });
  } else if (norm_type == 1.0) {
    partial = per_block(n, [&](std::int64_t begin, std::int64_t end) {
      double total = 0.0;
      for (std::int64_t i = begin; i < end; ++i) total += std::fabs(static_cast<double>(px[i]));
      return total;
    });
  } else {
    partial = per_block(n, [&](std::int64_t begin, std::int64_t end) {
      double total = 0.0;
      for (std::int64_t i = begin; i < end; ++i) {
        total += std::pow(std::fabs(static_cast<double>(px[i])), norm_type);
      }
      return total;
    });
  }
  double total = 0.0;
  for (double s : partial) total += s;
  return total;
}

}  // namespace
}  // namespace nn::cpu

namespace nn::kernels {
Table<SgdStepFn> sgd_step{"sgd_step", cpu::sgd_step_cpu};
Table<AdamStepFn> adam_step{"adam_step", cpu::adam_step_cpu};
Table<RmspropStepFn> rmsprop_step{"rmsprop_step", cpu::rmsprop_step_cpu};
Table<SgdStepMultiFn> sgd_step_multi{"sgd_step_multi", cpu::sgd_step_multi_cpu};
Table<AdamStepMultiFn> adam_step_multi{"adam_step_multi", cpu::adam_step_multi_cpu};
Table<RmspropStepMultiFn> rmsprop_step_multi{"rmsprop_step_multi", cpu::rmsprop_step_multi_cpu};
Table<PowSumFn> abs_pow_sum{"abs_pow_sum", cpu::abs_pow_sum_cpu};
}  // namespace nn::kernels
