// The ops: free functions on tensors, each recording its backward when an input requires
// grad. Shapes use these letters (docs/libnn.md, "Tensors"): B batch, T time, C channels or
// classes, N rows, V vocabulary, H hidden.
//
// Every op here is listed in src/ops/op_table.hpp, and has a finite-difference gradient
// check and a PyTorch golden test (tests/libnn/); test_op_table.cpp fails if one is missing.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

#include "libnn/tensor.hpp"

namespace nn {

// --- elementwise, with broadcasting (NumPy rules) ----------------------------------------
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
// a * scale + shift, elementwise (the scalar forms of the operators below).
Tensor affine(const Tensor& a, double scale, double shift);

Tensor operator+(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a, const Tensor& b);
Tensor operator*(const Tensor& a, const Tensor& b);
Tensor operator/(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a);
Tensor operator+(const Tensor& a, double b);
Tensor operator+(double a, const Tensor& b);
Tensor operator-(const Tensor& a, double b);
Tensor operator-(double a, const Tensor& b);
Tensor operator*(const Tensor& a, double b);
Tensor operator*(double a, const Tensor& b);
Tensor operator/(const Tensor& a, double b);

// --- elementwise, one input -------------------------------------------------------------
Tensor neg(const Tensor& x);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor tanh(const Tensor& x);
Tensor sigmoid(const Tensor& x);
Tensor relu(const Tensor& x);
Tensor leaky_relu(const Tensor& x, double negative_slope = 0.01);
Tensor sqrt(const Tensor& x);
Tensor pow(const Tensor& x, double exponent);
// At least one bound; the gradient passes where min <= x <= max (PyTorch's convention).
Tensor clamp(const Tensor& x, std::optional<double> min, std::optional<double> max);

// --- matrix products ----------------------------------------------------------------------
// a (N,K) @ b (K,M) -> (N,M); a (B,N,K) @ b (K,M) -> (B,N,M); a (B,N,K) @ b (B,K,M) -> (B,N,M).
Tensor matmul(const Tensor& a, const Tensor& b);
// a (B,N,K) @ b (B,K,M) -> (B,N,M)
Tensor bmm(const Tensor& a, const Tensor& b);
// x (...,I) @ weight (O,I)^T + bias (O) -> (...,O); bias may be undefined.
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor());

// --- reductions (dims empty = all; negative dims count from the end) ------------------------
Tensor sum(const Tensor& x, const std::vector<std::int64_t>& dims = {}, bool keepdim = false);
Tensor mean(const Tensor& x, const std::vector<std::int64_t>& dims = {}, bool keepdim = false);
struct MaxResult {
  Tensor values;   // float32, with history
  Tensor indices;  // int64, the first maximum's position along dim
};
MaxResult max(const Tensor& x, std::int64_t dim, bool keepdim = false);
Tensor max(const Tensor& x);  // over all elements (gradient to the first maximum)

// --- softmax and losses ---------------------------------------------------------------------
Tensor softmax(const Tensor& x, std::int64_t dim);
Tensor log_softmax(const Tensor& x, std::int64_t dim);

enum class Reduction { None, Mean, Sum };

struct CrossEntropyOptions {
  CrossEntropyOptions& ignore_index(std::int64_t value) { ignore_index_ = value; return *this; }
  CrossEntropyOptions& label_smoothing(double value) { label_smoothing_ = value; return *this; }
  CrossEntropyOptions& reduction(Reduction value) { reduction_ = value; return *this; }
  std::int64_t ignore_index_ = -100;
  double label_smoothing_ = 0.0;
  Reduction reduction_ = Reduction::Mean;
};
// Fused log-softmax + negative log-likelihood over class indices.
// logits (N,C) float32, target (N) int64 in [0,C) or ignore_index -> () (or (N) for None).
// Mean divides by the number of targets not ignored, as PyTorch does.
Tensor cross_entropy(const Tensor& logits, const Tensor& target,
                     const CrossEntropyOptions& options = {});

