// The semi-supervised loss: L_x = mean over labeled rows of the cross-entropy with soft
// targets, L_u = mean over all elements of (softmax(logits_u) - targets_u)^2, and the weight
// lambda_u * ramp(t) with a linear ramp from 0 to 1 over `rampup_steps` (the whole run in the
// PyTorch port, 16,384 steps in the original).
#pragma once
#include <cstdint>

#include "engine/tensor.h"

namespace mmengine {

struct MixMatchLoss {
  Tensor total, lx, lu;
  double weight;  // lambda_u * ramp
};

double linear_rampup(int64_t step, int64_t rampup_steps);  // clip(step / rampup, 0, 1); 1 when rampup is 0
Tensor soft_cross_entropy(const Tensor& logits, const Tensor& targets);
Tensor probability_mse(const Tensor& logits, const Tensor& targets);
MixMatchLoss mixmatch_loss(const Tensor& logits_x, const Tensor& targets_x, const Tensor& logits_u,
                           const Tensor& targets_u, double lambda_u, double ramp);

}  // namespace mmengine
