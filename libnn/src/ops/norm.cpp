// layer_norm and batch_norm with autograd: each one fused forward kernel that saves the
// mean and rstd = 1/sqrt(var + eps) it used, and one fused, hand-derived backward for x,
// weight and bias. Kernels: src/cpu/norm.cpp.
#include "kernels/norm.hpp"

#include "core/check.hpp"
#include "libnn/autograd.hpp"
#include "libnn/ops.hpp"

namespace nn {

namespace {

// An optional per-feature parameter: undefined, or float32 of `shape` on x's device.
void check_optional(const Tensor& t, const Shape& shape, const Tensor& x, const char* what,
                    const char* name) {
  if (!t.defined()) return;
  NN_CHECK(t.dtype() == DType::Float32, "{}: expected {} of dtype float32, got {}", what, name,
           dtype_name(t.dtype()));
  NN_CHECK(t.sizes() == shape, "{}: expected {} of shape {}, got {}", what, name, shape_str(shape),
           shape_str(t.sizes()));
  NN_CHECK(t.device() == x.device(), "{}: expected {} on {} (x's device), got {}", what, name,
           x.device().str(), t.device().str());
}

// layer_norm's backward as recorded ops (double backward): the forward recomputed as a
// composition of differentiable ops, differentiated by grad() with create_graph, so the
// gradients carry history back to x, weight and bias.
std::vector<Tensor> layer_norm_grad_with_graph(const Tensor& x, const Tensor& weight,
                                               const Tensor& bias, const Shape& normalized_shape,
                                               double eps, const Tensor& g,
                                               const std::vector<bool>& needs) {
  std::vector<std::int64_t> dims;
  for (std::size_t i = 0; i < normalized_shape.size(); ++i) {
    dims.push_back(-1 - static_cast<std::int64_t>(i));
  }
  const Tensor xc = sub(x, nn::mean(x, dims, /*keepdim=*/true));
  const Tensor var = nn::mean(mul(xc, xc), dims, /*keepdim=*/true);  // biased, as the kernel
  Tensor y = mul(xc, pow(affine(var, 1.0, eps), -0.5));
  if (weight.defined()) y = mul(y, weight);
  if (bias.defined()) y = add(y, bias);
  const std::vector<Tensor> inputs{x, weight, bias};
  std::vector<Tensor> wanted;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (needs[i]) wanted.push_back(inputs[i]);
  }
  const std::vector<Tensor> grads =
      grad({y}, wanted, {g}, /*create_graph=*/true, std::nullopt, /*allow_unused=*/true);
  std::vector<Tensor> out(inputs.size());
  for (std::size_t i = 0, k = 0; i < inputs.size(); ++i) {
    if (needs[i]) out[i] = grads[k++];
  }
  return out;
}

}  // namespace

// x is (..., *normalized_shape), viewed as (N,C) with C = numel(normalized_shape)
Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight,
                  const Tensor& bias, double eps) {
  NN_CHECK(x.dtype() == DType::Float32, "layer_norm: expected x of dtype float32, got {}",
           dtype_name(x.dtype()));
  NN_CHECK(!normalized_shape.empty(),
           "layer_norm: expected a normalized_shape of at least one dim, got ()");
  const Shape& shape = x.sizes();
  const std::size_t k = normalized_shape.size();
  NN_CHECK(shape.size() >= k &&
               Shape(shape.end() - static_cast<std::ptrdiff_t>(k), shape.end()) == normalized_shape,
           "layer_norm: expected x whose last dims are normalized_shape {}, got {}",
           shape_str(normalized_shape), shape_str(shape));
  check_optional(weight, normalized_shape, x, "layer_norm", "weight");
  check_optional(bias, normalized_shape, x, "layer_norm", "bias");

  const std::int64_t C = numel(normalized_shape);
  const std::int64_t N = C == 0 ? 0 : x.numel() / C;
  Tensor out = empty(shape, x.options());
  Tensor mean = empty({N}, x.options());
  Tensor rstd = empty({N}, x.options());
  kernels::layer_norm_forward(out.device(), x, weight, bias, out, mean, rstd, N, C, eps);

  if (autograd::needs_history({&x, &weight, &bias})) {
    autograd::record(
        "layer_norm", {x, weight, bias}, {out},
        [x, weight, mean, rstd, normalized_shape, N, C](const std::vector<Tensor>& g,
                                                        const std::vector<bool>& needs) {
          // out = (x - mean) * rstd * weight + bias, mean and rstd over the last C
          // values
          Tensor dx = needs[0] ? empty(x.sizes(), x.options()) : Tensor();
          Tensor dweight = needs[1] ? empty(normalized_shape, x.options()) : Tensor();
          Tensor dbias = needs[2] ? empty(normalized_shape, x.options()) : Tensor();
          kernels::layer_norm_backward(x.device(), g[0], x, mean, rstd, weight, dx, dweight, dbias,
                                       N, C);
          return std::vector<Tensor>{dx, dweight, dbias};
        },
        autograd::DoubleBackward([x, weight, bias, normalized_shape, eps](
                                     const std::vector<Tensor>& g, const std::vector<bool>& needs) {
          return layer_norm_grad_with_graph(x, weight, bias, normalized_shape, eps, g[0], needs);
        }));
  }
  return out;
}

