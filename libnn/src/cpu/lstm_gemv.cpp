// The CPU step kernel of nn::LSTMStepper (table: src/kernels/lstm.hpp), the portable half-weight
// matrix-vector kernel and the float16 conversions (lstm_gemv.hpp).
//
// The step is lstm.cpp's small-batch forward at T = 1, for float32 or float16 weights: one
// parallel region over blocks of 16 hidden units; a thread computes the four gate rows of
// its units (x w_ih^T, or the caller's projected input, then + h_prev w_hh^T) and their cell
// update, so the step needs no other synchronization. Batches above kGemvMaxBatch go
// through in groups of up to 4 rows, each streaming the weights once.
#include "kernels/lstm.hpp"

#include <libnn/cpu/gemm.hpp>

#include <algorithm>
#include <cstring>
#include <vector>

#include "cpu/lstm_gemv.hpp"
// Only for the UnitKernels tables; this file does not use its own (unnamed-namespace) copy of
// the unit functions.
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#endif
#include "cpu/lstm_units.hpp"
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif
#include "cpu/parallel.hpp"

namespace nn::cpu {

namespace lstm_detail {

std::uint16_t float_to_half(float value) {
  std::uint32_t x;
  std::memcpy(&x, &value, sizeof x);
  const auto sign = static_cast<std::uint16_t>((x >> 16) & 0x8000u);
  const std::uint32_t ax = x & 0x7FFFFFFFu;
  if (ax >= 0x7F800000u) {  // infinity, or NaN (kept quiet, with the top payload bits)
    return static_cast<std::uint16_t>(sign | (ax > 0x7F800000u ? 0x7E00u | ((ax >> 13) & 0x3FFu) : 0x7C00u));
  }
  if (ax >= 0x477FF000u) return static_cast<std::uint16_t>(sign | 0x7C00u);  // >= 65520: rounds to inf
  if (ax < 0x38800000u) {
    // Below 2^-14, the smallest normal half: a subnormal (units of 2^-24) or zero. Up to
    // 2^-25 (a tie with zero, whose last bit is even) everything rounds to ±0.
    if (ax <= 0x33000000u) return sign;
    const std::uint32_t e = ax >> 23, m = (ax & 0x7FFFFFu) | 0x800000u;
    const std::uint32_t shift = 126 - e;  // value = m * 2^(e-150) = (m >> shift) * 2^-24
    std::uint32_t r = m >> shift;
    const std::uint32_t rest = m & ((1u << shift) - 1), half = 1u << (shift - 1);
    if (rest > half || (rest == half && (r & 1u))) ++r;  // may carry into the smallest normal
    return static_cast<std::uint16_t>(sign | r);
  }
  // Normal: rebias the exponent (127 -> 15) and round the 23-bit mantissa to 10 bits; a
  // carry out of the mantissa correctly increments the exponent.
  std::uint32_t r = ax - 0x38000000u;
  const std::uint32_t rest = r & 0x1FFFu;
  r >>= 13;
  if (rest > 0x1000u || (rest == 0x1000u && (r & 1u))) ++r;
  return static_cast<std::uint16_t>(sign | r);
}

float half_to_float(std::uint16_t half) {
  const std::uint32_t sign = static_cast<std::uint32_t>(half & 0x8000u) << 16;
  const std::uint32_t e = (half >> 10) & 0x1Fu, m = half & 0x3FFu;
  std::uint32_t bits;
  if (e == 0) {
    if (m == 0) {
      bits = sign;
    } else {  // subnormal m * 2^-24: normalize
      std::uint32_t shift = 0, mm = m;
      while (!(mm & 0x400u)) {
        mm <<= 1;
        ++shift;
      }
      bits = sign | ((113 - shift) << 23) | ((mm & 0x3FFu) << 13);
    }
  } else if (e == 31) {
    bits = sign | 0x7F800000u | (m << 13);
  } else {
    bits = sign | ((e + 112) << 23) | (m << 13);
  }
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

void gemv_f16_generic(const std::uint16_t* w, std::int64_t rows, std::int64_t K, const float* v,
                      std::int64_t ldv, int nb, float* out, std::int64_t ldo) {
  thread_local std::vector<float> row;
  row.resize(static_cast<std::size_t>(K));
  for (std::int64_t r = 0; r < rows; ++r) {
    const std::uint16_t* wr = w + r * K;
    for (std::int64_t k = 0; k < K; ++k) row[static_cast<std::size_t>(k)] = half_to_float(wr[k]);
    gemv_generic(row.data(), 1, K, v, ldv, nb, out + r, ldo);
  }
}

}  // namespace lstm_detail

namespace {

using lstm_detail::kGemvMaxBatch;

bool use_avx512() {
#if defined(LIBNN_X86)
  return gemm_isa() == GemmIsa::Avx512;  // follows set_gemm_isa, as lstm.cpp does
#else
  return false;
#endif
}

// The weight rows [r, r + rows) of a (rows_total, K) matrix of either dtype against nb
// vectors, added into out (lstm_gemv.hpp's contract).
struct Weights {
  const float* f32 = nullptr;
  const std::uint16_t* f16 = nullptr;
  std::int64_t K = 0;

