// Matrix products with autograd: matmul, bmm, linear. All run on the gemm kernel table, using
// its transpose flags so backward makes no transposed copies.
#include "core/check.hpp"
#include "kernels/gemm.hpp"
#include "libnn/autograd.hpp"
#include "libnn/ops.hpp"

namespace nn {

namespace {

void check_float(const Tensor& t, const char* what, const char* name) {
  NN_CHECK(t.dtype() == DType::Float32, "{}: expected {} of dtype float32, got {}", what, name,
           dtype_name(t.dtype()));
}

// C (M,N) = op(A) op(B) on whole tensors viewed as matrices; accumulate adds into C.
void gemm(bool ta, bool tb, std::int64_t M, std::int64_t N, std::int64_t K, const Tensor& A,
          const Tensor& B, Tensor& C, bool accumulate = false) {
  kernels::gemm(C.device(), ta, tb, M, N, K, 1.0f, A.data_ptr<float>(), ta ? M : K,
                B.data_ptr<float>(), tb ? K : N, accumulate ? 1.0f : 0.0f, C.data_ptr<float>(), N);
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  check_float(a, "matmul", "a");
  check_float(b, "matmul", "b");
  NN_CHECK(a.device() == b.device(), "matmul: expected a and b on the same device, got {} and {}",
           a.device().str(), b.device().str());
  if (a.dim() == 3 && b.dim() == 3) return bmm(a, b);
  NN_CHECK((a.dim() == 2 || a.dim() == 3) && b.dim() == 2,
           "matmul: expected (N,K)@(K,M), (B,N,K)@(K,M) or (B,N,K)@(B,K,M), got {}@{}",
           shape_str(a.sizes()), shape_str(b.sizes()));
  const std::int64_t K = a.size(-1);
  NN_CHECK(b.size(0) == K, "matmul: expected b of shape ({},M) to match a {}, got {}", K,
           shape_str(a.sizes()), shape_str(b.sizes()));
  const std::int64_t rows = numel(Shape(a.sizes().begin(), a.sizes().end() - 1));
  const std::int64_t N = b.size(1);
  Shape out_shape(a.sizes().begin(), a.sizes().end() - 1);
  out_shape.push_back(N);
  Tensor out = empty(out_shape, a.options());
  gemm(false, false, rows, N, K, a, b, out);
  if (autograd::needs_history({&a, &b})) {
    autograd::record(
        "matmul", {a, b}, {out},
        [a, b, rows, N, K](const std::vector<Tensor>& g, const std::vector<bool>& needs) {
          // out (R,N) = a (R,K) @ b (K,N)
          Tensor ga, gb;
          if (needs[0]) {  // ga = g @ b^T
            ga = empty(a.sizes(), a.options());
            gemm(false, true, rows, K, N, g[0], b, ga);
          }
          if (needs[1]) {  // gb = a^T @ g
            gb = empty(b.sizes(), b.options());
            gemm(true, false, K, N, rows, a, g[0], gb);
          }
          return std::vector<Tensor>{ga, gb};
        },
        autograd::DoubleBackward(
            [a, b, rows, N, K](const std::vector<Tensor>& g, const std::vector<bool>& needs) {
              // the same as recorded ops: ga = g @ b^T, gb = a^T @ g
              const Tensor g2 = g[0].reshape({rows, N});
              Tensor ga, gb;
              if (needs[0]) ga = matmul(g2, transpose(b, 0, 1)).reshape(a.sizes());
              if (needs[1]) gb = matmul(transpose(a.reshape({rows, K}), 0, 1), g2);
              return std::vector<Tensor>{ga, gb};
            }));
  }
  return out;
}

Tensor bmm(const Tensor& a, const Tensor& b) {
  check_float(a, "bmm", "a");
  check_float(b, "bmm", "b");
  NN_CHECK(a.dim() == 3 && b.dim() == 3 && a.size(0) == b.size(0) && a.size(2) == b.size(1),
           "bmm: expected (B,N,K)@(B,K,M), got {}@{}", shape_str(a.sizes()), shape_str(b.sizes()));
  NN_CHECK(a.device() == b.device(), "bmm: expected a and b on the same device, got {} and {}",
           a.device().str(), b.device().str());
  const std::int64_t batch = a.size(0), N = a.size(1), K = a.size(2), M = b.size(2);
  Tensor out = empty({batch, N, M}, a.options());
  auto batched = [](bool ta, bool tb, std::int64_t batch_, std::int64_t m, std::int64_t n,
                    std::int64_t k, const Tensor& A, const Tensor& B, Tensor& C) {
    kernels::gemm_batched(C.device(), ta, tb, batch_, m, n, k, 1.0f, A.data_ptr<float>(),
                          ta ? m : k, m * k, B.data_ptr<float>(), tb ? k : n, k * n, 0.0f,
                          C.data_ptr<float>(), n, m * n);
  };
  batched(false, false, batch, N, M, K, a, b, out);
  if (autograd::needs_history({&a, &b})) {
    autograd::record(
        "bmm", {a, b}, {out},
        [a, b, batch, N, K, M, batched](const std::vector<Tensor>& g,
                                        const std::vector<bool>& needs) {
          // out_i (N,M) = a_i (N,K) @ b_i (K,M)
          Tensor ga, gb;
          if (needs[0]) {  // ga_i = g_i @ b_i^T
            ga = empty(a.sizes(), a.options());
            batched(false, true, batch, N, K, M, g[0], b, ga);
          }
          if (needs[1]) {  // gb_i = a_i^T @ g_i
            gb = empty(b.sizes(), b.options());
            batched(true, false, batch, K, M, N, a, g[0], gb);
          }
          return std::vector<Tensor>{ga, gb};
        },
        autograd::DoubleBackward(
            [a, b](const std::vector<Tensor>& g, const std::vector<bool>& needs) {
              // the same as recorded ops: ga_i = g_i @ b_i^T, gb_i = a_i^T @ g_i
              Tensor ga, gb;
              if (needs[0]) ga = bmm(g[0], transpose(b, 1, 2));
              if (needs[1]) gb = bmm(transpose(a, 1, 2), g[0]);
              return std::vector<Tensor>{ga, gb};
            }));
  }
  return out;
}

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  check_float(x, "linear", "x");
  check_float(weight, "linear", "weight");
  NN_CHECK(weight.dim() == 2, "linear: expected weight of shape (O,I), got {}",
           shape_str(weight.sizes()));
  NN_CHECK(x.dim() >= 1 && x.size(-1) == weight.size(1),
           "linear: expected x of shape (...,{}) for weight {}, got {}", weight.size(1),
           shape_str(weight.sizes()), shape_str(x.sizes()));
  const std::int64_t I = weight.size(1), O = weight.size(0);
  const std::int64_t rows = numel(Shape(x.sizes().begin(), x.sizes().end() - 1));
  if (bias.defined()) {
    check_float(bias, "linear", "bias");
    NN_CHECK(bias.dim() == 1 && bias.size(0) == O, "linear: expected bias of shape ({}), got {}",
             O, shape_str(bias.sizes()));
  }
  Shape out_shape(x.sizes().begin(), x.sizes().end() - 1);
  out_shape.push_back(O);
  Tensor out = empty(out_shape, x.options());
  if (bias.defined()) {
    out.copy_(bias);  // broadcast bias into every row, then accumulate x @ W^T on top
    gemm(false, true, rows, O, I, x, weight, out, /*accumulate=*/true);
  } else {
    gemm(false, true, rows, O, I, x, weight, out);
  }
  if (autograd::needs_history({&x, &weight, &bias})) {
    autograd::record(
        "linear", {x, weight, bias}, {out},
        [x, weight, rows, I, O](const std::vector<Tensor>& g, const std::vector<bool>& needs) {
          // out (R,O) = x (R,I) @ W^T (I,O) + b
          Tensor gx, gw, gb;
          if (needs[0]) {  // gx = g @ W
            gx = empty(x.sizes(), x.options());
            gemm(false, false, rows, I, O, g[0], weight, gx);
          }
          if (needs[1]) {  // gW = g^T @ x
            gw = empty(weight.sizes(), weight.options());
            gemm(true, false, O, I, rows, g[0], x, gw);
          }
          if (needs[2]) gb = sum_to(g[0], {O});  // gb = sum over rows of g
          return std::vector<Tensor>{gx, gw, gb};
        },
        autograd::DoubleBackward(
            [x, weight, rows, I, O](const std::vector<Tensor>& g, const std::vector<bool>& needs) {
              // the same as recorded ops: gx = g @ W, gW = g^T @ x, gb = sum_rows g
              const Tensor g2 = g[0].reshape({rows, O});
              Tensor gx, gw, gb;
              if (needs[0]) gx = matmul(g2, weight).reshape(x.sizes());
              if (needs[1]) gw = matmul(transpose(g2, 0, 1), x.reshape({rows, I}));
              if (needs[2]) gb = sum_to(g2, {O});
              return std::vector<Tensor>{gx, gw, gb};
            }));
  }
  return out;
}

}  // namespace nn
