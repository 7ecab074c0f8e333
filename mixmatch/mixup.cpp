#include "mixmatch/mixup.h"

#include <algorithm>

#include "engine/dispatch.h"
#include "engine/memory.h"
#include "engine/ops.h"
#include "engine/rng.h"
#include "kernels/step_draws.h"

namespace mmengine {

MixUpDraw draw_mixup(int64_t rows, double alpha, uint64_t seed, uint64_t step, bool per_sample) {
  MM_CHECK(alpha > 0, "--alpha: must be positive, got ", alpha);
  PhiloxStream rng(seed ^ 0x6d697875ULL, step);  // "mixu"
  MixUpDraw d;
  const double l = rng.beta(alpha, alpha);
  d.lambda = std::max(l, 1.0 - l);
  if (per_sample) {
    double total = 0;
    for (int64_t i = 0; i < rows; ++i) {
      const double li = i == 0 ? l : rng.beta(alpha, alpha);
      d.per_row.push_back(std::max(li, 1.0 - li));
      total += d.per_row.back();
    }
    d.lambda = rows > 0 ? total / rows : d.lambda;
  }
  d.perm = random_permutation(rows, seed ^ 0x7065726dULL, step);  // "perm"
  return d;
}

Tensor mix(const Tensor& a, const MixUpDraw& d) {
  MM_CHECK(a.size(0) == static_cast<int64_t>(d.perm.size()), "mixup: ", a.size(0), " rows but a permutation of ",
           d.perm.size());
  if (d.per_row.empty()) return add(mul(a, d.lambda), mul(index_select(a, d.perm), 1.0 - d.lambda));
  // Row r scaled by lambda_r: view [rows, ...] as [1, rows, rest] and scale per "channel".
  const int64_t rows = a.size(0);
  std::vector<double> rest(rows);
  for (int64_t r = 0; r < rows; ++r) rest[r] = 1.0 - d.per_row[r];
  Tensor lam = Tensor::from_vector(d.per_row, {rows}, a.dtype(), a.device());
  Tensor one_minus = Tensor::from_vector(rest, {rows}, a.dtype(), a.device());
  const Shape as_rows{1, rows, a.numel() / std::max<int64_t>(rows, 1)};
  Tensor mixed = add(mul_channel(reshape(a, as_rows), lam), mul_channel(reshape(index_select(a, d.perm), as_rows), one_minus));
  return reshape(mixed, a.shape());
}

StepDraws draw_step(const StepDrawSettings& s, int64_t rows, const std::shared_ptr<void>& step, DType dtype, Device device) {
  MM_CHECK(s.alpha > 0, "--alpha: must be positive, got ", s.alpha);
  MM_CHECK(s.rampup_steps >= 0, "linear_rampup: negative length");
  StepDraws d;
  d.rows = rows;
  d.lambda = Tensor::empty({rows}, dtype, device);
  d.rest = Tensor::empty({rows}, dtype, device);
  d.perm = allocate(device, static_cast<size_t>(rows) * sizeof(int64_t));
  d.weight = Tensor::empty({1}, dtype, device);
  d.logged = Tensor::empty({2}, DType::F64, device);
  const kernels::StepDrawSpec spec{rows, s.alpha, s.seed, s.per_sample, s.lambda_u, s.rampup_steps};
  MM_DISPATCH_FLOAT(dtype, T,
                    MM_KERNEL(device, step_draws, T)(spec, static_cast<const int64_t*>(step.get()), d.lambda.data<T>(),
                                                     d.rest.data<T>(), static_cast<int64_t*>(d.perm.get()),
                                                     d.weight.data<T>(), d.logged.data<double>()));
  return d;
}

Tensor mix(const Tensor& a, const StepDraws& d) {
  MM_CHECK(a.size(0) == d.rows, "mixup: ", a.size(0), " rows but draws for ", d.rows);
  // lambda * a + (1 - lambda) * a[perm] per row, the same products and sum as mix(a, MixUpDraw).
  const Shape as_rows{1, d.rows, a.numel() / std::max<int64_t>(d.rows, 1)};
  Tensor mixed = add(mul_channel(reshape(a, as_rows), d.lambda),
                     mul_channel(reshape(index_select(a, d.perm, d.rows), as_rows), d.rest));
  return reshape(mixed, a.shape());
}

}  // namespace mmengine
