// The table of ops: every differentiable op libnn offers, by name. Each must have a
// finite-difference gradient check (tests/libnn/test_gradcheck.cpp) and a PyTorch golden test
// (tests/libnn/golden/, replayed by tests/libnn/test_golden.cpp), or a written reason why not
// (dropout is random: checked by property tests); tests/libnn/test_op_table.cpp fails when
// an op here lacks either. Adding an op: docs/adding-an-op.md.
#pragma once

#include <array>
#include <string_view>

namespace nn::ops {

// One family per line (kept by hand, not by clang-format).
// clang-format off
#define LIBNN_FOR_EACH_OP(X) \
  X(add) X(sub) X(mul) X(div) X(affine)                                   \
  X(neg) X(exp) X(log) X(tanh) X(sigmoid) X(relu) X(leaky_relu) X(sqrt)   \
  X(pow) X(clamp)                                                          \
  X(matmul) X(bmm) X(linear)                                               \
  X(sum) X(mean) X(max)                                                    \
  X(softmax) X(log_softmax) X(cross_entropy)                               \
  X(binary_cross_entropy_with_logits)                                      \
  X(gan_discriminator_loss) X(gan_generator_loss) X(feature_matching_loss) \
  X(wasserstein_critic_loss) X(wasserstein_generator_loss)                 \
  X(embedding) X(dropout) X(layer_norm) X(batch_norm)                      \
  X(lstm_layer)                                                            \
  X(conv1d) X(conv_transpose1d) X(conv2d) X(conv_transpose2d)              \
  X(cat) X(stack) X(slice) X(flip) X(transpose) X(reshape)
// clang-format on

enum class Op {
#define LIBNN_OP_ENUM(name) name,
  LIBNN_FOR_EACH_OP(LIBNN_OP_ENUM)
#undef LIBNN_OP_ENUM
  kCount
};

inline constexpr std::array<std::string_view, static_cast<std::size_t>(Op::kCount)> kOpNames = {
#define LIBNN_OP_NAME(name) #name,
    LIBNN_FOR_EACH_OP(LIBNN_OP_NAME)
#undef LIBNN_OP_NAME
};

}  // namespace nn::ops
