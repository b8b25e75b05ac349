// Convolution layers, PyTorch's nn.Conv1d, nn.ConvTranspose1d, nn.Conv2d and
// nn.ConvTranspose2d: parameters
// "weight" and "bias" in PyTorch's layouts, so that safetensors move between the two; PyTorch's
// default initialisation. The ops they call: conv1d, conv_transpose1d, conv2d,
// conv_transpose2d (libnn/ops.hpp).
#pragma once

#include <cstdint>

#include "libnn/module.hpp"
#include "libnn/ops.hpp"
#include "libnn/random.hpp"

namespace nn {

// Conv1dOptions(in, out, k).stride(2).padding(1): libtorch's chained setters.
struct Conv1dOptions {
  Conv1dOptions(std::int64_t in_channels, std::int64_t out_channels, std::int64_t kernel_size)
      : in_channels_(in_channels), out_channels_(out_channels), kernel_size_(kernel_size) {}
  LIBNN_ARG(std::int64_t, in_channels, {})
  LIBNN_ARG(std::int64_t, out_channels, {})
  LIBNN_ARG(std::int64_t, kernel_size, {})
  LIBNN_ARG(std::int64_t, stride, 1)
  LIBNN_ARG(std::int64_t, padding, 0)
  LIBNN_ARG(std::int64_t, dilation, 1)
  LIBNN_ARG(std::int64_t, groups, 1)
  LIBNN_ARG(bool, bias, true)
  // Draws the initial weights (the global generator when null).
  LIBNN_ARG(Generator*, generator, nullptr)
};

// As Conv1dOptions, plus output_padding (< stride or < dilation).
struct ConvTranspose1dOptions {
  ConvTranspose1dOptions(std::int64_t in_channels, std::int64_t out_channels,
                         std::int64_t kernel_size)
      : in_channels_(in_channels), out_channels_(out_channels), kernel_size_(kernel_size) {}
  LIBNN_ARG(std::int64_t, in_channels, {})
  LIBNN_ARG(std::int64_t, out_channels, {})
  LIBNN_ARG(std::int64_t, kernel_size, {})
  LIBNN_ARG(std::int64_t, stride, 1)
  LIBNN_ARG(std::int64_t, padding, 0)
  LIBNN_ARG(std::int64_t, output_padding, 0)
  LIBNN_ARG(std::int64_t, dilation, 1)
  LIBNN_ARG(std::int64_t, groups, 1)
  LIBNN_ARG(bool, bias, true)
  LIBNN_ARG(Generator*, generator, nullptr)
};

// Per-dimension sizes (H, W); a single number sets both, as in libtorch:
// Conv2dOptions(3, 16, 4).stride(2).padding({1, 2}).
struct Conv2dOptions {
  Conv2dOptions(std::int64_t in_channels, std::int64_t out_channels, Size2 kernel_size)
      : in_channels_(in_channels), out_channels_(out_channels), kernel_size_(kernel_size) {}
  Conv2dOptions(std::int64_t in_channels, std::int64_t out_channels, std::int64_t kernel_size)
      : Conv2dOptions(in_channels, out_channels, Size2{kernel_size, kernel_size}) {}
  LIBNN_ARG(std::int64_t, in_channels, {})
  LIBNN_ARG(std::int64_t, out_channels, {})
  LIBNN_ARG(Size2, kernel_size, {})
  LIBNN_ARG(Size2, stride, (Size2{1, 1}))
  LIBNN_ARG(Size2, padding, (Size2{0, 0}))
  LIBNN_ARG(Size2, dilation, (Size2{1, 1}))
  LIBNN_ARG(std::int64_t, groups, 1)
  LIBNN_ARG(bool, bias, true)
  LIBNN_ARG(Generator*, generator, nullptr)

