// The GAN losses: compositions of binary_cross_entropy_with_logits, mean, sub and mul, so
// autograd follows the composition and they need no kernel of their own (docs/adding-an-op.md,
// step 5). A fused kernel would save a few small tensors per step; a GAN's losses act on a
// (B) vector of logits next to two MLPs or convnets, so that saving is not worth a kernel.
#include "core/check.hpp"
#include "libnn/ops.hpp"

namespace nn {

namespace {

void check_float(const Tensor& x, const char* what, const char* name) {
  NN_CHECK(x.defined(), "{}: {} is undefined", what, name);
  NN_CHECK(x.dtype() == DType::Float32, "{}: expected float32 {}, got {}", what, name,
           dtype_name(x.dtype()));
  NN_CHECK(x.numel() > 0, "{}: expected a non-empty {}, got shape {}", what, name,
           shape_str(x.sizes()));
}

}  // namespace

Tensor gan_discriminator_loss(const Tensor& real_logits, const Tensor& fake_logits) {
  check_float(real_logits, "gan_discriminator_loss", "real_logits");
  check_float(fake_logits, "gan_discriminator_loss", "fake_logits");
  // -log sigmoid(real) = softplus(-real); -log(1 - sigmoid(fake)) = softplus(fake)
  return binary_cross_entropy_with_logits(real_logits, ones_like(real_logits)) +
         binary_cross_entropy_with_logits(fake_logits, zeros_like(fake_logits));
}

Tensor gan_generator_loss(const Tensor& fake_logits) {
  check_float(fake_logits, "gan_generator_loss", "fake_logits");
  // -log sigmoid(fake) = softplus(-fake)
  return binary_cross_entropy_with_logits(fake_logits, ones_like(fake_logits));
}

Tensor feature_matching_loss(const Tensor& real_features, const Tensor& fake_features) {
  const char* what = "feature_matching_loss";
  check_float(real_features, what, "real_features");
  check_float(fake_features, what, "fake_features");
  NN_CHECK(real_features.dim() >= 1 && fake_features.dim() == real_features.dim(),
           "{}: expected real and fake features (B,F...) of the same rank, got {} and {}", what,
           shape_str(real_features.sizes()), shape_str(fake_features.sizes()));
  for (std::int64_t d = 1; d < real_features.dim(); ++d) {
    NN_CHECK(real_features.size(d) == fake_features.size(d),
             "{}: expected real and fake features with the same shape after the batch dim, got {} "
             "and {}",
             what, shape_str(real_features.sizes()), shape_str(fake_features.sizes()));
  }
  // real (B,F), fake (B',F) -> diff (F) -> mean of its squares ()
  const Tensor diff = mean(real_features, {0}) - mean(fake_features, {0});
  return mean(diff * diff);
}

Tensor wasserstein_critic_loss(const Tensor& real_scores, const Tensor& fake_scores) {
  check_float(real_scores, "wasserstein_critic_loss", "real_scores");
  check_float(fake_scores, "wasserstein_critic_loss", "fake_scores");
  return mean(fake_scores) - mean(real_scores);
}

Tensor wasserstein_generator_loss(const Tensor& fake_scores) {
  check_float(fake_scores, "wasserstein_generator_loss", "fake_scores");
  return -mean(fake_scores);
}

}  // namespace nn
