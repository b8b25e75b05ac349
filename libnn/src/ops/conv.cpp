// Convolutions with autograd: conv1d, conv2d, conv_transpose1d and conv_transpose2d, PyTorch's
// semantics and
// weight layouts. All are im2col (or its adjoint col2im) followed by one matrix product per
// group, on the im2col / col2im and gemm kernel tables, so this file runs unchanged on every
// backend. A 1-d convolution is the 2-d one with H = KH = 1. Why im2col: docs/libnn.md,
// "Convolutions".
//
// Shapes: x (B,C_in,H,W), weight (C_out,C_in/G,KH,KW) for a convolution and (C_in,C_out/G,KH,KW)
// for a transposed one, G groups; P = OH*OW output positions, KK = KH*KW taps. The batch is a
// serial loop around kernels that are each deterministic, and the weight gradient
// accumulates over it in ascending b: results do not depend on the thread count.
//
// The bias is not part of the kernel: out + bias viewed as (1,C_out,1[,1]) is a cheap
// composition whose gradient (the sum over B and positions) autograd already has.
#include "kernels/conv.hpp"

#include <array>
#include <string>

#include "core/check.hpp"
#include "kernels/gemm.hpp"
#include "libnn/autograd.hpp"
#include "libnn/ops.hpp"

namespace nn {

namespace {

// What one call asks for, with 1-d calls already lifted to 2-d (H = KH = 1, their per-dim
// arguments in the second slot).
struct ConvArgs {
  const char* op;  // for messages and the autograd node
  int dims;        // 1 or 2: the user's view, for messages
  bool transposed;
  std::array<std::int64_t, 2> stride, padding, dilation, output_padding;
  std::int64_t groups;
};

// (a,b) for 2-d, (b) for 1-d: sizes as the user wrote them.
std::string pair_str(const ConvArgs& a, const std::array<std::int64_t, 2>& v) {
  return a.dims == 1 ? fmt::format("{}", v[1]) : fmt::format("({},{})", v[0], v[1]);
}

// The user's tensor shape, from the lifted 4-d one (the H = 1 dim dropped for 1-d).
Shape user_shape(const ConvArgs& a, const Shape& lifted) {
  if (a.dims == 2) return lifted;
  return Shape{lifted[0], lifted[1], lifted[3]};
}

// x, weight are 4-d here (lifted). Checks everything the user can get wrong, naming the
// argument, what was expected and what was found.
void check_args(const ConvArgs& a, const Tensor& x, const Tensor& weight) {
  const char* xs = a.dims == 1 ? "(B,C_in,L)" : "(B,C_in,H,W)";
  const char* ws = a.transposed
                       ? (a.dims == 1 ? "(C_in,C_out/groups,K)" : "(C_in,C_out/groups,KH,KW)")
                       : (a.dims == 1 ? "(C_out,C_in/groups,K)" : "(C_out,C_in/groups,KH,KW)");
  NN_CHECK(x.dtype() == DType::Float32, "{}: expected input of dtype float32, got {}", a.op,
           dtype_name(x.dtype()));
  NN_CHECK(weight.dtype() == DType::Float32, "{}: expected weight of dtype float32, got {}", a.op,
           dtype_name(weight.dtype()));
  NN_CHECK(x.device() == weight.device(),
           "{}: expected input and weight on the same device, got {} and {}", a.op,
           x.device().str(), weight.device().str());
  for (int d = 0; d < 2; ++d) {
    NN_CHECK(a.stride[d] >= 1, "{}: expected stride >= 1, got {}", a.op, pair_str(a, a.stride));
    NN_CHECK(a.padding[d] >= 0, "{}: expected padding >= 0, got {}", a.op, pair_str(a, a.padding));
    NN_CHECK(a.dilation[d] >= 1, "{}: expected dilation >= 1, got {}", a.op,
             pair_str(a, a.dilation));
    NN_CHECK(a.output_padding[d] >= 0 &&
                 (a.output_padding[d] == 0 || a.output_padding[d] < a.stride[d] ||
                  a.output_padding[d] < a.dilation[d]),
             "{}: expected output_padding smaller than stride {} or dilation {}, got {}", a.op,
             pair_str(a, a.stride), pair_str(a, a.dilation), pair_str(a, a.output_padding));
  }
  NN_CHECK(a.groups >= 1, "{}: expected groups >= 1, got {}", a.op, a.groups);
  const std::int64_t C_in = x.size(1);
  const std::int64_t weight_in = a.transposed ? weight.size(0) : weight.size(1) * a.groups;
  // C_out for a convolution, C_in for a transposed one: split into the groups.
  NN_CHECK(weight.size(0) % a.groups == 0,
           "{}: expected weight {} {} with its first dim divisible by groups={}", a.op, ws,
           shape_str(user_shape(a, weight.sizes())), a.groups);
  NN_CHECK(C_in == weight_in,
           "{}: expected input of shape {} with C_in = {} (weight {} {}, groups {}), got {}", a.op,
           xs, weight_in, ws, shape_str(user_shape(a, weight.sizes())), a.groups,
           shape_str(user_shape(a, x.sizes())));
}

// Output spatial size along dim d (input size n, kernel k).
std::int64_t out_size(const ConvArgs& a, int d, std::int64_t n, std::int64_t k) {
  const std::int64_t span = a.dilation[d] * (k - 1) + 1;  // what one kernel window covers
  if (a.transposed) return (n - 1) * a.stride[d] - 2 * a.padding[d] + span + a.output_padding[d];
  return (n + 2 * a.padding[d] - span) / a.stride[d] + 1;
}

// The sizes of one lifted 4-d call: x (B,C_in,H,W), weight (.,.,KH,KW), out (B,C_out,OH,OW),
// and the im2col geometry of the product.
struct ConvPlan {
  std::int64_t B, C_in, H, W, KH, KW, G, C_out, OH, OW, CinG, CoutG;
  kernels::ConvGeometry geo;
  std::int64_t P, rowsG, in_plane, out_plane;
};

ConvPlan make_plan(const ConvArgs& a, const Shape& x, const Shape& weight) {
  ConvPlan p{};
  p.B = x[0];
  p.C_in = x[1];
  p.H = x[2];
  p.W = x[3];
  p.KH = weight[2];
  p.KW = weight[3];
  p.G = a.groups;
  p.C_out = a.transposed ? weight[1] * p.G : weight[0];
  p.OH = out_size(a, 0, p.H, p.KH);
  p.OW = out_size(a, 1, p.W, p.KW);
  p.CinG = p.C_in / p.G;
  p.CoutG = p.C_out / p.G;
  // The im2col side of the product: for a convolution the input seen at the output
  // positions; for a transposed one the output (the "image") seen at the input positions.
  p.geo = a.transposed
              ? kernels::ConvGeometry{p.C_out,      p.OH,         p.OW,         p.KH,
                                      p.KW,         p.H,          p.W,          a.stride[0],
                                      a.stride[1],  a.padding[0], a.padding[1], a.dilation[0],
                                      a.dilation[1]}
              : kernels::ConvGeometry{p.C_in,       p.H,          p.W,          p.KH,
                                      p.KW,         p.OH,         p.OW,         a.stride[0],
                                      a.stride[1],  a.padding[0], a.padding[1], a.dilation[0],
                                      a.dilation[1]};
  p.P = p.geo.OH * p.geo.OW;              // columns of col
  p.rowsG = p.geo.C / p.G * p.KH * p.KW;  // rows of col per group
  p.in_plane = p.H * p.W;
  p.out_plane = p.OH * p.OW;
  return p;
}

// The first-order backward's kernels: gx (if need_x; weight is then read) and gw (if need_w,
// of shape w_shape) from gout (B,C_out,OH,OW). No history.
std::vector<Tensor> conv_backward_kernels(const ConvArgs& a, const Tensor& x, const Tensor& weight,
                                          const Shape& w_shape, const Tensor& gout, bool need_x,
                                          bool need_w) {
  const ConvPlan p = make_plan(a, x.sizes(), w_shape);
  const kernels::ConvGeometry& geo = p.geo;
  const std::int64_t B = p.B, C_in = p.C_in, C_out = p.C_out, G = p.G, P = p.P, rowsG = p.rowsG;
  const std::int64_t CinG = p.CinG, CoutG = p.CoutG, in_plane = p.in_plane, out_plane = p.out_plane;
  const Device dev = x.device();
  Tensor gx, gw;
  Tensor col = empty({geo.C * (geo.KH * geo.KW), P}, x.options());
  if (need_x) gx = empty(x.sizes(), x.options());
  if (need_w) gw = empty(w_shape, x.options());
  const float* w = need_x ? weight.data_ptr<float>() : nullptr;
  for (std::int64_t b = 0; b < B; ++b) {
    const float* xb = x.data_ptr<float>() + b * C_in * in_plane;
    const float* gob = gout.data_ptr<float>() + b * C_out * out_plane;
    const float beta = b == 0 ? 0.0f : 1.0f;  // gw sums over b in ascending order
    if (!a.transposed) {
      // forward: out_b[g] = weight[g] @ col[g], col = im2col(x_b)
      if (need_x) {  // gcol[g] = weight[g]^T @ gout_b[g]; gx_b = col2im(gcol)
        kernels::gemm_batched(dev, true, false, G, rowsG, P, CoutG, 1.0f, w, rowsG, CoutG * rowsG,
                              gob, P, CoutG * P, 0.0f, col.data_ptr<float>(), P, rowsG * P);
        kernels::col2im(dev, geo, col.data_ptr<float>(),
                        gx.data_ptr<float>() + b * C_in * in_plane);
      }
      if (need_w) {  // gweight[g] += gout_b[g] @ col[g]^T
        kernels::im2col(dev, geo, xb, col.data_ptr<float>());
        kernels::gemm_batched(dev, false, true, G, CoutG, rowsG, P, 1.0f, gob, P, CoutG * P,
                              col.data_ptr<float>(), P, rowsG * P, beta, gw.data_ptr<float>(),
                              rowsG, CoutG * rowsG);
      }
    } else {
      // forward: col[g] = weight[g]^T @ x_b[g]; out_b = col2im(col). The adjoint of
      // col2im is im2col, so gcol = im2col(gout_b).
      kernels::im2col(dev, geo, gob, col.data_ptr<float>());
      if (need_x) {  // gx_b[g] (C_in/G, HW) = weight[g] (C_in/G, C_out/G*KK) @ gcol[g]
        kernels::gemm_batched(dev, false, false, G, CinG, P, rowsG, 1.0f, w, rowsG, CinG * rowsG,
                              col.data_ptr<float>(), P, rowsG * P, 0.0f,
                              gx.data_ptr<float>() + b * C_in * in_plane, P, CinG * P);
      }
      if (need_w) {  // gweight[g] += x_b[g] (C_in/G, HW) @ gcol[g]^T
        kernels::gemm_batched(dev, false, true, G, CinG, rowsG, P, 1.0f, xb, P, CinG * P,
                              col.data_ptr<float>(), P, rowsG * P, beta, gw.data_ptr<float>(),
                              rowsG, CinG * rowsG);
      }
    }
  }
  if (need_w && B == 0) gw.zero_();
  return {gx, gw};
}

Tensor conv_core(const ConvArgs& a, const Tensor& x, const Tensor& weight);

// The gradient of conv_core(a, x, weight) with respect to x, given gout, as a recorded op:
// the adjoint convolution (a transposed one for a convolution and the other way round) with
// the same weight, groups, stride, padding and dilation, and the output_padding that gives
// back x's size. Differentiable to any order, since it is conv_core itself.
Tensor conv_input_grad(const ConvArgs& a, const Tensor& gout, const Tensor& weight,
                       const Shape& x_shape) {
  ConvArgs adj = a;
  adj.transposed = !a.transposed;
  adj.output_padding = {0, 0};
  if (!a.transposed) {
    for (int d = 0; d < 2; ++d) {
      const std::int64_t span = a.dilation[d] * (weight.size(2 + d) - 1) + 1;
      const std::int64_t base = (gout.size(2 + d) - 1) * a.stride[d] - 2 * a.padding[d] + span;
      adj.output_padding[d] = x_shape[2 + d] - base;  // in [0, stride): conv rounded down
    }
  }
  Tensor gx = conv_core(adj, gout, weight);
  NN_CHECK(gx.sizes() == x_shape,
           "{}: double backward is not supported for this geometry (output_padding >= stride): "
           "the adjoint gives an input gradient of shape {}, expected {}",
           a.op, shape_str(user_shape(a, gx.sizes())), shape_str(user_shape(a, x_shape)));
  return gx;
}

// The gradient of conv_core(a, x, weight) with respect to weight, given gout, as a recorded
// op: bilinear in x and gout, with <gw(x, gout), H> = <gout, conv_core(a, x, H)>, so its
// backward for an upstream H is d/dx = conv_input_grad(a, gout, H), d/dgout =
// conv_core(a, x, H), both recorded ops again.
Tensor conv_weight_grad(const ConvArgs& a, const Tensor& x, const Tensor& gout,
                        const Shape& w_shape) {
  Tensor gw = conv_backward_kernels(a, x, Tensor(), w_shape, gout, false, true)[1];
  if (autograd::needs_history({&x, &gout})) {
    autograd::record(
        "conv_weight_grad", {x, gout}, {gw},
        [a, x, gout](const std::vector<Tensor>& grads, const std::vector<bool>& needs) {
          const Tensor& h = grads[0];  // (the weight's shape)
          Tensor gx, ggout;
          if (needs[0]) gx = conv_input_grad(a, gout, h, x.sizes());
          if (needs[1]) ggout = conv_core(a, x, h);
          return std::vector<Tensor>{gx, ggout};
        },
        autograd::DoubleBackward::same());
  }
  return gw;
}

// The forward on lifted 4-d tensors, without the bias; records the backward.
Tensor conv_core(const ConvArgs& a, const Tensor& x, const Tensor& weight) {
  const ConvPlan p = make_plan(a, x.sizes(), weight.sizes());
  const std::int64_t B = p.B, C_in = p.C_in, C_out = p.C_out, OH = p.OH, OW = p.OW;
  const std::int64_t KH = p.KH, KW = p.KW, G = p.G, CinG = p.CinG, CoutG = p.CoutG;
  {
    const std::int64_t span_h = a.dilation[0] * (KH - 1) + 1;
    const std::int64_t span_w = a.dilation[1] * (KW - 1) + 1;
    if (a.transposed) {
      NN_CHECK(OH >= 1 && OW >= 1,
               "{}: expected an output of size >= 1 from input {}, dilated kernel {}, stride "
               "{} and padding {}, got an output of size {}",
               a.op, shape_str(user_shape(a, x.sizes())), pair_str(a, {span_h, span_w}),
               pair_str(a, a.stride), pair_str(a, a.padding), pair_str(a, {OH, OW}));
    }
    NN_CHECK(OH >= 1 && OW >= 1,
             "{}: expected input {} (padding {}) at least as large as the dilated kernel "
             "{}, got an output of size {}",
             a.op, shape_str(user_shape(a, x.sizes())), pair_str(a, a.padding),
             pair_str(a, {span_h, span_w}), pair_str(a, {OH, OW}));
  }
  const kernels::ConvGeometry& geo = p.geo;
  const std::int64_t P = p.P, rowsG = p.rowsG, in_plane = p.in_plane, out_plane = p.out_plane;

  Tensor out = empty({B, C_out, OH, OW}, x.options());
  Tensor col = empty({geo.C * KH * KW, P}, x.options());
  const Device dev = x.device();
  const float* w = weight.data_ptr<float>();
  for (std::int64_t b = 0; b < B; ++b) {
    const float* xb = x.data_ptr<float>() + b * C_in * in_plane;
    float* ob = out.data_ptr<float>() + b * C_out * out_plane;
    if (!a.transposed) {
      // out_b[g] (C_out/G, P) = weight[g] (C_out/G, C_in/G*KK) @ im2col(x_b)[g] (C_in/G*KK, P)
      kernels::im2col(dev, geo, xb, col.data_ptr<float>());
      kernels::gemm_batched(dev, false, false, G, CoutG, P, rowsG, 1.0f, w, rowsG, CoutG * rowsG,
                            col.data_ptr<float>(), P, rowsG * P, 0.0f, ob, P, CoutG * P);
    } else {
      // col[g] (C_out/G*KK, HW) = weight[g]^T (C_out/G*KK, C_in/G) @ x_b[g] (C_in/G, HW);
      // out_b = col2im(col)
      kernels::gemm_batched(dev, true, false, G, rowsG, P, CinG, 1.0f, w, rowsG, CinG * rowsG, xb,
                            P, CinG * P, 0.0f, col.data_ptr<float>(), P, rowsG * P);
      kernels::col2im(dev, geo, col.data_ptr<float>(), ob);
    }
  }

  if (autograd::needs_history({&x, &weight})) {
    autograd::record(
        a.op, {x, weight}, {out},
        [a, x, weight](const std::vector<Tensor>& grads, const std::vector<bool>& needs) {
          return conv_backward_kernels(a, x, weight, weight.sizes(), grads[0], needs[0], needs[1]);
        },
        autograd::DoubleBackward(
            [a, x, weight](const std::vector<Tensor>& grads, const std::vector<bool>& needs) {
              // the same as recorded ops (conv_input_grad, conv_weight_grad)
              Tensor gx, gw;
              if (needs[0]) gx = conv_input_grad(a, grads[0], weight, x.sizes());
              if (needs[1]) gw = conv_weight_grad(a, x, grads[0], weight.sizes());
              return std::vector<Tensor>{gx, gw};
            }));
  }
  return out;
}

// Checks the bias and adds it, viewed as (1,C_out,1[,1]) so that it broadcasts.
Tensor add_bias(const ConvArgs& a, const Tensor& out, const Tensor& bias) {
  if (!bias.defined()) return out;
  const std::int64_t C_out = out.size(1);
  NN_CHECK(bias.dtype() == DType::Float32, "{}: expected bias of dtype float32, got {}", a.op,
           dtype_name(bias.dtype()));
  NN_CHECK(bias.dim() == 1 && bias.size(0) == C_out,
           "{}: expected bias of shape (C_out) = ({}), got {}", a.op, C_out,
           shape_str(bias.sizes()));
  NN_CHECK(bias.device() == out.device(), "{}: expected bias on the input's device {}, got {}",
           a.op, out.device().str(), bias.device().str());
  return add(out, bias.reshape(a.dims == 1 ? Shape{1, C_out, 1} : Shape{1, C_out, 1, 1}));
}

// 1-d: lifts x (B,C,L) to (B,C,1,L) and weight (.,.,K) to (.,.,1,K), runs the 2-d core and
// drops the H = 1 dim again (reshapes share storage and carry the gradient back).
Tensor conv1d_any(const ConvArgs& a, const Tensor& x, const Tensor& weight, const Tensor& bias) {
  const char* xs = "(B,C_in,L)";
  NN_CHECK(x.dim() == 3, "{}: expected input of shape {}, got {}", a.op, xs, shape_str(x.sizes()));
  NN_CHECK(weight.dim() == 3, "{}: expected weight of shape {}, got {}", a.op,
           a.transposed ? "(C_in,C_out/groups,K)" : "(C_out,C_in/groups,K)",
           shape_str(weight.sizes()));
  const Tensor x4 = x.reshape({x.size(0), x.size(1), 1, x.size(2)});
  const Tensor w4 = weight.reshape({weight.size(0), weight.size(1), 1, weight.size(2)});
  check_args(a, x4, w4);
  Tensor out = conv_core(a, x4, w4);
  out = out.reshape({out.size(0), out.size(1), out.size(3)});
  return add_bias(a, out, bias);
}

}  // namespace

Tensor conv1d(const Tensor& x, const Tensor& weight, const Tensor& bias, std::int64_t stride,
              std::int64_t padding, std::int64_t dilation, std::int64_t groups) {
  const ConvArgs a{"conv1d", 1, false, {1, stride}, {0, padding}, {1, dilation}, {0, 0}, groups};
  return conv1d_any(a, x, weight, bias);
}

Tensor conv_transpose1d(const Tensor& x, const Tensor& weight, const Tensor& bias,
                        std::int64_t stride, std::int64_t padding, std::int64_t output_padding,
                        std::int64_t groups, std::int64_t dilation) {
  const ConvArgs a{"conv_transpose1d",  1,     true, {1, stride}, {0, padding}, {1, dilation},
                   {0, output_padding}, groups};
  return conv1d_any(a, x, weight, bias);
}

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, Size2 stride,
              Size2 padding, Size2 dilation, std::int64_t groups) {
  const ConvArgs a{"conv2d", 2, false, stride, padding, dilation, {0, 0}, groups};
  NN_CHECK(x.dim() == 4, "conv2d: expected input of shape (B,C_in,H,W), got {}",
           shape_str(x.sizes()));
  NN_CHECK(weight.dim() == 4, "conv2d: expected weight of shape (C_out,C_in/groups,KH,KW), got {}",
           shape_str(weight.sizes()));
  check_args(a, x, weight);
  return add_bias(a, conv_core(a, x, weight), bias);
}

Tensor conv_transpose2d(const Tensor& x, const Tensor& weight, const Tensor& bias, Size2 stride,
                        Size2 padding, Size2 output_padding, std::int64_t groups, Size2 dilation) {
  const ConvArgs a{"conv_transpose2d", 2, true, stride, padding, dilation, output_padding, groups};
  NN_CHECK(x.dim() == 4, "conv_transpose2d: expected input of shape (B,C_in,H,W), got {}",
           shape_str(x.sizes()));
  NN_CHECK(weight.dim() == 4,
           "conv_transpose2d: expected weight of shape (C_in,C_out/groups,KH,KW), got {}",
           shape_str(weight.sizes()));
  check_args(a, x, weight);
  return add_bias(a, conv_core(a, x, weight), bias);
}

}  // namespace nn
