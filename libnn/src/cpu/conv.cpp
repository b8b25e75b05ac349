// CPU convolution kernels (src/kernels/conv.hpp): im2col, and col2im with each image row
// owned by one thread, its pixels summing the col entries that read them in a fixed tap
// order -- so both are deterministic whatever the thread count, with no atomics.
#include "kernels/conv.hpp"

#include <algorithm>

#include "cpu/parallel.hpp"

namespace nn::cpu {
namespace {

// floor(a / b) for b > 0 and any a (C++ division truncates toward zero).
std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  return a >= 0 ? a / b : -((-a + b - 1) / b);
}
// ceil(a / b) for b > 0, clamped below at 0: the first ow whose tap is not left of the row.
std::int64_t ceil_div_nonneg(std::int64_t a, std::int64_t b) {
  return a <= 0 ? 0 : (a + b - 1) / b;
}

// col (C*KH*KW, OH*OW) from image (C,H,W); one col row per (c,kh,kw), rows split over threads.
void im2col_cpu(const kernels::ConvGeometry& g, const float* image, float* col) {
  const std::int64_t rows = g.C * g.KH * g.KW, cols = g.OH * g.OW;
  parallel_for(rows, std::max<std::int64_t>(1, (1 << 14) / std::max<std::int64_t>(1, cols)),
               [&](std::int64_t begin, std::int64_t end) {
                 for (std::int64_t r = begin; r < end; ++r) {
                   const std::int64_t kw = r % g.KW;
                   const std::int64_t kh = (r / g.KW) % g.KH;
                   const std::int64_t c = r / (g.KW * g.KH);
                   const float* plane = image + c * g.H * g.W;
                   float* out = col + r * cols;
                   for (std::int64_t oh = 0; oh < g.OH; ++oh, out += g.OW) {
                     const std::int64_t ih = oh * g.stride_h - g.pad_h + kh * g.dil_h;
                     if (ih < 0 || ih >= g.H) {
                       std::fill(out, out + g.OW, 0.0f);
                       continue;
                     }
                     // The taps inside the row: ow in [lo, hi) reads iw = ow*stride + shift
                     // in [0, W); outside it, padding. Splitting the range keeps the branch
                     // out of the copy loop (im2col was a quarter of a conv2d's time with it).
                     const std::int64_t shift = kw * g.dil_w - g.pad_w;
                     const std::int64_t lo = std::min(g.OW, ceil_div_nonneg(-shift, g.stride_w));
                     const std::int64_t hi =
                         std::max(lo, std::min(g.OW, floor_div(g.W - 1 - shift, g.stride_w) + 1));
                     const float* line = plane + ih * g.W;
                     std::fill(out, out + lo, 0.0f);
                     if (g.stride_w == 1 && hi > lo) {
                       std::copy(line + (lo + shift), line + (hi + shift), out + lo);
                     } else {
                       for (std::int64_t ow = lo; ow < hi; ++ow)
                         out[ow] = line[ow * g.stride_w + shift];
                     }
                     std::fill(out + hi, out + g.OW, 0.0f);
                   }
                 }
               });
}

// image (C,H,W) = sum of col entries over the taps that read each pixel; image rows (c,ih)
// split over threads, so each row has one writer. Within a row, each tap (kh,kw) in order adds
// its col row segment into the pixels it reads (distinct ow read distinct pixels): every pixel
// receives 0 + its taps' values in (kh, kw) order -- the same float additions, in the same
// order, as the CUDA kernel's per-pixel gather (src/cuda/conv.cu), so the two agree bit for
// bit -- without a division per pixel and tap (the gather took a third of a conv2d backward).
void col2im_cpu(const kernels::ConvGeometry& g, const float* col, float* image) {
  const std::int64_t cols = g.OH * g.OW;
  parallel_for(g.C * g.H,
               std::max<std::int64_t>(1, (1 << 12) / std::max<std::int64_t>(1, g.W * g.KH * g.KW)),
               [&](std::int64_t begin, std::int64_t end) {
                 for (std::int64_t row = begin; row < end; ++row) {
                   const std::int64_t c = row / g.H, ih = row % g.H;
                   float* out = image + row * g.W;
                   std::fill(out, out + g.W, 0.0f);
                   for (std::int64_t kh = 0; kh < g.KH; ++kh) {
                     // Tap kh reads row ih from output row oh = th / stride_h, if exact.
                     const std::int64_t th = ih + g.pad_h - kh * g.dil_h;
                     if (th < 0 || th % g.stride_h != 0 || th / g.stride_h >= g.OH) continue;
                     const std::int64_t oh = th / g.stride_h;
                     for (std::int64_t kw = 0; kw < g.KW; ++kw) {
                       const std::int64_t shift = kw * g.dil_w - g.pad_w;  // iw = ow*stride + shift
                       const std::int64_t lo = std::min(g.OW, ceil_div_nonneg(-shift, g.stride_w));
                       const std::int64_t hi =
                           std::max(lo, std::min(g.OW, floor_div(g.W - 1 - shift, g.stride_w) + 1));
                       const std::int64_t r = (c * g.KH + kh) * g.KW + kw;
                       const float* src = col + r * cols + oh * g.OW;
                       if (g.stride_w == 1 && hi > lo) {
                         float* dst = out + (lo + shift);  // pixel of ow = lo
                         for (std::int64_t ow = lo; ow < hi; ++ow) dst[ow - lo] += src[ow];
                       } else {
                         for (std::int64_t ow = lo; ow < hi; ++ow)
                           out[ow * g.stride_w + shift] += src[ow];
                       }
                     }
                   }
                 }
               });
}

}  // namespace
}  // namespace nn::cpu

namespace nn::kernels {
Table<Im2colFn> im2col{"im2col", cpu::im2col_cpu};
Table<Col2imFn> col2im{"col2im", cpu::col2im_cpu};
}  // namespace nn::kernels
