// Convolution by im2col + GEMM. The column matrix of one image is [Cin*KH*KW, Hout*Wout]
// (row = (c, ky, kx), column = (oy, ox)); padding reads as zero. Batched forms work on
// [N, Cin, H, W] images and [N, K, Hout*Wout] columns.
#pragma once
#ifdef MMENGINE_WITH_CUDA
#include <cuda_runtime.h>  // cudaStream_t: every CUDA launcher takes its stream last
#endif
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

// The image element that column-matrix entry (row r, column col) of image n reads, or -1 where
// it reads padding (zero). Shared by the twins.
MM_HD int64_t im2col_source(const ConvGeometry& g, int64_t n, int64_t r, int64_t col) {
  const int64_t ow = g.out_w();
  const int64_t c = r / (g.kernel_h * g.kernel_w), ky = (r / g.kernel_w) % g.kernel_h, kx = r % g.kernel_w;
  const int64_t iy = (col / ow) * g.stride - g.padding + ky, ix = (col % ow) * g.stride - g.padding + kx;
  const bool inside = iy >= 0 && iy < g.height && ix >= 0 && ix < g.width;
  return inside ? ((n * g.in_channels + c) * g.height + iy) * g.width + ix : -1;
}

// cols[n] = im2col(images[n]) for every image
template <typename T> void im2col_cpu(const ConvGeometry& g, const T* images, T* cols);
// The same entries with the images side by side in one [K, N * Hout*Wout] matrix:
// cols[r, n * HWo + col] (the weight gradient's one GEMM over the batch reads it).
template <typename T> void im2col_wide_cpu(const ConvGeometry& g, const T* images, T* cols);
// out[c, n * HW + i] = x[n, c, i]: [N, C, HW] -> [C, N * HW] (the output gradient's rows for
// the same GEMM).
template <typename T> void to_channel_rows_cpu(const T* x, T* out, int64_t N, int64_t C, int64_t HW);
// Its inverse: out[n, c, i] = rows[c, n * HW + i].
template <typename T> void from_channel_rows_cpu(const T* rows, T* out, int64_t N, int64_t C, int64_t HW);
// col2im of the wide [K, N * HWo] layout (overwrites images).
template <typename T> void col2im_wide_cpu(const ConvGeometry& g, const T* cols, T* images);
// Where entry (row r, column col) of image n sits in the two column layouts.
MM_HD int64_t col_index(const ConvGeometry& g, bool wide, int64_t n, int64_t r, int64_t col) {
  return wide ? (r * g.batch + n) * g.col_cols() + col : (n * g.col_rows() + r) * g.col_cols() + col;
}
// images = sum of every column entry back at its pixel (overwrites images)
template <typename T> void col2im_cpu(const ConvGeometry& g, const T* cols, T* images);

#ifdef MMENGINE_WITH_CUDA
template <typename T> void im2col_cuda(const ConvGeometry& g, const T* images, T* cols, cudaStream_t stream);
template <typename T> void im2col_wide_cuda(const ConvGeometry& g, const T* images, T* cols, cudaStream_t stream);
template <typename T> void to_channel_rows_cuda(const T* x, T* out, int64_t N, int64_t C, int64_t HW, cudaStream_t stream);
template <typename T> void from_channel_rows_cuda(const T* rows, T* out, int64_t N, int64_t C, int64_t HW, cudaStream_t stream);
template <typename T> void col2im_wide_cuda(const ConvGeometry& g, const T* cols, T* images, cudaStream_t stream);
template <typename T> void col2im_cuda(const ConvGeometry& g, const T* cols, T* images, cudaStream_t stream);
#endif

}  // namespace mmengine::kernels