 public:
  auto& stride(std::int64_t s) { return stride(Size2{s, s}); }
  auto& padding(std::int64_t p) { return padding(Size2{p, p}); }
  auto& dilation(std::int64_t d) { return dilation(Size2{d, d}); }
};

// As Conv2dOptions, plus output_padding (per dim < stride or < dilation).
struct ConvTranspose2dOptions {
  ConvTranspose2dOptions(std::int64_t in_channels, std::int64_t out_channels, Size2 kernel_size)
      : in_channels_(in_channels), out_channels_(out_channels), kernel_size_(kernel_size) {}
  ConvTranspose2dOptions(std::int64_t in_channels, std::int64_t out_channels,
                         std::int64_t kernel_size)
      : ConvTranspose2dOptions(in_channels, out_channels, Size2{kernel_size, kernel_size}) {}
  LIBNN_ARG(std::int64_t, in_channels, {})
  LIBNN_ARG(std::int64_t, out_channels, {})
  LIBNN_ARG(Size2, kernel_size, {})
  LIBNN_ARG(Size2, stride, (Size2{1, 1}))
  LIBNN_ARG(Size2, padding, (Size2{0, 0}))
  LIBNN_ARG(Size2, output_padding, (Size2{0, 0}))
  LIBNN_ARG(Size2, dilation, (Size2{1, 1}))
  LIBNN_ARG(std::int64_t, groups, 1)
  LIBNN_ARG(bool, bias, true)
  LIBNN_ARG(Generator*, generator, nullptr)

 public:
  auto& stride(std::int64_t s) { return stride(Size2{s, s}); }
  auto& padding(std::int64_t p) { return padding(Size2{p, p}); }
  auto& output_padding(std::int64_t p) { return output_padding(Size2{p, p}); }
  auto& dilation(std::int64_t d) { return dilation(Size2{d, d}); }
};

class Conv1d : public Module {
 public:
  explicit Conv1d(const Conv1dOptions& options);
  // x is (B,C_in,L) -> (B,C_out,L_out)
  Tensor forward(const Tensor& x) const;
  // PyTorch's default: kaiming_uniform_(weight, a=sqrt(5)), i.e. U(-1/sqrt(fan_in),
  // 1/sqrt(fan_in)) with fan_in = C_in/groups * K, and the bias with the same bound.
  void reset_parameters();
  std::string extra_repr() const override;

  Conv1dOptions options;
  Tensor weight;  // (C_out, C_in/groups, K)
  Tensor bias;    // (C_out), undefined when options.bias() is false
};

class ConvTranspose1d : public Module {
 public:
  explicit ConvTranspose1d(const ConvTranspose1dOptions& options);
  // x is (B,C_in,L) -> (B,C_out,L_out), L_out = (L-1)*stride - 2*padding
  // + dilation*(K-1) + output_padding + 1
  Tensor forward(const Tensor& x) const;
  // PyTorch's default, fan_in computed from the weight as PyTorch does: (C_out/groups) * K.
  void reset_parameters();
  std::string extra_repr() const override;

  ConvTranspose1dOptions options;
  Tensor weight;  // (C_in, C_out/groups, K): PyTorch's layout for transposed convolutions
  Tensor bias;    // (C_out)
};

class Conv2d : public Module {
 public:
  explicit Conv2d(const Conv2dOptions& options);
  // x is (B,C_in,H,W) -> (B,C_out,OH,OW)
  Tensor forward(const Tensor& x) const;
  // PyTorch's default, fan_in = C_in/groups * KH * KW.
  void reset_parameters();
  std::string extra_repr() const override;

  Conv2dOptions options;
  Tensor weight;  // (C_out, C_in/groups, KH, KW)
  Tensor bias;    // (C_out)
};

class ConvTranspose2d : public Module {
 public:
  explicit ConvTranspose2d(const ConvTranspose2dOptions& options);
  // x is (B,C_in,H,W) -> (B,C_out,OH,OW), each dim as ConvTranspose1d's
  Tensor forward(const Tensor& x) const;
  // PyTorch's default, fan_in = C_out/groups * KH * KW (from the weight, as PyTorch).
  void reset_parameters();
  std::string extra_repr() const override;

  ConvTranspose2dOptions options;
  Tensor weight;  // (C_in, C_out/groups, KH, KW)
  Tensor bias;    // (C_out)
};

}  // namespace nn
