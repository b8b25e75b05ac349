// Convolution kernels: im2col and its adjoint col2im, on raw device pointers like the gemm
// kernels (src/kernels/gemm.hpp), so that the convolution ops (src/ops/conv.cpp) are a loop
// of im2col / col2im and matrix products that runs unchanged on every backend. A 1-d
// convolution is the 2-d one with H = KH = 1.
//
// Both are deterministic: every output element is written by one thread, and col2im sums
// its contributions in a fixed order (kh, then kw), so results do not depend on the number
// of threads.
#pragma once

#include <cstdint>

#include "kernels/table.hpp"

namespace nn::kernels {

// One image of C channels (H,W) and the (OH,OW) positions a (KH,KW) kernel visits in it:
// kernel tap (kh,kw) at position (oh,ow) reads image row oh*stride_h - pad_h + kh*dil_h and
// column ow*stride_w - pad_w + kw*dil_w (zero outside the image).
struct ConvGeometry {
  std::int64_t C, H, W;
  std::int64_t KH, KW;
  std::int64_t OH, OW;
  std::int64_t stride_h, stride_w;
  std::int64_t pad_h, pad_w;
  std::int64_t dil_h, dil_w;
};

// col (C*KH*KW, OH*OW): row (c*KH + kh)*KW + kw, column oh*OW + ow = image (C,H,W) at the
// tap's pixel, or 0 in the padding.
using Im2colFn = void(const ConvGeometry& g, const float* image, float* col);
extern Table<Im2colFn> im2col;

// The adjoint of im2col: image (C,H,W) = the sum, over every (row, column) of col
// (C*KH*KW, OH*OW) whose tap reads that pixel, of col's value (overwritten, not accumulated;
// pixels no tap reads are 0).
using Col2imFn = void(const ConvGeometry& g, const float* col, float* image);
extern Table<Col2imFn> col2im;

}  // namespace nn::kernels
