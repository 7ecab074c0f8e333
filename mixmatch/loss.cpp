#include "mixmatch/loss.h"

#include <algorithm>

#include "engine/ops.h"

namespace mmengine {

double linear_rampup(int64_t step, int64_t rampup_steps) {
  MM_CHECK(step >= 0 && rampup_steps >= 0, "linear_rampup: negative step or length");
  if (rampup_steps == 0) return 1.0;
  return std::clamp(static_cast<double>(step) / static_cast<double>(rampup_steps), 0.0, 1.0);
}

Tensor soft_cross_entropy(const Tensor& logits, const Tensor& targets) {
  return neg(mean(sum(mul(log_softmax(logits), targets), 1)));
}

Tensor probability_mse(const Tensor& logits, const Tensor& targets) {
  Tensor d = sub(softmax(logits), targets);
  return mean(mul(d, d));
}

MixMatchLoss mixmatch_loss(const Tensor& logits_x, const Tensor& targets_x, const Tensor& logits_u,
                           const Tensor& targets_u, double lambda_u, double ramp) {
  MixMatchLoss l;
  l.lx = soft_cross_entropy(logits_x, targets_x);
  l.lu = probability_mse(logits_u, targets_u);
  l.weight = lambda_u * ramp;
  l.total = add(l.lx, mul(l.lu, l.weight));
  return l;
}

}  // namespace mmengine
