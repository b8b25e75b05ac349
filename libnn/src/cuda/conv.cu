// CUDA convolution kernels (src/kernels/conv.hpp): im2col and col2im, one thread per output
// element, the same arithmetic in the same order as the CPU kernels (src/cpu/conv.cpp), so
// the two devices give the same bits. The matrix products around them are cuBLAS's
// (src/cuda/gemm.cu), called by the op (src/ops/conv.cpp) through the gemm table.
#include <cstdint>

#include "cuda/common.cuh"
#include "cuda/register.hpp"
#include "kernels/conv.hpp"

namespace nn::cuda {
namespace {

using kernels::ConvGeometry;

// One thread per col element (c,kh,kw, oh,ow).
__global__ void __launch_bounds__(kBlock)
    im2col_kernel(ConvGeometry g, const float* __restrict__ image, float* __restrict__ col) {
  const std::int64_t cols = g.OH * g.OW;
  NN_CUDA_KERNEL_LOOP(i, g.C * g.KH * g.KW * cols) {
    const std::int64_t r = i / cols, p = i - r * cols;
    const std::int64_t oh = p / g.OW, ow = p - oh * g.OW;
    const std::int64_t kw = r % g.KW, kh = (r / g.KW) % g.KH, c = r / (g.KW * g.KH);
    const std::int64_t ih = oh * g.stride_h - g.pad_h + kh * g.dil_h;
    const std::int64_t iw = ow * g.stride_w - g.pad_w + kw * g.dil_w;
    col[i] = ih >= 0 && ih < g.H && iw >= 0 && iw < g.W ? image[(c * g.H + ih) * g.W + iw] : 0.0f;
  }
}

void im2col_cuda(const ConvGeometry& g, const float* image, float* col) {
  const std::int64_t n = g.C * g.KH * g.KW * g.OH * g.OW;
  if (n == 0) return;
  im2col_kernel<<<grid_for(n), kBlock, 0, current_stream()>>>(g, image, col);
  NN_CUDA_CHECK_LAUNCH();
}

// One thread per image pixel (c,ih,iw), summing its taps in the CPU kernel's order.
__global__ void __launch_bounds__(kBlock)
    col2im_kernel(ConvGeometry g, const float* __restrict__ col, float* __restrict__ image) {
  const std::int64_t cols = g.OH * g.OW;
  NN_CUDA_KERNEL_LOOP(i, g.C * g.H * g.W) {
    const std::int64_t iw = i % g.W, ih = (i / g.W) % g.H, c = i / (g.W * g.H);
    float sum = 0.0f;
    for (std::int64_t kh = 0; kh < g.KH; ++kh) {
      const std::int64_t th = ih + g.pad_h - kh * g.dil_h;
      if (th < 0 || th % g.stride_h != 0 || th / g.stride_h >= g.OH) continue;
      const std::int64_t oh = th / g.stride_h;
      for (std::int64_t kw = 0; kw < g.KW; ++kw) {
        const std::int64_t tw = iw + g.pad_w - kw * g.dil_w;
        if (tw < 0 || tw % g.stride_w != 0 || tw / g.stride_w >= g.OW) continue;
        const std::int64_t r = (c * g.KH + kh) * g.KW + kw;
        sum += col[r * cols + oh * g.OW + tw / g.stride_w];
      }
    }
    image[i] = sum;
  }
}

void col2im_cuda(const ConvGeometry& g, const float* col, float* image) {
  const std::int64_t n = g.C * g.H * g.W;
  if (n == 0) return;
  col2im_kernel<<<grid_for(n), kBlock, 0, current_stream()>>>(g, col, image);
  NN_CUDA_CHECK_LAUNCH();
}

}  // namespace

void register_conv_kernels() {
  kernels::im2col.set(DeviceType::CUDA, im2col_cuda);
  kernels::col2im.set(DeviceType::CUDA, col2im_cuda);
}

}  // namespace nn::cuda
