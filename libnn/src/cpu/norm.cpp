// CPU normalization kernels (src/kernels/norm.hpp): layer norm and batch norm, forward and
// backward. Means and variances are two-pass in double (no E[x^2] - E[x]^2 cancellation);
// every output element and every sum is owned by one thread and summed in a fixed order, so
// the results are bit-identical whatever the thread count.
//
// Notation, per row (layer norm) or per channel (batch norm) over M values:
//   mean = sum(x) / M,  var = sum((x - mean)^2) / M,  rstd = 1 / sqrt(var + eps),
//   xhat = (x - mean) * rstd,  y = xhat * weight + bias.
#include "kernels/norm.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#include "cpu/parallel.hpp"

namespace nn::cpu {
namespace {

constexpr std::int64_t kGrainElements = 1 << 14;

std::int64_t grain_for(std::int64_t work_per_item) {
  return std::max<std::int64_t>(1, kGrainElements / std::max<std::int64_t>(1, work_per_item));
}

// sum over i in [0, n) of term(i), in double with four interleaved partial sums (the adds of
// one chain wait on each other; four chains keep the FPU busy). Fixed order: deterministic.
struct LaneSum {
  double lanes[4] = {0.0, 0.0, 0.0, 0.0};
  int next = 0;  // the lane of the next leftover term, so that many short adds spread too
  template <class Term>
  void add(std::int64_t n, const Term& term) {
    std::int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
      for (int l = 0; l < 4; ++l) lanes[l] += term(i + l);
    }
    for (; i < n; ++i) {
      lanes[next] += term(i);
      next = (next + 1) % 4;
    }
  }
  double total() const { return (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]); }
};

template <class Term>
double lane_sum(std::int64_t n, const Term& term) {
  LaneSum s;
  s.add(n, term);
  return s.total();
}

const float* data_or_null(const Tensor& t) { return t.defined() ? t.data_ptr<float>() : nullptr; }
float* data_or_null(Tensor& t) { return t.defined() ? t.data_ptr<float>() : nullptr; }

// --- layer norm ------------------------------------------------------------------------

// x is (N,C), weight/bias (C) or null, out (N,C), mean/rstd (N)
void layer_norm_forward_cpu(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& out,
                            Tensor& mean, Tensor& rstd, std::int64_t N, std::int64_t C,
                            double eps) {
  const float* px = x.data_ptr<float>();
  const float* pw = data_or_null(weight);
  const float* pb = data_or_null(bias);
  float* py = out.data_ptr<float>();
  float* pmean = mean.data_ptr<float>();
  float* prstd = rstd.data_ptr<float>();
  parallel_for(N, grain_for(C), [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t n = begin; n < end; ++n) {
      const float* xr = px + n * C;
      float* yr = py + n * C;
      const double m =
          lane_sum(C, [&](std::int64_t c) { return double{xr[c]}; }) / static_cast<double>(C);
      const double sq = lane_sum(C, [&](std::int64_t c) {
        const double d = xr[c] - m;
        return d * d;
      });
      const double s = 1.0 / std::sqrt(sq / static_cast<double>(C) + eps);
      for (std::int64_t c = 0; c < C; ++c) {
        double v = (xr[c] - m) * s;
        if (pw) v *= pw[c];
        if (pb) v += pb[c];
        yr[c] = static_cast<float>(v);
      }
      pmean[n] = static_cast<float>(m);
      prstd[n] = static_cast<float>(s);
    }
  });
}

