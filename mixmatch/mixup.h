// MixUp over the whole batch W = concat(x, u_1..u_K) with targets concat(p, q, ..., q):
// lambda ~ Beta(alpha, alpha), lambda = max(lambda, 1 - lambda), one random permutation of all
// rows; mixed = lambda * W + (1 - lambda) * W[perm] (inputs and targets alike). The draws come
// from a Philox stream keyed by (seed, step), so a step's MixUp is the same on every device
// and after a resume.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "engine/tensor.h"

namespace mmengine {

struct MixUpDraw {
  double lambda;                // after max(lambda, 1 - lambda); the mean with per-sample draws
  std::vector<int64_t> perm;    // of all rows
  std::vector<double> per_row;  // empty: one lambda for the batch; else one per row (the original)
};

MixUpDraw draw_mixup(int64_t rows, double alpha, uint64_t seed, uint64_t step, bool per_sample = false);
Tensor mix(const Tensor& a, const MixUpDraw& d);  // lambda * a + (1 - lambda) * a[perm], row-wise lambdas too

// The same draws made on a device from a step number in that device's memory
// (kernels/step_draws.h): no host read, so a step that uses them needs no synchronization and
// can be captured as a CUDA graph. With the unlabeled-loss weight lambda_u * ramp(step)
// (mixmatch/loss.h). Bit-identical to draw_mixup + linear_rampup on the CPU and the emulated
// device; on a GPU log/pow/cos come from CUDA's libm (last-bit differences possible).
struct StepDraws {
  int64_t rows = 0;
  Tensor lambda, rest;          // [rows]: lambda_r and 1 - lambda_r (the batch's lambda repeated)
  std::shared_ptr<void> perm;   // rows int64 on the device
  Tensor weight;                // [1]: lambda_u * ramp(step), in the step's dtype
  Tensor logged;                // [2] float64: mean lambda, weight (read when logged)
};
struct StepDrawSettings {
  double alpha = 0.75, lambda_u = 75;
  uint64_t seed = 0;
  bool per_sample = false;
  int64_t rampup_steps = 0;
};
// `step`: a one-element int64 buffer on `device`. The result's tensors are new allocations.
StepDraws draw_step(const StepDrawSettings& s, int64_t rows, const std::shared_ptr<void>& step, DType dtype, Device device);
Tensor mix(const Tensor& a, const StepDraws& d);  // row-wise: lambda_r * a_r + (1 - lambda_r) * a[perm_r]

}  // namespace mmengine
