// Convolution by im2col + GEMM. The column matrix of one image is [Cin*KH*KW, Hout*Wout]
// (row = (c, ky, kx), column = (oy, ox)); padding reads as zero. Batched forms work on
// [N, Cin, H, W] images and [N, K, Hout*Wout] columns.
#pragma once
#include <cstdint>

#include "kernels/common.h"

namespace mmengine::kernels {

struct ConvGeometry {
  int64_t batch, in_channels, height, width;
  int64_t kernel_h, kernel_w, stride, padding;
  MM_HD int64_t out_h() const { return (height + 2 * padding - kernel_h) / stride + 1; }
  MM_HD int64_t out_w() const { return (width + 2 * padding - kernel_w) / stride + 1; }
  MM_HD int64_t col_rows() const { return in_channels * kernel_h * kernel_w; }
  MM_HD int64_t col_cols() const { return out_h() * out_w(); }
};

// cols[n] = im2col(images[n]) for every image
template <typename T> void im2col_cpu(const ConvGeometry& g, const T* images, T* cols);
// images = sum of every column entry back at its pixel (overwrites images)
template <typename T> void col2im_cpu(const ConvGeometry& g, const T* cols, T* images);

#ifdef MMENGINE_WITH_CUDA
template <typename T> void im2col_cuda(const ConvGeometry& g, const T* images, T* cols);
template <typename T> void col2im_cuda(const ConvGeometry& g, const T* cols, T* images);
#endif

}  // namespace mmengine::kernels
