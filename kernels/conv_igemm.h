// Implicit-GEMM convolution on tensor cores (TF32 for float32 activations, bf16 for bfloat16): forward, input gradient
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
//            (on CUDA one GEMM per stride phase, over the taps that reach it: IgemmPhase below)
//   wgrad    GW[co, r] = sum_p  X(p, r)   GY[n, co, oy, ox]    (as GW^T: M = K, N = Cout, inner N*Ho*Wo)
// wgrad splits its inner dimension into igemm_wgrad_splits(...) fixed ranges whose partial
// products go to a caller-given workspace and are then added in split order: deterministic,
// no atomics, and the split count depends only on the shape (the same bits on every GPU).
//
// The forward optionally returns the BatchNorm moments of its output from its epilogue
// (conv_igemm_forward_stats_*), for the BatchNorm that follows.
//
// The CPU twins are the reference convolution (im2col + GEMM) on the TF32-rounded inputs; they
// take the same arguments (the workspace is unused there).
//
// Activations (x, y, gy, gx) are stored as A: float, or bf16 (--precision bf16) with the
// weights still float32 (the master copy) and rounded to bf16 where the kernels read them; the
// CUDA kernels then multiply on bf16 mma.m16n8k16 (exact products, FP32 sums), the CPU twins in
// float (a bf16 value is exact in TF32 and float: the same products, the sums in another
// order); y and gx are rounded once to bf16, the weight gradient stays float32. The statistics
// forward is float only.
#pragma once
#ifdef MMENGINE_WITH_CUDA
#include <cuda_runtime.h>  // cudaStream_t: every CUDA launcher takes its stream last
#endif
#include <cstdint>

#include "kernels/conv.h"
#include "kernels/error.h"

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

// The gathers in two halves, so a kernel can compute the half that stays fixed for a thread once
// (an output pixel's position, a column row's tap) and only the other half per element. A pixel
// half holds where the pixel's window starts; a tap half where the tap sits in it.
struct IgemmPixel {
  int base, y, x;
};
struct IgemmTap {
  int off, ky, kx;
};

// Forward and weight gradient: output pixel p = (n * Ho + oy) * Wo + ox reads x at
// (oy * stride - pad + ky, ox * stride - pad + kx) of channel c through row r = (c, ky, kx).
MM_HD IgemmPixel igemm_out_pixel(const IgemmShape& s, int p) {
  const int hw = s.oh * s.ow, n = p / hw, pix = p - n * hw, oy = pix / s.ow, ox = pix - oy * s.ow;
  const int y = oy * s.stride - s.pad, x = ox * s.stride - s.pad;
  return {n * s.c * s.h * s.w + y * s.w + x, y, x};
}
MM_HD IgemmTap igemm_x_tap(const IgemmShape& s, int r) {
  const int taps = s.kh * s.kw, c = r / taps, tap = r - c * taps, ky = tap / s.kw, kx = tap - ky * s.kw;
  return {(c * s.h + ky) * s.w + kx, ky, kx};
}
// The element of x, or -1 where the window reads padding.
MM_HD int igemm_x_index(const IgemmShape& s, const IgemmPixel& px, const IgemmTap& t) {
  const int iy = px.y + t.ky, ix = px.x + t.kx;
  return iy >= 0 && iy < s.h && ix >= 0 && ix < s.w ? px.base + t.off : -1;
}
// The element of x that column-matrix row r reads for output pixel p, or -1 (padding):
// im2col_source in 32-bit arithmetic.
MM_HD int igemm_x_index(const IgemmShape& s, int p, int r) {
  return igemm_x_index(s, igemm_out_pixel(s, p), igemm_x_tap(s, r));
}

// The element of y (or gy) [N, Cout, Ho, Wo] at output pixel p and channel co.
MM_HD int igemm_y_index(const IgemmShape& s, int p, int co) {
  const int hw = s.oh * s.ow, n = p / hw;
  return (n * s.cout + co) * hw + (p - n * hw);
}

