// A plain LSTM layer, forward and backward through time, written for the precision tests:
// in float64 it is the reference, and in float32 with the matrix products' operands rounded
// to bf16 or TF32 it emulates, on the CPU, what the CUDA LSTM computes under
// nn::set_float32_matmul_precision("medium") / ("high") (docs/libnn.md, "Matrix product
// precision"). The error of the emulation against float64 is what the tests allow the GPU
// (tests/libnn/cuda/test_cuda_lstm_precision.cpp) and what docs/libnn.md states.
//
// The algorithm is the stepwise one of src/cuda/lstm.cu, and rounds exactly what its GEMMs
// take as operands: forward G = x w_ih^T, then per step G_t += h_{t-1} w_hh^T; backward per
// step dh_t = dG_{t+1} w_hh, then dh0 = dG_0 w_hh, dx = dG w_ih, dw_ih = dG^T x and dw_hh =
// dG^T h_prev. The products are summed in the accumulation type and added to C after, as
// cuBLAS's beta = 1 does. Gates, cells, the bias sum and the bias gradient (a column sum) are
// never rounded. Independent of libnn: plain loops over std::vector, no libnn header.
//
// Layouts (row-major): x (T,B,I), h0, c0 (B,H), w_ih (4H,I), w_hh (4H,H), b_ih, b_hh (4H);
// gate order i, f, g, o. gy (T,B,H), gh, gc (B,H) are the gradients arriving at y, h_n, c_n.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <utility>
#include <vector>