struct BCEWithLogitsOptions {
  BCEWithLogitsOptions& pos_weight(const Tensor& value) { pos_weight_ = value; return *this; }
  BCEWithLogitsOptions& reduction(Reduction value) { reduction_ = value; return *this; }
  Tensor pos_weight_;  // broadcast against the last dimension; undefined = 1
  Reduction reduction_ = Reduction::Mean;
};
// Numerically stable sigmoid + binary cross-entropy. logits and target have the same shape;
// no gradient flows to target or pos_weight.
Tensor binary_cross_entropy_with_logits(const Tensor& logits, const Tensor& target,
                                        const BCEWithLogitsOptions& options = {});

// --- GAN losses (compositions of the ops above; autograd follows them) -----------------------
// Logits and scores are the discriminator's (critic's) raw outputs, any shape (typically
// (B) or (B,1)); every loss is a 0-dim mean. See docs/libnn.md, "Training a GAN".
//
// Discriminator: -log D(real) - log(1 - D(fake)) = mean softplus(-real) + mean softplus(fake),
// with D = sigmoid(logits): two means of binary_cross_entropy_with_logits (targets 1 and 0),
// added (PyTorch's DCGAN tutorial's errD_real + errD_fake). Pass fake_logits of detached fakes.
Tensor gan_discriminator_loss(const Tensor& real_logits, const Tensor& fake_logits);
// The non-saturating generator loss: -log D(fake) = mean softplus(-fake_logits). Its gradient
// stays large when the discriminator confidently rejects the fakes, where the minimax form
// log(1 - D(fake)) saturates.
Tensor gan_generator_loss(const Tensor& fake_logits);
// Feature matching (Salimans et al. 2016): the mean over features of the squared difference
// of the batch means, mean_f (mean_b real[b,f] - mean_b fake[b,f])^2. real and fake are (B,F)
// and (B',F) (or (B,...) with the same trailing shape); gradients flow to both, so pass
// real_features.detach() when only the generator should learn from it.
Tensor feature_matching_loss(const Tensor& real_features, const Tensor& fake_features);
// Wasserstein (Arjovsky et al. 2017) on critic scores: the critic minimises
// mean(fake) - mean(real), the generator minimises -mean(fake). (Keeping the critic
// 1-Lipschitz -- clipping or a gradient penalty -- is the caller's.)
Tensor wasserstein_critic_loss(const Tensor& real_scores, const Tensor& fake_scores);
Tensor wasserstein_generator_loss(const Tensor& fake_scores);

// --- layers as functions ----------------------------------------------------------------------
// weight (V,D), indices int64 of any shape S -> S + (D). (Argument order: weight first.)
Tensor embedding(const Tensor& weight, const Tensor& indices);
// Zeroes each element with probability p and scales the rest by 1/(1-p) when training;
// the identity otherwise.
Tensor dropout(const Tensor& x, double p, bool training, Generator* gen = nullptr);
// Normalizes over the last normalized_shape.size() dims; weight and bias (that shape) optional.
Tensor layer_norm(const Tensor& x, const Shape& normalized_shape,
                  const Tensor& weight = Tensor(), const Tensor& bias = Tensor(),
                  double eps = 1e-5);
// x (N,C) or (N,C,L). In training, normalizes with the batch statistics and updates
// running_mean / running_var in place (unbiased variance, as PyTorch); in evaluation uses them.
// running stats and weight/bias may be undefined.
Tensor batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var,
                  const Tensor& weight, const Tensor& bias, bool training,
                  double momentum = 0.1, double eps = 1e-5);