// dout, x (N,C); mean, rstd (N); weight (C) or undefined; dx (N,C), dweight, dbias (C)
void layer_norm_backward_cpu(const Tensor& dout, const Tensor& x, const Tensor& mean,
                             const Tensor& rstd, const Tensor& weight, Tensor& dx, Tensor& dweight,
                             Tensor& dbias, std::int64_t N, std::int64_t C) {
  const float* pg = dout.data_ptr<float>();
  const float* px = x.data_ptr<float>();
  const float* pmean = mean.data_ptr<float>();
  const float* prstd = rstd.data_ptr<float>();
  const float* pw = data_or_null(weight);
  float* pdx = data_or_null(dx);
  float* pdw = data_or_null(dweight);
  float* pdb = data_or_null(dbias);

  if (pdx) {
    // y = xhat * w + b, xhat = (x - mean) * rstd: with dxhat = dout * w,
    // dx = rstd * (dxhat - mean_c(dxhat) - xhat * mean_c(dxhat * xhat)).
    parallel_for(N, grain_for(C), [&](std::int64_t begin, std::int64_t end) {
      for (std::int64_t n = begin; n < end; ++n) {
        const float* gr = pg + n * C;
        const float* xr = px + n * C;
        float* dxr = pdx + n * C;
        const double m = pmean[n], s = prstd[n];
        auto dxhat = [&](std::int64_t c) {
          return pw ? static_cast<double>(gr[c]) * pw[c] : double{gr[c]};
        };
        const double a = lane_sum(C, dxhat) / static_cast<double>(C);
        const double b = lane_sum(C, [&](std::int64_t c) { return dxhat(c) * ((xr[c] - m) * s); }) /
                         static_cast<double>(C);
        for (std::int64_t c = 0; c < C; ++c) {
          const double xhat = (xr[c] - m) * s;
          dxr[c] = static_cast<float>(s * (dxhat(c) - a - xhat * b));
        }
      }
    });
  }

  if (pdw || pdb) {
    // dweight = sum_n dout * xhat, dbias = sum_n dout: split by column, rows ascending.
    parallel_for(C, grain_for(N), [&](std::int64_t begin, std::int64_t end) {
      std::vector<double> acc_w(static_cast<std::size_t>(end - begin), 0.0);
      std::vector<double> acc_b(static_cast<std::size_t>(end - begin), 0.0);
      for (std::int64_t n = 0; n < N; ++n) {
        const float* gr = pg + n * C;
        const float* xr = px + n * C;
        const double m = pmean[n], s = prstd[n];
        for (std::int64_t c = begin; c < end; ++c) {
          acc_w[c - begin] += gr[c] * ((xr[c] - m) * s);
          acc_b[c - begin] += gr[c];
        }
      }
      for (std::int64_t c = begin; c < end; ++c) {
        if (pdw) pdw[c] = static_cast<float>(acc_w[c - begin]);
        if (pdb) pdb[c] = static_cast<float>(acc_b[c - begin]);
      }
    });
  }
}

// --- batch norm ------------------------------------------------------------------------

// x is (N,C,L); weight, bias, running stats (C) or undefined; out (N,C,L); mean, rstd,
// var_unbiased (C)
void batch_norm_forward_cpu(const Tensor& x, const Tensor& weight, const Tensor& bias,
                            const Tensor& running_mean, const Tensor& running_var, bool training,
                            double eps, Tensor& out, Tensor& mean, Tensor& rstd,
                            Tensor& var_unbiased, std::int64_t N, std::int64_t C, std::int64_t L) {
  const float* px = x.data_ptr<float>();
  const float* pw = data_or_null(weight);
  const float* pb = data_or_null(bias);
  float* py = out.data_ptr<float>();
  float* pmean = mean.data_ptr<float>();
  float* prstd = rstd.data_ptr<float>();
  const std::int64_t M = N * L;  // values per channel

  // Per-channel statistics in double, kept for the normalization below.
  std::vector<double> mean_d(static_cast<std::size_t>(C)), rstd_d(static_cast<std::size_t>(C));
  if (training) {
    float* pvar = data_or_null(var_unbiased);
    parallel_for(C, grain_for(M), [&](std::int64_t begin, std::int64_t end) {
      for (std::int64_t c = begin; c < end; ++c) {
        LaneSum sum;
        for (std::int64_t n = 0; n < N; ++n) {
          const float* xr = px + (n * C + c) * L;
          sum.add(L, [&](std::int64_t l) { return double{xr[l]}; });
        }
        const double m = sum.total() / static_cast<double>(M);
        LaneSum squares;
        for (std::int64_t n = 0; n < N; ++n) {
          const float* xr = px + (n * C + c) * L;
          squares.add(L, [&](std::int64_t l) {
            const double d = xr[l] - m;
            return d * d;
          });
        }
        const double sq = squares.total();
        mean_d[c] = m;
        rstd_d[c] = 1.0 / std::sqrt(sq / static_cast<double>(M) + eps);
        if (pvar) pvar[c] = static_cast<float>(sq / static_cast<double>(M - 1));
      }
    });
  } else {
    const float* prm = running_mean.data_ptr<float>();
    const float* prv = running_var.data_ptr<float>();
    for (std::int64_t c = 0; c < C; ++c) {
      mean_d[c] = prm[c];
      rstd_d[c] = 1.0 / std::sqrt(static_cast<double>(prv[c]) + eps);
    }
  }
  for (std::int64_t c = 0; c < C; ++c) {
    pmean[c] = static_cast<float>(mean_d[c]);
    prstd[c] = static_cast<float>(rstd_d[c]);
  }

  // One (n, c) plane of L contiguous values per item.
  parallel_for(N * C, grain_for(L), [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t plane = begin; plane < end; ++plane) {
      const std::int64_t c = plane % C;
      const double m = mean_d[c];
      const double scale = pw ? rstd_d[c] * pw[c] : rstd_d[c];
      const double shift = pb ? pb[c] : 0.0;
      const float* xr = px + plane * L;
      float* yr = py + plane * L;
      for (std::int64_t l = 0; l < L; ++l) yr[l] = static_cast<float>((xr[l] - m) * scale + shift);
    }
  });
}

