// The one definition of the step draws (kernels/step_draws.h), run by the CPU twin and by a
// single CUDA thread.
#pragma once
#include "kernels/philox_sequence.h"
#include "kernels/step_draws.h"

namespace mmengine::kernels {

// The Philox streams of draw_mixup: "mixu" for the lambdas, "perm" for the permutation.
constexpr uint64_t kMixupKey = 0x6d697875ULL, kPermKey = 0x7065726dULL;

template <typename T>
MM_HD void step_draws_one(const StepDrawSpec& s, int64_t step, T* lam, T* rest, int64_t* perm, T* weight, double* logged) {
  PhiloxSequence rng{s.seed ^ kMixupKey, static_cast<uint64_t>(step), 0};
  const double l = rng.beta(s.alpha, s.alpha);
  const double batch_lambda = l > 1.0 - l ? l : 1.0 - l;
  double total = 0;
  for (int64_t i = 0; i < s.rows; ++i) {
    double li = batch_lambda;
    if (s.per_sample && i > 0) {
      const double d = rng.beta(s.alpha, s.alpha);
      li = d > 1.0 - d ? d : 1.0 - d;
    }
    lam[i] = static_cast<T>(li);
    rest[i] = static_cast<T>(1.0 - li);
    total += li;
  }
  logged[0] = s.per_sample && s.rows > 0 ? total / s.rows : batch_lambda;
  // Fisher-Yates, as random_permutation (engine/rng.cpp).
  for (int64_t i = 0; i < s.rows; ++i) perm[i] = i;
  PhiloxSequence prng{s.seed ^ kPermKey, static_cast<uint64_t>(step), 0};
  for (int64_t i = s.rows - 1; i > 0; --i) {
    const int64_t j = static_cast<int64_t>(prng.below(static_cast<uint64_t>(i) + 1));
    const int64_t t = perm[i];
    perm[i] = perm[j];
    perm[j] = t;
  }
  // linear_rampup (mixmatch/loss.cpp): clip(step / rampup, 0, 1), 1 without a ramp.
  double ramp = 1.0;
  if (s.rampup_steps > 0) {
    ramp = static_cast<double>(step) / static_cast<double>(s.rampup_steps);
    ramp = ramp < 0.0 ? 0.0 : (ramp > 1.0 ? 1.0 : ramp);
  }
  logged[1] = s.lambda_u * ramp;
  *weight = static_cast<T>(logged[1]);
}

}  // namespace mmengine::kernels
