// dropout with autograd. The keep mask comes from the Philox generator through the random
// kernel (nn::bernoulli with probability 1-p), already scaled by 1/(1-p); the backward
// multiplies by the same saved mask. Being random, dropout has no golden fixture: its
// property tests are in tests/libnn/test_embedding_dropout_norm.cpp.
#include "core/check.hpp"
#include "kernels/elementwise.hpp"
#include "libnn/autograd.hpp"
#include "libnn/ops.hpp"
#include "libnn/random.hpp"

namespace nn {

Tensor dropout(const Tensor& x, double p, bool training, Generator* gen) {
  NN_CHECK(p >= 0.0 && p <= 1.0, "dropout: expected p in [0, 1], got {}", p);
  NN_CHECK(x.dtype() == DType::Float32, "dropout: expected x of dtype float32, got {}",
           dtype_name(x.dtype()));
  if (!training || p == 0.0) return x;

  // mask = bernoulli(1-p) / (1-p); p = 1 drops everything (and would divide by zero).
  Tensor mask;
  if (p == 1.0) {
    mask = zeros(x.sizes(), x.options());
  } else {
    mask = bernoulli(x.sizes(), 1.0 - p, gen, x.options());
    kernels::unary(mask.device(), kernels::UnaryOp::Affine, mask, mask,
                   static_cast<float>(1.0 / (1.0 - p)), 0.0f);
  }
  Tensor out = empty(x.sizes(), x.options());
  kernels::binary(out.device(), kernels::BinaryOp::Mul, x, mask, out);
  if (autograd::needs_history({&x})) {
    autograd::record("dropout", {x}, {out},
                     [mask](const std::vector<Tensor>& g, const std::vector<bool>&) {
                       // out = x * mask: dx = dout * mask (the same mask)
                       Tensor dx = empty(g[0].sizes(), g[0].options());
                       kernels::binary(dx.device(), kernels::BinaryOp::Mul, g[0], mask, dx);
                       return std::vector<Tensor>{dx};
                     });
  }
  return out;
}

}  // namespace nn
