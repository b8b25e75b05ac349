// The per-step constants of the fused Adam(W) and RMSprop kernels, computed once on the host
// and shared by the CPU (src/cpu/optim.cpp) and CUDA (src/cuda/optim.cu) kernels: the bias
// corrections in double, then each constant rounded to float once. One definition keeps the
// two devices' updates bit-identical (the CUDA tests compare them over several steps).
#pragma once

#include <cmath>
#include <cstdint>

#include "kernels/optim.hpp"

namespace nn::kernels {

struct AdamConstants {
  float sign;            // -1 when maximizing
  float decay;           // AdamW: 1 - lr * wd; Adam: 1
  float l2;              // Adam: wd; AdamW: 0
  float beta1, one_minus_beta1;
  float beta2, one_minus_beta2;
  float step_size;       // lr / (1 - beta1^t)
  float inv_bc2_sqrt;    // 1 / sqrt(1 - beta2^t)
  float eps;
};

// For step t (from 1); h.step is ignored, so that each tensor of a multi-tensor step passes
// its own.
inline AdamConstants adam_constants(const AdamStep& h, std::int64_t step) {
  const double t = static_cast<double>(step);
  const double bias_correction1 = 1.0 - std::pow(h.beta1, t);
  const double bias_correction2 = 1.0 - std::pow(h.beta2, t);
  AdamConstants c{};
  c.sign = h.maximize ? -1.0f : 1.0f;
  c.decay = h.decoupled_weight_decay ? static_cast<float>(1.0 - h.lr * h.weight_decay) : 1.0f;
  c.l2 = h.decoupled_weight_decay ? 0.0f : static_cast<float>(h.weight_decay);
  c.beta1 = static_cast<float>(h.beta1);
  c.one_minus_beta1 = static_cast<float>(1.0 - h.beta1);
  c.beta2 = static_cast<float>(h.beta2);
  c.one_minus_beta2 = static_cast<float>(1.0 - h.beta2);
  c.step_size = static_cast<float>(h.lr / bias_correction1);
  c.inv_bc2_sqrt = static_cast<float>(1.0 / std::sqrt(bias_correction2));
  c.eps = static_cast<float>(h.eps);
  return c;
}

struct RmspropConstants {
  float sign;
  float lr;
  float alpha, one_minus_alpha;
  float eps;
  float weight_decay;
  float momentum;
};

inline RmspropConstants rmsprop_constants(const RmspropStep& h) {
  RmspropConstants c{};
  c.sign = h.maximize ? -1.0f : 1.0f;
  c.lr = static_cast<float>(h.lr);
  c.alpha = static_cast<float>(h.alpha);
  c.one_minus_alpha = static_cast<float>(1.0 - h.alpha);
  c.eps = static_cast<float>(h.eps);
  c.weight_decay = static_cast<float>(h.weight_decay);
  c.momentum = static_cast<float>(h.momentum);
  return c;
}

}  // namespace nn::kernels