  Weights(const Tensor& w, std::int64_t K_) : K(K_) {
    if (!w.defined()) return;
    if (w.dtype() == DType::Float16) {
      f16 = static_cast<const std::uint16_t*>(w.raw_data());
    } else {
      f32 = w.data_ptr<float>();
    }
  }
  void gemv(bool avx512, std::int64_t r, std::int64_t rows, const float* v, std::int64_t ldv,
            int nb, float* out, std::int64_t ldo) const {
    if (f16) {
#if defined(LIBNN_X86)
      if (avx512) return lstm_detail::gemv_f16_avx512(f16 + r * K, rows, K, v, ldv, nb, out, ldo);
#endif
      return lstm_detail::gemv_f16_generic(f16 + r * K, rows, K, v, ldv, nb, out, ldo);
    }
#if defined(LIBNN_X86)
    if (avx512) return lstm_detail::gemv_avx512(f32 + r * K, rows, K, v, ldv, nb, out, ldo);
#endif
    lstm_detail::gemv_generic(f32 + r * K, rows, K, v, ldv, nb, out, ldo);
  }
};

void lstm_step_cpu(const Tensor& x, const Tensor& gx, const Tensor& w_ih, const Tensor& w_hh,
                   const Tensor& bias, const Tensor& h_prev, const Tensor& c_prev, Tensor& h,
                   Tensor& c) {
  constexpr std::int64_t kUnits = 16;
  const std::int64_t B = h_prev.size(0), H = w_hh.size(1), G4 = 4 * H;
  const std::int64_t I = gx.defined() ? 0 : x.size(1);
  if (B == 0) return;
  const bool avx512 = use_avx512();
  const lstm_detail::UnitKernels& units =
#if defined(LIBNN_X86)
      avx512 ? lstm_detail::unit_kernels_avx512() :
#endif
             lstm_detail::unit_kernels_generic();
  const Weights wi(gx.defined() ? Tensor() : w_ih, I), wh(w_hh, H);
  const float* px = gx.defined() ? nullptr : x.data_ptr<float>();
  const float* pgx = gx.defined() ? gx.data_ptr<float>() : nullptr;
  const float* pb = bias.defined() ? bias.data_ptr<float>() : nullptr;
  const float* ph = h_prev.data_ptr<float>();
  const float* pc = c_prev.data_ptr<float>();
  float* h_out = h.data_ptr<float>();
  float* c_out = c.data_ptr<float>();
  // The gates of up to kGemvMaxBatch rows, kept by the calling thread between calls.
  thread_local std::vector<float> gates;
  gates.resize(static_cast<std::size_t>(kGemvMaxBatch * G4));
  float* g = gates.data();

  const std::int64_t blocks = (H + kUnits - 1) / kUnits;
  for (std::int64_t b0 = 0; b0 < B; b0 += kGemvMaxBatch) {
    const int nb = static_cast<int>(std::min<std::int64_t>(kGemvMaxBatch, B - b0));
    // About 64K multiply-adds per task for a fork to pay (lstm.cpp's rule).
    const std::int64_t work = 4 * kUnits * nb * (I + H);
    parallel_for(blocks, std::max<std::int64_t>(1, (1 << 16) / work),
                 [&](std::int64_t begin, std::int64_t end) {
      const std::int64_t j0 = begin * kUnits, j1 = std::min(H, end * kUnits), n = j1 - j0;
      for (std::int64_t q = 0; q < 4; ++q) {
        float* out = g + q * H + j0;
        for (int b = 0; b < nb; ++b) {
          if (pgx) {
            std::memcpy(out + b * G4, pgx + (b0 + b) * G4 + q * H + j0, sizeof(float) * n);
          } else {
            std::fill(out + b * G4, out + b * G4 + n, 0.0f);
          }
        }
        if (!pgx) wi.gemv(avx512, q * H + j0, n, px + b0 * I, I, nb, out, G4);
        wh.gemv(avx512, q * H + j0, n, ph + b0 * H, H, nb, out, G4);
      }
      for (int b = 0; b < nb; ++b) {
        const std::int64_t row = b0 + b;
        units.forward(g + b * G4, pb, pc + row * H, c_out + row * H, h_out + row * H, H, j0, j1);
      }
    });
  }
}

}  // namespace
}  // namespace nn::cpu

namespace nn::kernels {
Table<LstmStepFn> lstm_step{"lstm_step", cpu::lstm_step_cpu};
}  // namespace nn::kernels