// dout, x (N,C,L); mean, rstd (C); weight (C) or undefined; dx (N,C,L), dweight, dbias (C)
void batch_norm_backward_cpu(const Tensor& dout, const Tensor& x, const Tensor& mean,
                             const Tensor& rstd, const Tensor& weight, bool training, Tensor& dx,
                             Tensor& dweight, Tensor& dbias, std::int64_t N, std::int64_t C,
                             std::int64_t L) {
  const float* pg = dout.data_ptr<float>();
  const float* px = x.data_ptr<float>();
  const float* pmean = mean.data_ptr<float>();
  const float* prstd = rstd.data_ptr<float>();
  const float* pw = data_or_null(weight);
  float* pdx = data_or_null(dx);
  float* pdw = data_or_null(dweight);
  float* pdb = data_or_null(dbias);
  const std::int64_t M = N * L;

  // Per channel: sum_dy = sum dout, sum_dy_xhat = sum dout * xhat (over n and l, in order).
  std::vector<double> sum_dy(static_cast<std::size_t>(C), 0.0);
  std::vector<double> sum_dy_xhat(static_cast<std::size_t>(C), 0.0);
  if ((pdx && training) || pdw || pdb) {
    parallel_for(C, grain_for(M), [&](std::int64_t begin, std::int64_t end) {
      for (std::int64_t c = begin; c < end; ++c) {
        const double m = pmean[c], s = prstd[c];
        LaneSum a, b;
        for (std::int64_t n = 0; n < N; ++n) {
          const float* gr = pg + (n * C + c) * L;
          const float* xr = px + (n * C + c) * L;
          a.add(L, [&](std::int64_t l) { return double{gr[l]}; });
          b.add(L, [&](std::int64_t l) { return gr[l] * ((xr[l] - m) * s); });
        }
        sum_dy[c] = a.total();
        sum_dy_xhat[c] = b.total();
      }
    });
  }
  // y = xhat * w + b
  for (std::int64_t c = 0; c < C; ++c) {
    if (pdw) pdw[c] = static_cast<float>(sum_dy_xhat[c]);
    if (pdb) pdb[c] = static_cast<float>(sum_dy[c]);
  }

  if (pdx) {
    // Training, xhat = (x - batch_mean) * batch_rstd:
    //   dx = w * rstd * (dout - sum_dy / M - xhat * sum_dy_xhat / M).
    // Evaluation, xhat = (x - running_mean) * rstd with constant statistics:
    //   dx = w * rstd * dout.
    parallel_for(N * C, grain_for(L), [&](std::int64_t begin, std::int64_t end) {
      for (std::int64_t plane = begin; plane < end; ++plane) {
        const std::int64_t c = plane % C;
        const double m = pmean[c], s = prstd[c];
        const double scale = pw ? s * pw[c] : s;
        const float* gr = pg + plane * L;
        const float* xr = px + plane * L;
        float* dxr = pdx + plane * L;
        if (training) {
          const double a = sum_dy[c] / static_cast<double>(M);
          const double b = sum_dy_xhat[c] / static_cast<double>(M);
          for (std::int64_t l = 0; l < L; ++l) {
            dxr[l] = static_cast<float>(scale * (gr[l] - a - (xr[l] - m) * s * b));
          }
        } else {
          for (std::int64_t l = 0; l < L; ++l) dxr[l] = static_cast<float>(scale * gr[l]);
        }
      }
    });
  }
}

}  // namespace
}  // namespace nn::cpu

namespace nn::kernels {
Table<LayerNormForwardFn> layer_norm_forward{"layer_norm_forward", cpu::layer_norm_forward_cpu};
Table<LayerNormBackwardFn> layer_norm_backward{"layer_norm_backward", cpu::layer_norm_backward_cpu};
Table<BatchNormForwardFn> batch_norm_forward{"batch_norm_forward", cpu::batch_norm_forward_cpu};
Table<BatchNormBackwardFn> batch_norm_backward{"batch_norm_backward", cpu::batch_norm_backward_cpu};
}  // namespace nn::kernels
