// MixUp over the whole batch W = concat(x, u_1..u_K) with targets concat(p, q, ..., q):
// lambda ~ Beta(alpha, alpha), lambda = max(lambda, 1 - lambda), one random permutation of all
// rows; mixed = lambda * W + (1 - lambda) * W[perm] (inputs and targets alike). The draws come
// from a Philox stream keyed by (seed, step), so a step's MixUp is the same on every device
// and after a resume.
#pragma once
#include <cstdint>
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

}  // namespace mmengine