// x is (N,C) or (N,C,L), viewed as (N,C,L) with L = 1 for (N,C)
Tensor batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var,
                  const Tensor& weight, const Tensor& bias, bool training, double momentum,
                  double eps) {
  NN_CHECK(x.dtype() == DType::Float32, "batch_norm: expected x of dtype float32, got {}",
           dtype_name(x.dtype()));
  NN_CHECK(x.dim() == 2 || x.dim() == 3, "batch_norm: expected x of shape (N,C) or (N,C,L), got {}",
           shape_str(x.sizes()));
  const std::int64_t N = x.size(0), C = x.size(1), L = x.dim() == 3 ? x.size(2) : 1;
  const Shape channels{C};
  check_optional(running_mean, channels, x, "batch_norm", "running_mean");
  check_optional(running_var, channels, x, "batch_norm", "running_var");
  check_optional(weight, channels, x, "batch_norm", "weight");
  check_optional(bias, channels, x, "batch_norm", "bias");
  NN_CHECK(running_mean.defined() == running_var.defined(),
           "batch_norm: expected running_mean and running_var both given or both undefined, got "
           "only {}",
           running_mean.defined() ? "running_mean" : "running_var");
  NN_CHECK(training || running_mean.defined(),
           "batch_norm: expected running_mean and running_var in evaluation mode, got neither");
  NN_CHECK(!training || N * L > 1,
           "batch_norm: expected more than 1 value per channel when training, got x of shape {}",
           shape_str(x.sizes()));

  const bool update_running = training && running_mean.defined();
  Tensor out = empty(x.sizes(), x.options());
  Tensor mean = empty(channels, x.options());
  Tensor rstd = empty(channels, x.options());
  Tensor var_unbiased = update_running ? empty(channels, x.options()) : Tensor();
  kernels::batch_norm_forward(out.device(), x, weight, bias, running_mean, running_var, training,
                              eps, out, mean, rstd, var_unbiased, N, C, L);
  if (update_running) {
    // running = (1 - momentum) * running + momentum * batch statistic (unbiased variance)
    NoGradGuard no_grad;
    Tensor(running_mean).mul_(1.0 - momentum).add_(mean, momentum);
    Tensor(running_var).mul_(1.0 - momentum).add_(var_unbiased, momentum);
  }

  if (autograd::needs_history({&x, &weight, &bias})) {
    autograd::record("batch_norm", {x, weight, bias}, {out},
                     [x, weight, mean, rstd, training, N, C, L](const std::vector<Tensor>& g,
                                                                const std::vector<bool>& needs) {
                       // out = (x - mean[c]) * rstd[c] * weight[c] + bias[c]; in training mean and
                       // rstd are functions of x, in evaluation they are the running statistics
                       // (constants)
                       Tensor dx = needs[0] ? empty(x.sizes(), x.options()) : Tensor();
                       Tensor dweight = needs[1] ? empty({C}, x.options()) : Tensor();
                       Tensor dbias = needs[2] ? empty({C}, x.options()) : Tensor();
                       kernels::batch_norm_backward(x.device(), g[0], x, mean, rstd, weight,
                                                    training, dx, dweight, dbias, N, C, L);
                       return std::vector<Tensor>{dx, dweight, dbias};
                     });
  }
  return out;
}

}  // namespace nn