// Input gradient: input pixel q = (n * H + iy) * W + ix receives gy[n, co, oy, ox] through tap
// r' = (co * KH + ky) * KW + kx where oy * stride = iy + pad - ky (and the same for x): the
// transposed convolution as a gather.
MM_HD IgemmPixel igemm_in_pixel(const IgemmShape& s, int q) {
  const int hw = s.h * s.w, n = q / hw, pix = q - n * hw, iy = pix / s.w, ix = pix - iy * s.w;
  return {n * s.cout * s.oh * s.ow, iy + s.pad, ix + s.pad};
}
MM_HD IgemmTap igemm_gy_tap(const IgemmShape& s, int r) {
  const int taps = s.kh * s.kw, co = r / taps, tap = r - co * taps, ky = tap / s.kw, kx = tap - ky * s.kw;
  return {co * s.oh * s.ow, ky, kx};
}
// The element of gy, or -1 where no output pixel reads the input pixel through that tap (it
// lands between strides or outside the output).
MM_HD int igemm_gy_index(const IgemmShape& s, const IgemmPixel& px, const IgemmTap& t) {
  const int ty = px.y - t.ky, tx = px.x - t.kx;
  if (ty < 0 || tx < 0) return -1;
  int oy = ty, ox = tx;
  if (s.stride != 1) {
    if (ty % s.stride != 0 || tx % s.stride != 0) return -1;
    oy = ty / s.stride, ox = tx / s.stride;
  }
  return oy < s.oh && ox < s.ow ? px.base + t.off + oy * s.ow + ox : -1;
}
MM_HD int igemm_gy_index(const IgemmShape& s, int q, int r) {
  return igemm_gy_index(s, igemm_in_pixel(s, q), igemm_gy_tap(s, r));
}

// The input gradient by stride phase: input pixels with iy = py and ix = px (mod stride) are
// reached only through the taps with ky = (py + pad) and kx = (px + pad) (mod stride), so the
// CUDA dgrad runs one GEMM per phase (stride^2 of them) over just those taps (for k3 s2: 1, 2,
// 2 or 4 of the 9) instead of every tap for every pixel with the others read as zeros. A phase
// may have no pixels (hy or wx 0: small images) or no taps (ny or nx 0, e.g. k1 s2 pad 0 at odd
// positions: its pixels get a zero gradient). Stride 1 is one phase: the whole GEMM.
//   phase GEMM: M = N * hy * wx, N = Cin, K = Cout * ny * nx
struct IgemmPhase {
  int py, px, hy, wx, ky0, kx0, ny, nx;
};
// How many of first, first + stride, ... lie below size.
MM_HD int igemm_stride_count(int first, int size, int stride) {
  return first < size ? (size - first + stride - 1) / stride : 0;
}
MM_HD IgemmPhase igemm_phase(const IgemmShape& s, int index) {
  const int st = s.stride, py = index / st, px = index - py * st;
  const int ky0 = (py + s.pad) % st, kx0 = (px + s.pad) % st;
  return {py, px, igemm_stride_count(py, s.h, st), igemm_stride_count(px, s.w, st), ky0, kx0,
          igemm_stride_count(ky0, s.kh, st), igemm_stride_count(kx0, s.kw, st)};
}
// Phase pixel q = (n * hy + i) * wx + j is input pixel (n, py + i stride, px + j stride): its
// index n * H * W + iy * W + ix.
MM_HD int igemm_phase_in_index(const IgemmShape& s, const IgemmPhase& ph, int q) {
  const int hw = ph.hy * ph.wx, n = q / hw, rest = q - n * hw, i = rest / ph.wx, j = rest - i * ph.wx;
  return (n * s.h + ph.py + i * s.stride) * s.w + ph.px + j * s.stride;
}
// Phase tap r = (co * ny + a) * nx + b is the full dgrad GEMM's tap r' = (co, ky0 + a stride,
// kx0 + b stride).
MM_HD int igemm_phase_tap_index(const IgemmShape& s, const IgemmPhase& ph, int r) {
  const int taps = ph.ny * ph.nx, co = r / taps, t = r - co * taps, a = t / ph.nx, b = t - a * ph.nx;
  return (co * s.kh + ph.ky0 + a * s.stride) * s.kw + ph.kx0 + b * s.stride;
}