namespace lstm_ref {

// How a GEMM operand is rounded before it is multiplied.
enum class Operands { Exact, Bf16Nearest, Bf16Truncated, Tf32Nearest, Tf32Truncated };

// x rounded to fewer stored mantissa bits (bf16: 7, drop 16; TF32: 10, drop 13), to nearest
// with ties to even, or toward zero. NaN and infinity pass through.
inline float round_float(float x, Operands mode) {
  if (mode == Operands::Exact || !std::isfinite(x)) return x;
  const bool bf16 = mode == Operands::Bf16Nearest || mode == Operands::Bf16Truncated;
  const bool nearest = mode == Operands::Bf16Nearest || mode == Operands::Tf32Nearest;
  const int drop = bf16 ? 16 : 13;
  std::uint32_t u = 0;
  std::memcpy(&u, &x, sizeof u);
  if (nearest) u += ((std::uint32_t{1} << (drop - 1)) - 1) + ((u >> drop) & 1u);
  u &= ~((std::uint32_t{1} << drop) - 1);
  std::memcpy(&x, &u, sizeof x);
  return x;
}

struct Problem {
  std::int64_t T = 0, B = 0, I = 0, H = 0;
  bool state = false, bias = false;  // h0, c0 given; b_ih, b_hh given
  std::vector<double> x, h0, c0, w_ih, w_hh, b_ih, b_hh, gy, gh, gc;
};

// Random inputs at PyTorch's initial scale (weights and biases uniform in +-1/sqrt(H); x,
// the state and the incoming gradients standard normal), every value a float32 so that both
// accumulation types start from the same numbers.
inline Problem make_problem(std::int64_t T, std::int64_t B, std::int64_t I, std::int64_t H,
                            bool state, bool bias, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const float bound = 1.0f / std::sqrt(static_cast<float>(H));
  std::uniform_real_distribution<float> uniform(-bound, bound);
  auto fill = [&](std::int64_t n, bool weight) {
    std::vector<double> v(static_cast<std::size_t>(n));
    for (double& e : v) e = weight ? uniform(rng) : normal(rng);
    return v;
  };
  Problem p;
  p.T = T, p.B = B, p.I = I, p.H = H, p.state = state, p.bias = bias;
  p.x = fill(T * B * I, false);
  if (state) {
    p.h0 = fill(B * H, false);
    p.c0 = fill(B * H, false);
  }
  p.w_ih = fill(4 * H * I, true);
  p.w_hh = fill(4 * H * H, true);
  if (bias) {
    p.b_ih = fill(4 * H, true);
    p.b_hh = fill(4 * H, true);
  }
  p.gy = fill(T * B * H, false);
  p.gh = fill(B * H, false);
  p.gc = fill(B * H, false);
  return p;
}

struct Result {
  std::vector<double> y, h_n, c_n;
  std::vector<double> dx, dh0, dc0, dw_ih, dw_hh, db;  // db: grad b_ih = grad b_hh
};

namespace detail {

// C (M,N) += op(A) op(B), op(A)[m][k] = A[m * sam + k * sak], likewise B; the sum of each
// element in Acc over k in order, operands rounded by `mode` first (Acc = float: through
// float), then added to C.
template <class Acc>
void gemm_add(std::int64_t M, std::int64_t N, std::int64_t K, const Acc* A, std::int64_t sam,
              std::int64_t sak, const Acc* B, std::int64_t skb, std::int64_t snb, Acc* C,
              Operands mode) {
  auto r = [&](Acc v) {
    return mode == Operands::Exact ? v : static_cast<Acc>(round_float(static_cast<float>(v), mode));
  };
  std::vector<Acc> bcol(static_cast<std::size_t>(K));
  for (std::int64_t n = 0; n < N; ++n) {
    for (std::int64_t k = 0; k < K; ++k) bcol[k] = r(B[k * skb + n * snb]);
    for (std::int64_t m = 0; m < M; ++m) {
      Acc acc = 0;
      for (std::int64_t k = 0; k < K; ++k) acc += r(A[m * sam + k * sak]) * bcol[k];
      C[m * N + n] += acc;
    }
  }
}

template <class Acc>
std::vector<Acc> cast(const std::vector<double>& v) {
  return std::vector<Acc>(v.begin(), v.end());
}

template <class Acc>
std::vector<double> widen(const std::vector<Acc>& v) {
  return std::vector<double>(v.begin(), v.end());
}

template <class Acc>
Acc sigmoid(Acc v) {
  return Acc(1) / (Acc(1) + std::exp(-v));
}

}  // namespace detail

// The layer's outputs and every gradient, computed in Acc (double: the reference; float: the
// emulation) with the GEMM operands rounded by `mode`.
template <class Acc>
Result run(const Problem& p, Operands mode) {
  using detail::gemm_add;
  const std::int64_t T = p.T, B = p.B, I = p.I, H = p.H, G4 = 4 * H, BH = B * H, TB = T * B;
  const std::vector<Acc> x = detail::cast<Acc>(p.x), w_ih = detail::cast<Acc>(p.w_ih),
                         w_hh = detail::cast<Acc>(p.w_hh);
  const std::vector<Acc> h0 = p.state ? detail::cast<Acc>(p.h0) : std::vector<Acc>(BH, Acc(0));
  const std::vector<Acc> c0 = p.state ? detail::cast<Acc>(p.c0) : std::vector<Acc>(BH, Acc(0));
  std::vector<Acc> bias(G4, Acc(0));
  if (p.bias) {
    for (std::int64_t n = 0; n < G4; ++n) bias[n] = Acc(p.b_ih[n]) + Acc(p.b_hh[n]);
  }

  // --- forward: a (T,B,4H) the activations, c (T,B,H), y (T,B,H) ---
  std::vector<Acc> a(TB * G4, Acc(0)), c(TB * H), y(TB * H);
  gemm_add<Acc>(TB, G4, I, x.data(), I, 1, w_ih.data(), 1, I, a.data(), mode);  // x w_ih^T
  for (std::int64_t t = 0; t < T; ++t) {
    Acc* g = a.data() + t * B * G4;
    const Acc* h_prev = t == 0 ? h0.data() : y.data() + (t - 1) * BH;
    const Acc* c_prev = t == 0 ? c0.data() : c.data() + (t - 1) * BH;
    // h_{t-1} w_hh^T (a zero h0 adds nothing, as the GPU skips the product)
    if (t > 0 || p.state) gemm_add<Acc>(B, G4, H, h_prev, H, 1, w_hh.data(), 1, H, g, mode);
    for (std::int64_t b = 0; b < B; ++b) {
      for (std::int64_t j = 0; j < H; ++j) {
        Acc* row = g + b * G4;
        const Acc i = detail::sigmoid(row[j] + bias[j]);
        const Acc f = detail::sigmoid(row[H + j] + bias[H + j]);
        const Acc gv = std::tanh(row[2 * H + j] + bias[2 * H + j]);
        const Acc o = detail::sigmoid(row[3 * H + j] + bias[3 * H + j]);
        const std::int64_t k = b * H + j;
        const Acc cc = f * c_prev[k] + i * gv;
        c[t * BH + k] = cc;
        y[t * BH + k] = o * std::tanh(cc);
        row[j] = i;
        row[H + j] = f;
        row[2 * H + j] = gv;
        row[3 * H + j] = o;
      }
    }
  }

  // --- backward: dg (T,B,4H) at the pre-activations ---
  const std::vector<Acc> gy = detail::cast<Acc>(p.gy), gh = detail::cast<Acc>(p.gh),
                         gc = detail::cast<Acc>(p.gc);
  std::vector<Acc> dg(TB * G4), dh(BH), dc = gc;
  for (std::int64_t t = T - 1; t >= 0; --t) {
    if (t + 1 < T) {  // dh_t = dG_{t+1} w_hh
      std::fill(dh.begin(), dh.end(), Acc(0));
      gemm_add<Acc>(B, H, G4, dg.data() + (t + 1) * B * G4, G4, 1, w_hh.data(), H, 1, dh.data(),
                    mode);
    } else {
      dh = gh;
    }
    const Acc* c_prev = t == 0 ? c0.data() : c.data() + (t - 1) * BH;
    for (std::int64_t b = 0; b < B; ++b) {
      for (std::int64_t j = 0; j < H; ++j) {
        const std::int64_t k = b * H + j;
        const Acc* row = a.data() + (t * B + b) * G4;
        Acc* drow = dg.data() + (t * B + b) * G4;
        const Acc i = row[j], f = row[H + j], gv = row[2 * H + j], o = row[3 * H + j];
        const Acc tc = std::tanh(c[t * BH + k]);
        const Acc dht = gy[t * BH + k] + dh[k];
        const Acc dct = dc[k] + dht * o * (Acc(1) - tc * tc);
        drow[3 * H + j] = dht * tc * o * (Acc(1) - o);
        drow[j] = dct * gv * i * (Acc(1) - i);
        drow[H + j] = dct * c_prev[k] * f * (Acc(1) - f);
        drow[2 * H + j] = dct * i * (Acc(1) - gv * gv);
        dc[k] = dct * f;
      }
    }
  }

  Result r;
  r.y = detail::widen(y);
  r.h_n = detail::widen(std::vector<Acc>(y.end() - BH, y.end()));
  r.c_n = detail::widen(std::vector<Acc>(c.end() - BH, c.end()));
  if (p.state) {
    std::vector<Acc> dh0(BH, Acc(0));
    gemm_add<Acc>(B, H, G4, dg.data(), G4, 1, w_hh.data(), H, 1, dh0.data(), mode);
    r.dh0 = detail::widen(dh0);
    r.dc0 = detail::widen(dc);
  }
  std::vector<Acc> dx(TB * I, Acc(0)), dw_ih(G4 * I, Acc(0)), dw_hh(G4 * H, Acc(0));
  gemm_add<Acc>(TB, I, G4, dg.data(), G4, 1, w_ih.data(), I, 1, dx.data(), mode);  // dG w_ih
  gemm_add<Acc>(G4, I, TB, dg.data(), 1, G4, x.data(), I, 1, dw_ih.data(), mode);  // dG^T x
  // h_prev (T*B,H) = (h0, y_0 .. y_{T-2}); dw_hh = dG^T h_prev
  std::vector<Acc> h_prev(TB * H);
  std::copy(h0.begin(), h0.end(), h_prev.begin());
  std::copy(y.begin(), y.end() - BH, h_prev.begin() + BH);
  gemm_add<Acc>(G4, H, TB, dg.data(), 1, G4, h_prev.data(), H, 1, dw_hh.data(), mode);
  r.dx = detail::widen(dx);
  r.dw_ih = detail::widen(dw_ih);
  r.dw_hh = detail::widen(dw_hh);
  if (p.bias) {
    std::vector<Acc> db(G4, Acc(0));
    for (std::int64_t row = 0; row < TB; ++row) {
      for (std::int64_t n = 0; n < G4; ++n) db[n] += dg[row * G4 + n];
    }
    r.db = detail::widen(db);
  }
  return r;
}

// ||a - b|| / ||b|| (b the reference), 0 for two empty vectors.
inline double rel_error(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.size() != b.size()) return INFINITY;
  double diff = 0, ref = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::isnan(a[i])) return INFINITY;
    diff += (a[i] - b[i]) * (a[i] - b[i]);
    ref += b[i] * b[i];
  }
  if (a.empty()) return 0;
  return std::sqrt(diff) / std::max(std::sqrt(ref), 1e-300);
}

// The result's tensors by name, in the order of `names()` (those the problem has).
inline std::vector<std::pair<const char*, const std::vector<double>*>> tensors(const Result& r,
                                                                               const Problem& p) {
  std::vector<std::pair<const char*, const std::vector<double>*>> out = {
      {"output", &r.y},  {"h_n", &r.h_n},         {"c_n", &r.c_n},
      {"grad x", &r.dx}, {"grad w_ih", &r.dw_ih}, {"grad w_hh", &r.dw_hh}};
  if (p.state) {
    out.push_back({"grad h0", &r.dh0});
    out.push_back({"grad c0", &r.dc0});
  }
  if (p.bias) out.push_back({"grad b", &r.db});
  return out;
}

}  // namespace lstm_ref
