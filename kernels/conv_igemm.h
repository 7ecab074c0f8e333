// Implicit-GEMM convolution on TF32 tensor cores (float32 only): forward, input gradient
// (dgrad) and weight gradient (wgrad) of a convolution on NCHW tensors, with no column buffer:
// the tile loaders of kernels/cuda/conv_igemm.cu gather the operands of each GEMM straight from
// the tensors (padding and stride holes read as zero) with the index functions below, which
// the tests hold equal to im2col_source (kernels/conv.h). Products use TF32-rounded inputs
// (cvt.rna, `tf32_round_bits`), sums are FP32.
//
// The three GEMMs (p = (n, oy, ox) an output pixel, q = (n, iy, ix) an input pixel,
// r = (c, ky, kx) a column-matrix row, r' = (co, ky, kx)):
//   forward  Y[p, co]  = sum_r  X(p, r)   W[co, r]             M = N*Ho*Wo, N = Cout, K = Cin*KH*KW
//   dgrad    GX[q, c]  = sum_r' GY(q, r') W[co, c, ky, kx]     M = N*H*W,   N = Cin,  K = Cout*KH*KW
//   wgrad    GW[co, r] = sum_p  X(p, r)   GY[n, co, oy, ox]    (as GW^T: M = K, N = Cout, inner N*Ho*Wo)
// wgrad splits its inner dimension into igemm_wgrad_splits(...) fixed ranges whose partial
// products go to a caller-given workspace and are then added in split order: deterministic,
// no atomics, and the split count depends only on the shape (the same bits on every GPU).
//
// The CPU twins are the reference convolution (im2col + GEMM) on the TF32-rounded inputs; they
// take the same arguments (the workspace is unused there).
#pragma once
#include <cstdint>

#include "kernels/conv.h"

namespace mmengine::kernels {

// The geometry in 32-bit integers, as the kernels index (the launchers check that every
// tensor involved has fewer than 2^31 elements).
struct IgemmShape {
  int n, c, h, w, kh, kw, stride, pad, cout, oh, ow;
};
inline IgemmShape igemm_shape(const ConvGeometry& g, int64_t cout) {
  return {int(g.batch), int(g.in_channels), int(g.height), int(g.width), int(g.kernel_h), int(g.kernel_w),
          int(g.stride), int(g.padding), int(cout), int(g.out_h()), int(g.out_w())};
}

// The element of x that column-matrix row r reads for output pixel p = (n * Ho + oy) * Wo + ox,
// or -1 where it reads padding: im2col_source in 32-bit arithmetic.
MM_HD int igemm_x_index(const IgemmShape& s, int p, int r) {
  const int hw = s.oh * s.ow, n = p / hw, pix = p - n * hw, oy = pix / s.ow, ox = pix - oy * s.ow;
  const int taps = s.kh * s.kw, c = r / taps, tap = r - c * taps, ky = tap / s.kw, kx = tap - ky * s.kw;
  const int iy = oy * s.stride - s.pad + ky, ix = ox * s.stride - s.pad + kx;
  return iy >= 0 && iy < s.h && ix >= 0 && ix < s.w ? ((n * s.c + c) * s.h + iy) * s.w + ix : -1;
}

// The element of y (or gy) [N, Cout, Ho, Wo] at output pixel p and channel co.
MM_HD int igemm_y_index(const IgemmShape& s, int p, int co) {
  const int hw = s.oh * s.ow, n = p / hw;
  return (n * s.cout + co) * hw + (p - n * hw);
}

// The element of gy that input pixel q = (n * H + iy) * W + ix receives through tap
// r' = (co * KH + ky) * KW + kx, or -1 where no output pixel reads it through that tap (the
// tap lands between strides or outside the output). The input gradient is the sum over r' of
// gy[this] * w[co, c, ky, kx]: the transposed convolution, as a gather.
MM_HD int igemm_gy_index(const IgemmShape& s, int q, int r) {
  const int hw = s.h * s.w, n = q / hw, pix = q - n * hw, iy = pix / s.w, ix = pix - iy * s.w;
  const int taps = s.kh * s.kw, co = r / taps, tap = r - co * taps, ky = tap / s.kw, kx = tap - ky * s.kw;
  const int ty = iy + s.pad - ky, tx = ix + s.pad - kx;
  if (ty < 0 || tx < 0 || ty % s.stride != 0 || tx % s.stride != 0) return -1;
  const int oy = ty / s.stride, ox = tx / s.stride;
  return oy < s.oh && ox < s.ow ? ((n * s.cout + co) * s.oh + oy) * s.ow + ox : -1;
}

// The weight gradient's split count and the inner length of each split (a multiple of the
// kernels' K slice of 16): about two waves of 132 SMs (an H100) in blocks, each split at least
// 512 long. A function of the shape only.
struct IgemmSplits {
  int count, chunk;
};
IgemmSplits igemm_wgrad_splits(const ConvGeometry& g, int64_t cout);

// y [N, Cout, Ho, Wo] = conv(x [N, Cin, H, W], w [Cout, Cin, KH, KW]) (overwrites y)
void conv_igemm_forward_cpu(const ConvGeometry& g, int64_t cout, const float* x, const float* w, float* y);
// gx [N, Cin, H, W] from gy [N, Cout, Ho, Wo] and w (overwrites gx)
void conv_igemm_grad_input_cpu(const ConvGeometry& g, int64_t cout, const float* w, const float* gy, float* gx);
// gw [Cout, Cin, KH, KW] from x and gy (overwrites gw); workspace: conv_igemm_workspace_<device>
// floats
void conv_igemm_grad_weight_cpu(const ConvGeometry& g, int64_t cout, const float* x, const float* gy, float* gw,
                                float* workspace);
int64_t conv_igemm_workspace_cpu(const ConvGeometry& g, int64_t cout);

#ifdef MMENGINE_WITH_CUDA
void conv_igemm_forward_cuda(const ConvGeometry& g, int64_t cout, const float* x, const float* w, float* y);
void conv_igemm_grad_input_cuda(const ConvGeometry& g, int64_t cout, const float* w, const float* gy, float* gx);
void conv_igemm_grad_weight_cuda(const ConvGeometry& g, int64_t cout, const float* x, const float* gy, float* gw,
                                 float* workspace);
int64_t conv_igemm_workspace_cuda(const ConvGeometry& g, int64_t cout);
#endif

}  // namespace mmengine::kernels