// --- convolutions (PyTorch's semantics and weight layouts; im2col + GEMM: docs/libnn.md) ------
// Per-dimension sizes of a 2-d convolution: (along H, along W).
using Size2 = std::array<std::int64_t, 2>;
// x (B,C_in,L), weight (C_out,C_in/groups,K), bias (C_out) or undefined -> (B,C_out,L_out),
// L_out = (L + 2*padding - dilation*(K-1) - 1) / stride + 1. Numeric padding only (no "same").
Tensor conv1d(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(),
              std::int64_t stride = 1, std::int64_t padding = 0, std::int64_t dilation = 1,
              std::int64_t groups = 1);
// The adjoint of conv1d (its gradient with respect to the input), PyTorch's argument order:
// x (B,C_in,L), weight (C_in,C_out/groups,K), bias (C_out) -> (B,C_out,L_out),
// L_out = (L-1)*stride - 2*padding + dilation*(K-1) + output_padding + 1;
// output_padding < stride or < dilation.
Tensor conv_transpose1d(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(),
                        std::int64_t stride = 1, std::int64_t padding = 0,
                        std::int64_t output_padding = 0, std::int64_t groups = 1,
                        std::int64_t dilation = 1);
// x (B,C_in,H,W), weight (C_out,C_in/groups,KH,KW), bias (C_out) -> (B,C_out,OH,OW), each
// spatial dim as conv1d's with its own stride, padding and dilation.
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(),
              Size2 stride = {1, 1}, Size2 padding = {0, 0}, Size2 dilation = {1, 1},
              std::int64_t groups = 1);
// The adjoint of conv2d, PyTorch's argument order: x (B,C_in,H,W), weight
// (C_in,C_out/groups,KH,KW), bias (C_out) -> (B,C_out,OH,OW), each spatial dim as
// conv_transpose1d's with its own stride, padding, output_padding and dilation.
Tensor conv_transpose2d(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(),
                        Size2 stride = {1, 1}, Size2 padding = {0, 0},
                        Size2 output_padding = {0, 0}, std::int64_t groups = 1,
                        Size2 dilation = {1, 1});

// --- recurrent layers --------------------------------------------------------------------------
// One LSTM layer over a whole sequence, fused (forward and backward through time each a few
// GEMMs plus one elementwise kernel per step). Gates in PyTorch's order i, f, g, o:
//   G = x_t w_ih^T + b_ih + h_{t-1} w_hh^T + b_hh;  i, f, o = sigmoid, g = tanh of G's quarters
//   c_t = f * c_{t-1} + i * g;  h_t = o * tanh(c_t)
// x (T,B,I), T >= 1; h0, c0 (B,H), undefined = zeros; w_ih (4H,I), w_hh (4H,H); b_ih, b_hh
// (4H), undefined = no bias. Returns output (T,B,H) = h_1..h_T, h (B,H) = h_T, c (B,H) = c_T.
// What the backward needs (gate activations, cells) is kept only when the op is recorded.
struct LSTMLayerResult {
  Tensor output, h, c;
};
LSTMLayerResult lstm_layer(const Tensor& x, const Tensor& h0, const Tensor& c0,
                           const Tensor& w_ih, const Tensor& w_hh, const Tensor& b_ih,
                           const Tensor& b_hh);

// --- joining, cutting and reshaping -------------------------------------------------------------
Tensor cat(const std::vector<Tensor>& tensors, std::int64_t dim = 0);
Tensor stack(const std::vector<Tensor>& tensors, std::int64_t dim = 0);
Tensor slice(const Tensor& x, std::int64_t dim, std::int64_t start, std::int64_t end);
// x reversed along dim (torch.flip(x, [dim])): out[..., i, ...] = x[..., size-1-i, ...], same
// shape; its backward flips the gradient back. One block copy per index along dim.
Tensor flip(const Tensor& x, std::int64_t dim);
Tensor transpose(const Tensor& x, std::int64_t dim0, std::int64_t dim1);
Tensor reshape(const Tensor& x, const Shape& shape);

// Sums a broadcast gradient back to `shape` (the backward of broadcasting).
Tensor sum_to(const Tensor& x, const Shape& shape);

}  // namespace nn