// The weight gradient's split count and the inner length of each split (a multiple of the
// kernels' K slice of 16): about two waves of 132 SMs (an H100) in blocks, each split at least
// 512 long. A function of the shape only.
struct IgemmSplits {
  int count, chunk;
};
IgemmSplits igemm_wgrad_splits(const ConvGeometry& g, int64_t cout);

// y [N, Cout, Ho, Wo] = conv(x [N, Cin, H, W], w [Cout, Cin, KH, KW]) (overwrites y)
template <typename A>
void conv_igemm_forward_cpu(const ConvGeometry& g, int64_t cout, const A* x, const float* w, A* y);
// The forward that also returns, from its epilogue, the BatchNorm moments of y for the BatchNorm
// that follows (issue 13 item 4): y's rows are `groups` equal chunks of images, and moments
// [2, groups, Cout] (float64) holds per (group, channel) the sum of y as stored and its sum of
// squared deviations from the group's mean (M2): the [sum; M2] that kernels/batchnorm.h's
// batchnorm_moments returns, so batchnorm_forward_gathered with R = 1 normalizes y without
// another pass over it. The epilogue has only plain sums: M2 = sum of squares - sum^2 / count
// in double (bn_m2_from_sums), which loses log10(1 + mean^2 / var) of double's 16 digits against
// the two-pass M2. Deterministic (fixed addition order). Needs
// conv_igemm_stats_supported(g, groups) on both twins (no 64-pixel tile of the CUDA kernel may
// straddle two groups); workspace: conv_igemm_stats_workspace_<device> doubles (per-tile partial
// sums on CUDA; none on the CPU). float32 activations only.
constexpr int64_t kIgemmStatsTile = 64;  // output pixels per tile of the CUDA epilogue
inline bool conv_igemm_stats_supported(const ConvGeometry& g, int64_t groups) {
  return groups >= 1 && g.batch % groups == 0 &&
         (groups == 1 || (g.batch / groups * g.col_cols()) % kIgemmStatsTile == 0);
}
// The statistics launchers' (both twins') refusal of a group count that splits a tile.
inline void check_conv_igemm_stats_supported(const ConvGeometry& g, int64_t groups) {
  MM_CHECK(conv_igemm_stats_supported(g, groups), "conv igemm statistics: ", g.batch, " images of ", g.col_cols(),
           " output pixels do not split into ", groups, " groups of whole ", kIgemmStatsTile, "-pixel tiles");
}
void conv_igemm_forward_stats_cpu(const ConvGeometry& g, int64_t cout, const float* x, const float* w, float* y,
                                  int64_t groups, double* moments, double* workspace);
int64_t conv_igemm_stats_workspace_cpu(const ConvGeometry& g, int64_t cout);
// The CPU twins' epilogue: per group and channel the [sum; M2] of y [N, Cout, Ho, Wo] (M2 from the
// plain sums in double, bn_m2_from_sums), as the CUDA epilogues compute it.
void conv_igemm_output_moments_cpu(const ConvGeometry& g, int64_t cout, const float* y, int64_t groups, double* moments);
// gx [N, Cin, H, W] from gy [N, Cout, Ho, Wo] and w (overwrites gx)
template <typename A>
void conv_igemm_grad_input_cpu(const ConvGeometry& g, int64_t cout, const float* w, const A* gy, A* gx);
// gw [Cout, Cin, KH, KW] from x and gy (overwrites gw); workspace: conv_igemm_workspace_<device>
// floats
template <typename A>
void conv_igemm_grad_weight_cpu(const ConvGeometry& g, int64_t cout, const A* x, const A* gy, float* gw,
                                float* workspace);
int64_t conv_igemm_workspace_cpu(const ConvGeometry& g, int64_t cout);

