// Neural-network ops built on kernels/: convolution, batch normalization, pooling.
#pragma once
#include "engine/conv_backend.h"
#include "engine/ops.h"
#include "kernels/conv.h"

namespace mmengine {

// x [N, Cin, H, W], w [Cout, Cin, KH, KW], bias [Cout] or undefined.
Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& bias, int64_t stride, int64_t padding);
// conv2d without bias for a training-mode BatchNorm right after it, whose input rows are
// `groups` equal chunks (BatchNormTrainOptions::groups): where the conv-bn-stats fusion is on
// (engine/kernel_version.h), the backend is igemm (TF32), x is float32 and the kernels' epilogue
// covers the groups (gather tiling: kernels::conv_igemm_stats_supported; halo tiling, where it
// runs the convolution: conv_igemm_halo_stats_supported), `moments` receives the [sum; M2] of the output
// per group and channel from the convolution's epilogue (float64 [2 * groups * Cout]: pass it
// as BatchNormTrainOptions::moments); otherwise `moments` is left undefined and BatchNorm
// computes them. The output, its gradients and the backend are conv2d's.
Tensor conv2d_with_bn_moments(const Tensor& x, const Tensor& w, int64_t stride, int64_t padding, int64_t groups,
                              Tensor* moments);
// One pass of conv2d (no bias) without autograd, on the backend conv2d would pick now (for the
// bench's per-layer rows and their test): the output from x and w, the input gradient from w
// and gy (x gives only its shape), the weight gradient from x and gy (w gives only its shape).
enum class ConvPass { Forward, GradInput, GradWeight };
Tensor conv2d_pass(ConvPass pass, const Tensor& x, const Tensor& w, const Tensor& gy, int64_t stride, int64_t padding);
// The implicit-GEMM kernels a pass of a convolution with activations of type t runs on (the
// igemm backends; the one rule conv2d dispatches by): the halo kernels where the setting
// (igemm_tiling()) asks for them and they cover the pass (float32 or bf16 activations; stride-1
// 1x1 or 3x3 forward and input gradient, the stride-1 3x3 weight gradient), the gather kernels
// otherwise. HaloRows only for a covered weight gradient under halo-rows (the forward and
// input gradient: Halo); the 3xTF32 weight gradient runs the column layout either way.
IgemmTiling igemm_tiling_for(ConvPass pass, const kernels::ConvGeometry& g, DType t);

// The statistics one training-mode call computed (per channel; var is the biased variance):
// [C], or [G, C] with row groups.
struct BatchStats {
  Tensor mean, var;
  int64_t count = 0;  // values per channel and group (N * H * W of one group)
};

// What a training-mode call does beyond normalizing one batch, in the same kernels
// (kernels/batchnorm.h): row groups (x is `groups` equal chunks of rows, each normalized by
// its own statistics: the same numbers as one call per chunk), LeakyReLU fused onto the
// output (the same numbers as leaky_relu of the unfused output), and the running statistics
// [C] moved in place by the groups whose bit is set in update_mask, in group order
// (PyTorch's rule: unbiased variance; the same numbers as BatchNorm2d's elementwise update).
struct BatchNormTrainOptions {
  int64_t groups = 1;
  double leaky_slope = -1;  // >= 0: fused LeakyReLU with this slope; < 0: none
  Tensor running_mean, running_var;
  double momentum = 0;
  uint32_t update_mask = 0;
  // Defined: x's per-group [sum; M2] (float64, 2 * groups * C values on x's device, as
  // conv2d_with_bn_moments returns them), used instead of a statistics pass over x; the
  // synchronized form gathers them in place of its own.
  Tensor moments;
};

// Normalizes with the batch statistics; everything backward needs (mean, inverse std) lives
// in this call's autograd node. The statistics are returned through `stats` (may be null).
Tensor batch_norm_train(const Tensor& x, const Tensor& gamma, const Tensor& beta, double eps, BatchStats* stats,
                        const BatchNormTrainOptions& options = {});
// Normalizes with given (running) statistics; differentiable through x, gamma and beta.
Tensor batch_norm_eval(const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& mean, const Tensor& var,
                       double eps);
// The same followed by leaky_relu(slope) (slope < 0: no activation) in one kernel pass, the same
// bits; forward only: refused when a gradient would be recorded (use the two ops then).
Tensor batch_norm_eval_fused(const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& mean,
                             const Tensor& var, double eps, double slope);

Tensor global_avg_pool(const Tensor& x);  // [N, C, H, W] -> [N, C]
Tensor flatten(const Tensor& x);          // [N, ...] -> [N, rest]

}  // namespace mmengine
