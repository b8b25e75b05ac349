// Conv1d, ConvTranspose1d, Conv2d, ConvTranspose2d (libnn/modules/conv.hpp).
#include "libnn/modules/conv.hpp"

#include <cmath>

#include "core/check.hpp"
#include "libnn/init.hpp"

namespace nn {

namespace {

void check_channels(const char* module, std::int64_t in, std::int64_t out, std::int64_t groups) {
  NN_CHECK(groups >= 1, "{}: expected groups >= 1, got {}", module, groups);
  NN_CHECK(in > 0 && in % groups == 0,
           "{}: expected in_channels > 0 and divisible by groups={}, got {}", module, groups, in);
  NN_CHECK(out > 0 && out % groups == 0,
           "{}: expected out_channels > 0 and divisible by groups={}, got {}", module, groups, out);
}

// torch.nn.modules.conv._ConvNd.reset_parameters: kaiming_uniform_(weight, a=sqrt(5)) and the
// bias U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in from the weight's shape (size(1) times
// the kernel's taps, for the transposed layout as well).
void reset_conv(Tensor& weight, Tensor& bias, Generator* generator) {
  init::kaiming_uniform_(weight, std::sqrt(5.0), init::FanMode::FanIn,
                         init::Nonlinearity::LeakyReLU, generator);
  if (bias.defined()) {
    const std::int64_t fan_in = init::calculate_fan_in_and_fan_out(weight).first;
    const double bound = 1.0 / std::sqrt(static_cast<double>(fan_in));
    init::uniform_(bias, -bound, bound, generator);
  }
}

std::string size2_str(const Size2& s) { return fmt::format("({}, {})", s[0], s[1]); }

}  // namespace

Conv1d::Conv1d(const Conv1dOptions& options_) : options(options_) {
  check_channels("Conv1d", options.in_channels(), options.out_channels(), options.groups());
  NN_CHECK(options.kernel_size() >= 1, "Conv1d: expected kernel_size >= 1, got {}",
           options.kernel_size());
  weight = register_parameter(
      "weight", empty({options.out_channels(), options.in_channels() / options.groups(),
                       options.kernel_size()}));
  bias = register_parameter("bias", options.bias() ? empty({options.out_channels()}) : Tensor());
  reset_parameters();
}

void Conv1d::reset_parameters() { reset_conv(weight, bias, options.generator()); }

Tensor Conv1d::forward(const Tensor& x) const {
  return conv1d(x, weight, bias, options.stride(), options.padding(), options.dilation(),
                options.groups());
}

std::string Conv1d::extra_repr() const {
  return fmt::format(
      "{}, {}, kernel_size=({},), stride=({},), padding=({},), dilation=({},), "
      "groups={}, bias={}",
      options.in_channels(), options.out_channels(), options.kernel_size(), options.stride(),
      options.padding(), options.dilation(), options.groups(), options.bias());
}

ConvTranspose1d::ConvTranspose1d(const ConvTranspose1dOptions& options_) : options(options_) {
  check_channels("ConvTranspose1d", options.in_channels(), options.out_channels(),
                 options.groups());
  NN_CHECK(options.kernel_size() >= 1, "ConvTranspose1d: expected kernel_size >= 1, got {}",
           options.kernel_size());
  weight = register_parameter(
      "weight", empty({options.in_channels(), options.out_channels() / options.groups(),
                       options.kernel_size()}));
  bias = register_parameter("bias", options.bias() ? empty({options.out_channels()}) : Tensor());
  reset_parameters();
}

void ConvTranspose1d::reset_parameters() { reset_conv(weight, bias, options.generator()); }

Tensor ConvTranspose1d::forward(const Tensor& x) const {
  return conv_transpose1d(x, weight, bias, options.stride(), options.padding(),
                          options.output_padding(), options.groups(), options.dilation());
}

std::string ConvTranspose1d::extra_repr() const {
  return fmt::format(
      "{}, {}, kernel_size=({},), stride=({},), padding=({},), "
      "output_padding=({},), dilation=({},), groups={}, bias={}",
      options.in_channels(), options.out_channels(), options.kernel_size(), options.stride(),
      options.padding(), options.output_padding(), options.dilation(), options.groups(),
      options.bias());
}

Conv2d::Conv2d(const Conv2dOptions& options_) : options(options_) {
  check_channels("Conv2d", options.in_channels(), options.out_channels(), options.groups());
  const Size2 k = options.kernel_size();
  NN_CHECK(k[0] >= 1 && k[1] >= 1, "Conv2d: expected kernel_size >= 1, got {}", size2_str(k));
  weight = register_parameter(
      "weight",
      empty({options.out_channels(), options.in_channels() / options.groups(), k[0], k[1]}));
  bias = register_parameter("bias", options.bias() ? empty({options.out_channels()}) : Tensor());
  reset_parameters();
}

void Conv2d::reset_parameters() { reset_conv(weight, bias, options.generator()); }

Tensor Conv2d::forward(const Tensor& x) const {
  return conv2d(x, weight, bias, options.stride(), options.padding(), options.dilation(),
                options.groups());
}

std::string Conv2d::extra_repr() const {
  return fmt::format(
      "{}, {}, kernel_size={}, stride={}, padding={}, dilation={}, groups={}, "
      "bias={}",
      options.in_channels(), options.out_channels(), size2_str(options.kernel_size()),
      size2_str(options.stride()), size2_str(options.padding()), size2_str(options.dilation()),
      options.groups(), options.bias());
}

ConvTranspose2d::ConvTranspose2d(const ConvTranspose2dOptions& options_) : options(options_) {
  check_channels("ConvTranspose2d", options.in_channels(), options.out_channels(),
                 options.groups());
  const Size2 k = options.kernel_size();
  NN_CHECK(k[0] >= 1 && k[1] >= 1, "ConvTranspose2d: expected kernel_size >= 1, got {}",
           size2_str(k));
  weight = register_parameter(
      "weight",
      empty({options.in_channels(), options.out_channels() / options.groups(), k[0], k[1]}));
  bias = register_parameter("bias", options.bias() ? empty({options.out_channels()}) : Tensor());
  reset_parameters();
}

void ConvTranspose2d::reset_parameters() { reset_conv(weight, bias, options.generator()); }

Tensor ConvTranspose2d::forward(const Tensor& x) const {
  return conv_transpose2d(x, weight, bias, options.stride(), options.padding(),
                          options.output_padding(), options.groups(), options.dilation());
}

std::string ConvTranspose2d::extra_repr() const {
  return fmt::format(
      "{}, {}, kernel_size={}, stride={}, padding={}, output_padding={}, "
      "dilation={}, groups={}, bias={}",
      options.in_channels(), options.out_channels(), size2_str(options.kernel_size()),
      size2_str(options.stride()), size2_str(options.padding()),
      size2_str(options.output_padding()), size2_str(options.dilation()), options.groups(),
      options.bias());
}

}  // namespace nn