// The spatial-tile ("halo") variant of the stride-1 forward and input gradient, float32 (TF32
// products) or bf16 activations (bf16 products, two channels per shared word, stages of 16
// channels), square kernels of 1 or 3 with padding < kernel (issue 13; the
// gather kernels above stay the default until a GPU has timed both: MMENGINE_IGEMM=halo). A
// block computes a 64-pixel TH x TW rectangle of one image (TW = 8, 16 or 32, TH = 64 / TW) for
// up to 64 output channels. Per stage of 8 input channels it stages the rectangle's input window
// ((TH + K - 1) x (TW + K - 1) per channel) and the stage's K x K x 8 x 64 weights in shared
// memory, and the K x K taps read the window at shifted offsets: each input element is loaded
// once per block instead of once per tap, and the K loop does no per-element index arithmetic.
// The weights go first into a workspace in the order the stages read them (per stage of 8 input
// channels a [K*K][8][Cout] tile, TF32-rounded, or for bf16 per stage of 16 a tile of bf16 pairs;
// conv_igemm_halo_workspace_<device> floats), so the staging loads are contiguous.
// The input gradient is the stride-1 forward of gy with the transposed, flipped weights and
// padding K - 1 - pad. The CPU twins are the reference twins above (the same function).
inline bool igemm_halo_supported(const ConvGeometry& g) {
  return g.stride == 1 && g.kernel_h == g.kernel_w && (g.kernel_h == 1 || g.kernel_h == 3) && g.padding < g.kernel_h;
}
// The halo launchers' (both twins') refusal of another convolution.
inline void check_igemm_halo_supported(const ConvGeometry& g) {
  MM_CHECK(igemm_halo_supported(g), "conv igemm halo: needs stride 1 and a 1x1 or 3x3 kernel with padding < kernel");
}
// The halo kernels' tiles of an oh x ow output image: 64-pixel TH x TW rectangles, TW = 1 << tw_shift
// the smallest of 8, 16, 32 that covers a row up to 32, TH = 64 / TW; tiles_x across a row,
// tiles_y down, numbered row by row (the kernels' blockIdx order within an image).
struct IgemmHaloTiles {
  int tw_shift;
  int64_t tiles_x, tiles_y;
  int64_t per_image() const { return tiles_x * tiles_y; }
};
inline IgemmHaloTiles igemm_halo_tiles(int64_t oh, int64_t ow) {
  const int shift = ow <= 8 ? 3 : ow <= 16 ? 4 : 5;
  const int64_t tw = int64_t(1) << shift, th = 64 / tw;
  return {shift, (ow + tw - 1) / tw, (oh + th - 1) / th};
}
template <typename A>
void conv_igemm_forward_halo_cpu(const ConvGeometry& g, int64_t cout, const A* x, const float* w, A* y, float* workspace);
template <typename A>
void conv_igemm_grad_input_halo_cpu(const ConvGeometry& g, int64_t cout, const float* w, const A* gy, A* gx,
                                    float* workspace);
int64_t conv_igemm_halo_workspace_cpu(const ConvGeometry& g, int64_t cout);
// The halo forward with the BatchNorm moments of its output from its epilogue: the contract of
// conv_igemm_forward_stats_* above (y bit for bit the plain halo forward's). A halo tile lies
// inside one image, so any group count that divides the batch works. Workspaces: the halo
// weights (conv_igemm_halo_workspace_<device> floats) and the per-tile partial sums
// (conv_igemm_halo_stats_workspace_<device> doubles).
inline bool conv_igemm_halo_stats_supported(const ConvGeometry& g, int64_t groups) {
  return igemm_halo_supported(g) && groups >= 1 && g.batch % groups == 0;
}
inline void check_conv_igemm_halo_stats_supported(const ConvGeometry& g, int64_t groups) {
  check_igemm_halo_supported(g);
  MM_CHECK(groups >= 1 && g.batch % groups == 0, "conv igemm halo statistics: ", g.batch, " images do not split into ",
           groups, " equal groups");
}
void conv_igemm_forward_halo_stats_cpu(const ConvGeometry& g, int64_t cout, const float* x, const float* w, float* y,
                                       int64_t groups, double* moments, double* stats_workspace, float* workspace);
