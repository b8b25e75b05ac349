// The LSTM's per-step elementwise work, on a range of hidden units [j0, j1) of one batch
// row: the gate activations and cell update (forward) and the gate gradients (backward).
// Written once here and compiled per instruction set like vec_math_impl.hpp: in lstm.cpp
// for the base instruction set and in lstm_units_avx512.cpp with the AVX-512 flags, so the
// loops become 16-wide; lstm.cpp picks one with the GEMM's choice (set_gemm_isa).
//
// The implementations have internal linkage (anonymous namespace): each including file
// compiles its own copy for its instruction set, and the linker cannot swap them.
#pragma once

#include <algorithm>
#include <cstdint>

#include "cpu/vec_math.hpp"

namespace nn::cpu::lstm_detail {

struct UnitKernels {
  // g (4H): the pre-activations x_t w_ih^T + h_{t-1} w_hh^T in, the activations i, f, g, o
  // out (at units [j0, j1)); bias (4H) or null; c_prev (H, null = zeros), c and h (H): the
  // cell update c = f * c_prev + i * g, h = o * tanh(c).
  void (*forward)(float* g, const float* bias, const float* c_prev, float* c, float* h,
                  std::int64_t H, std::int64_t j0, std::int64_t j1);
  // a (4H): the activations i, f, g, o; c, c_prev (H, c_prev null = zeros): the cells;
  // dy (H): the gradient at h_t from the output, dh_rec (H) the one from step t+1. dc (H):
  // in, the gradient at c_t from step t+1; out, the one at c_{t-1}. Writes dg (4H), the
  // gradient at the pre-activations (at units [j0, j1)).
  void (*backward)(const float* a, const float* c, const float* c_prev, const float* dy,
                   const float* dh_rec, float* dc, float* dg, std::int64_t H, std::int64_t j0,
                   std::int64_t j1);
};

const UnitKernels& unit_kernels_generic();
#if defined(LIBNN_X86)
const UnitKernels& unit_kernels_avx512();  // only when cpu_features().avx512
#endif

namespace {

constexpr std::int64_t kUnitChunk = 256;  // units per stack buffer of tanh(c)

void units_forward(float* g, const float* bias, const float* c_prev, float* c, float* h,
                   std::int64_t H, std::int64_t j0, std::int64_t j1) {
  const std::int64_t n = j1 - j0;
  float* __restrict gi = g + j0;
  float* __restrict gf = g + H + j0;
  float* __restrict gg = g + 2 * H + j0;
  float* __restrict go = g + 3 * H + j0;
  if (bias) {
    for (std::int64_t q = 0; q < 4; ++q) {
      float* __restrict gq = g + q * H + j0;
      const float* __restrict bq = bias + q * H + j0;
      for (std::int64_t j = 0; j < n; ++j) gq[j] += bq[j];
    }
  }
  if (n == H) {
    vsigmoid(gi, gi, 2 * n);  // i and f side by side
  } else {
    vsigmoid(gi, gi, n);
    vsigmoid(gf, gf, n);
  }
  vtanh(gg, gg, n);
  vsigmoid(go, go, n);
  float tanh_c[kUnitChunk];
  for (std::int64_t o = 0; o < n; o += kUnitChunk) {
    const std::int64_t m = std::min(kUnitChunk, n - o);
    float* __restrict cc = c + j0 + o;
    const float* __restrict i = gi + o;
    const float* __restrict f = gf + o;
    const float* __restrict gv = gg + o;
    if (c_prev) {
      const float* __restrict cp = c_prev + j0 + o;
      for (std::int64_t j = 0; j < m; ++j) cc[j] = f[j] * cp[j] + i[j] * gv[j];
    } else {
      for (std::int64_t j = 0; j < m; ++j) cc[j] = i[j] * gv[j];
    }
    vtanh(cc, tanh_c, m);
    float* __restrict hh = h + j0 + o;
    const float* __restrict og = go + o;
    for (std::int64_t j = 0; j < m; ++j) hh[j] = og[j] * tanh_c[j];
  }
}

// One chunk of units of the backward, the arithmetic only; kPrev: c_prev given (else 0).
template <bool kPrev>
void units_backward_chunk(std::int64_t n, const float* __restrict ai, const float* __restrict af,
                          const float* __restrict ag, const float* __restrict ao,
                          const float* __restrict tanh_c, const float* __restrict cp,
                          const float* __restrict dy, const float* __restrict dh_rec,
                          float* __restrict dc, float* __restrict dgi, float* __restrict dgf,
                          float* __restrict dgg, float* __restrict dgo) {
  for (std::int64_t j = 0; j < n; ++j) {
    const float i = ai[j], f = af[j], gv = ag[j], o = ao[j], tc = tanh_c[j];
    // h = o * tanh(c);  c = f * c_prev + i * g
    const float dh = dy[j] + dh_rec[j];
    const float dcj = dc[j] + dh * o * (1.0f - tc * tc);
    dgo[j] = dh * tc * o * (1.0f - o);
    dgi[j] = dcj * gv * i * (1.0f - i);
    dgf[j] = kPrev ? dcj * cp[j] * f * (1.0f - f) : 0.0f;
    dgg[j] = dcj * i * (1.0f - gv * gv);
    dc[j] = dcj * f;
  }
}

void units_backward(const float* a, const float* c, const float* c_prev, const float* dy,
                    const float* dh_rec, float* dc, float* dg, std::int64_t H, std::int64_t j0,
                    std::int64_t j1) {
  float tanh_c[kUnitChunk];
  for (std::int64_t b0 = j0; b0 < j1; b0 += kUnitChunk) {
    const std::int64_t n = std::min(kUnitChunk, j1 - b0);
    vtanh(c + b0, tanh_c, n);
    const float* ai = a + b0;
    float* dgi = dg + b0;
    if (c_prev) {
      units_backward_chunk<true>(n, ai, ai + H, ai + 2 * H, ai + 3 * H, tanh_c, c_prev + b0,
                                 dy + b0, dh_rec + b0, dc + b0, dgi, dgi + H, dgi + 2 * H,
                                 dgi + 3 * H);
    } else {
      units_backward_chunk<false>(n, ai, ai + H, ai + 2 * H, ai + 3 * H, tanh_c, nullptr,
                                  dy + b0, dh_rec + b0, dc + b0, dgi, dgi + H, dgi + 2 * H,
                                  dgi + 3 * H);
    }
  }
}

}  // namespace
}  // namespace nn::cpu::lstm_detail
