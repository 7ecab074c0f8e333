// Per-element formulas of kernels/batchnorm.h shared by the CPU and CUDA twins: the apply
// (optionally fused with LeakyReLU), the LeakyReLU gradient recovered from the fused output,
// the input gradient, and the running-statistics update. Each reproduces, bit for bit, what
// the unfused ops compute (a BatchNorm output, then elementwise.h's leaky_relu; the running
// update as the elementwise mul/add of BatchNorm2d's former host code).
#pragma once
#include <cmath>

#include "kernels/batchnorm.h"
#include "kernels/common.h"
#include "kernels/elementwise_math.h"

namespace mmengine::kernels {


// The normalized value, then (fused) LeakyReLU as elementwise_math.h's unary_value computes it.
template <typename T>
MM_HD T bn_apply_value(T x, double scale, double shift, bool leaky, T slope) {
  const T z = static_cast<T>(x * scale + shift);
  if (!leaky) return z;
  return z > T(0) ? z : slope * z;
}

// Eval mode: the per-channel scale gs = gamma (var + eps)^-1/2 and shift sh = beta - mean gs,
// and the output act(x gs + sh), each operation rounded as the composed ops round it
// (engine/ops_batchnorm.cpp's batch_norm_eval: add_scalar, pow, mul, sub, mul_channel,
// add_channel; then leaky_relu), so the fused kernel equals them bit for bit on one device.
template <typename T>
MM_HD void bn_eval_coefficients(T gamma, T beta, T mean, T var, double eps, T& gs, T& sh) {
  const T s = unary_value(Unary::Pow, T(-0.5), unary_value(Unary::AddScalar, static_cast<T>(eps), var));
  gs = mul_rn(gamma, s);
  sh = add_rn(beta, -mul_rn(mean, gs));
}
template <typename T>
MM_HD T bn_eval_value(T x, T gs, T sh, bool leaky, T slope) {
  const T z = add_rn(mul_rn(x, gs), sh);
  return leaky ? unary_value(Unary::LeakyRelu, slope, z) : z;
}

// The gradient reaching the BatchNorm output: gy itself, or through the fused LeakyReLU whose
// output y has the sign of its input (slope >= 0), as elementwise_math.h's unary_derivative.
// (Activations stored as A: computed in T.)
template <typename T, typename A>
MM_HD T bn_output_grad(A gy, const A* y_act, int64_t k, T slope) {
  const T g = static_cast<T>(gy);
  if (!y_act) return g;
  return g * (static_cast<T>(y_act[k]) > T(0) ? T(1) : slope);
}

// The input gradient of one value; k1 = gamma * invstd / count.
template <typename T>
MM_HD T bn_input_grad(T x, T g, double mu, double is, double k1, double count, double sum_g, double sum_g_xhat) {
  const double xhat = (x - mu) * is;
  return static_cast<T>(k1 * (count * g - sum_g - xhat * sum_g_xhat));
}

// running = (1 - m) running + m stat (stat: the mean, or the variance with factor m * unbias),
// in T: mul(running, 1 - m) + mul(stat, factor) with the scalars rounded to T.
template <typename T>
MM_HD T bn_running_value(T running, T stat, double keep, double factor) {
  return add_rn(mul_rn(running, static_cast<T>(keep)), mul_rn(stat, static_cast<T>(factor)));
}

// One group's statistics move the running statistics of channel c.
template <typename T>
MM_HD void bn_running_update(const BnTrainExtras<T>& e, int64_t c, T mean, T var, double count) {
  const double unbias = count / (count - 1);
  e.running_mean[c] = bn_running_value(e.running_mean[c], mean, 1.0 - e.momentum, e.momentum);
  e.running_var[c] = bn_running_value(e.running_var[c], var, 1.0 - e.momentum, e.momentum * unbias);
}

// Synchronized BatchNorm (kernels/batchnorm.h, phase 3): statistics row gc of GC rows
// ((group, channel) pairs) from the R ranks' moments gathered as [R, 2, GC] (sum; sum of
// squares centered on the rank's own mean), each rank holding `count` values, combined in
// rank order: the mean and the biased variance of all R * count values. With R = 1 exactly
// the single-process numbers (sum / count, centered sum / count).
MM_HD void bn_combine_moments(const double* gathered, int64_t R, int64_t GC, int64_t gc, double count, double& mu,
                              double& var) {
  const double total = static_cast<double>(R) * count;
  double s = gathered[gc];
  for (int64_t r = 1; r < R; ++r) s += gathered[r * 2 * GC + gc];
  mu = s / total;
  double m2 = 0;
  for (int64_t r = 0; r < R; ++r) {
    const double d = gathered[r * 2 * GC + gc] / count - mu;
    const double term = gathered[(r * 2 + 1) * GC + gc] + count * d * d;
    m2 = r == 0 ? term : m2 + term;
  }
  var = m2 / total;
}

// The centered sum of squares (M2) of `count` values from their plain sum and sum of squares,
// for producers that have only those (the igemm forward's epilogue, kernels/conv_igemm.h):
// sum of squares - sum^2 / count in double, never below zero (rounding when every value is
// nearly equal); a NaN stays NaN.
MM_HD double bn_m2_from_sums(double sum, double squares, double count) {
  const double m2 = squares - sum * (sum / count);
  return m2 < 0 ? 0.0 : m2;
}

}  // namespace mmengine::kernels