int64_t conv_igemm_halo_stats_workspace_cpu(const ConvGeometry& g, int64_t cout);

// The halo weight gradient (3x3 only: a 1x1 kernel has no taps to share a window, and keeps the
// gather kernel). GW^T[(c, tap), co] = sum over output pixels p of X(p, (c, tap)) GY(p, co), with
// the inner dimension walked one 64-pixel TH x TW rectangle of one image at a time (the forward's
// tiles): per rectangle a block stages its 16 input channels' (TH + 2) x (TW + 2) window and the
// rectangle's gy for its 32 or 64 output channels in shared memory, and the 9 taps read the same
// window at shifted offsets (9 m16 fragments, one per tap, over the same staged pixels). The
// rectangles are split into igemm_halo_wgrad_plan(...).count fixed ranges whose partial products go
// to a workspace (conv_igemm_halo_wgrad_workspace_<device> floats) and are added in split order:
// deterministic, a function of the shape only. A rectangle that overhangs the output (odd sizes)
// multiplies zeros for its missing pixels: gy is read as zero there and so is x (masked per pixel,
// so a non-finite x only a missing pixel would read stays out of the sums, as in the reference).
// float32 or bf16 activations (bf16 values are exact in TF32: the same TF32 products, exact).
inline bool igemm_halo_wgrad_supported(const ConvGeometry& g) { return igemm_halo_supported(g) && g.kernel_h == 3; }
inline void check_igemm_halo_wgrad_supported(const ConvGeometry& g) {
  MM_CHECK(igemm_halo_wgrad_supported(g),
           "conv igemm halo weight gradient: needs stride 1 and a 3x3 kernel with padding < 3");
}
constexpr int kIgemmHaloWgradChannels = 16;  // input channels per block (one m16 fragment per tap)
// Output channels per block: 32, or 64 above 32.
inline int64_t igemm_halo_wgrad_tile_n(int64_t cout) { return cout <= 32 ? 32 : 64; }
struct IgemmHaloWgradPlan {
  int tw_shift, tiles_x, tiles_per_image, tiles;  // rectangles: per row, per image, in all
  int count, chunk;                               // splits, and rectangles per split
};
IgemmHaloWgradPlan igemm_halo_wgrad_plan(const ConvGeometry& g, int64_t cout);
template <typename A>
void conv_igemm_grad_weight_halo_cpu(const ConvGeometry& g, int64_t cout, const A* x, const A* gy, float* gw,
                                     float* workspace);
// The same weight gradient with the block's warps owning kernel rows (3 taps each, every column of
// the block) instead of columns (all 9 taps each): fewer shared loads per product
// (MMENGINE_IGEMM=halo-rows; kernels/cuda/conv_igemm_halo_wgrad.cu). The same sums in the same
// order per output, so the same bits as the column layout.
template <typename A>
void conv_igemm_grad_weight_halo_rows_cpu(const ConvGeometry& g, int64_t cout, const A* x, const A* gy, float* gw,
                                          float* workspace);
void conv_igemm_grad_weight_halo_split_cpu(const ConvGeometry& g, int64_t cout, const float* x, const float* gy,
                                           float* gw, float* workspace);
int64_t conv_igemm_halo_wgrad_workspace_cpu(const ConvGeometry& g, int64_t cout);

// 3xTF32 ("split"): the same kernels (gather and halo) with each float operand split into two
// TF32 parts and three products per pair (tf32_split in kernels/cuda/tensor_core.cuh):
// FP32-class products (~2^-21 relative each; FP32 sums) at a third of the TF32 tensor-core rate,
// which these load-bound kernels have to spare. float32 only; the same arguments as the TF32
// launchers; the CPU twins are the reference convolution in plain FP32 (nothing rounded). An
// infinite operand (or one within 2^-11 of FLT_MAX) makes its products NaN where FP32 might give
// an infinity (tf32_split).
void conv_igemm_forward_split_cpu(const ConvGeometry& g, int64_t cout, const float* x, const float* w, float* y);
void conv_igemm_grad_input_split_cpu(const ConvGeometry& g, int64_t cout, const float* w, const float* gy, float* gx);
void conv_igemm_grad_weight_split_cpu(const ConvGeometry& g, int64_t cout, const float* x, const float* gy, float* gw,
                                      float* workspace);
void conv_igemm_forward_halo_split_cpu(const ConvGeometry& g, int64_t cout, const float* x, const float* w, float* y,
                                       float* workspace);
void conv_igemm_grad_input_halo_split_cpu(const ConvGeometry& g, int64_t cout, const float* w, const float* gy,
                                          float* gx, float* workspace);

#ifdef MMENGINE_WITH_CUDA
void conv_igemm_forward_split_cuda(const ConvGeometry& g, int64_t cout, const float* x, const float* w, float* y,
                                   cudaStream_t stream);
void conv_igemm_grad_input_split_cuda(const ConvGeometry& g, int64_t cout, const float* w, const float* gy, float* gx,
                                      cudaStream_t stream);
void conv_igemm_grad_weight_split_cuda(const ConvGeometry& g, int64_t cout, const float* x, const float* gy, float* gw,
                                       float* workspace, cudaStream_t stream);
void conv_igemm_forward_halo_split_cuda(const ConvGeometry& g, int64_t cout, const float* x, const float* w, float* y,
                                        float* workspace, cudaStream_t stream);
void conv_igemm_grad_input_halo_split_cuda(const ConvGeometry& g, int64_t cout, const float* w, const float* gy,
                                           float* gx, float* workspace, cudaStream_t stream);
template <typename A>
void conv_igemm_forward_halo_cuda(const ConvGeometry& g, int64_t cout, const A* x, const float* w, A* y, float* workspace,
                                  cudaStream_t stream);
template <typename A>
void conv_igemm_grad_input_halo_cuda(const ConvGeometry& g, int64_t cout, const float* w, const A* gy, A* gx,
                                     float* workspace, cudaStream_t stream);
int64_t conv_igemm_halo_workspace_cuda(const ConvGeometry& g, int64_t cout);
void conv_igemm_forward_halo_stats_cuda(const ConvGeometry& g, int64_t cout, const float* x, const float* w, float* y,
                                        int64_t groups, double* moments, double* stats_workspace, float* workspace,
                                        cudaStream_t stream);
int64_t conv_igemm_halo_stats_workspace_cuda(const ConvGeometry& g, int64_t cout);
template <typename A>
void conv_igemm_grad_weight_halo_cuda(const ConvGeometry& g, int64_t cout, const A* x, const A* gy, float* gw,
                                      float* workspace, cudaStream_t stream);
template <typename A>
void conv_igemm_grad_weight_halo_rows_cuda(const ConvGeometry& g, int64_t cout, const A* x, const A* gy, float* gw,
                                           float* workspace, cudaStream_t stream);
void conv_igemm_grad_weight_halo_split_cuda(const ConvGeometry& g, int64_t cout, const float* x, const float* gy,
                                            float* gw, float* workspace, cudaStream_t stream);
int64_t conv_igemm_halo_wgrad_workspace_cuda(const ConvGeometry& g, int64_t cout);
template <typename A>
void conv_igemm_forward_cuda(const ConvGeometry& g, int64_t cout, const A* x, const float* w, A* y, cudaStream_t stream);
void conv_igemm_forward_stats_cuda(const ConvGeometry& g, int64_t cout, const float* x, const float* w, float* y,
                                   int64_t groups, double* moments, double* workspace, cudaStream_t stream);
int64_t conv_igemm_stats_workspace_cuda(const ConvGeometry& g, int64_t cout);
template <typename A>
void conv_igemm_grad_input_cuda(const ConvGeometry& g, int64_t cout, const float* w, const A* gy, A* gx, cudaStream_t stream);
template <typename A>
void conv_igemm_grad_weight_cuda(const ConvGeometry& g, int64_t cout, const A* x, const A* gy, float* gw,
                                 float* workspace, cudaStream_t stream);
int64_t conv_igemm_workspace_cuda(const ConvGeometry& g, int64_t cout);
#endif

}  // namespace mmengine::kernels
