#include "mixmatch/mixup.h"

#include <algorithm>

#include "engine/ops.h"
#include "engine/rng.h"

namespace mmengine {

MixUpDraw draw_mixup(int64_t rows, double alpha, uint64_t seed, uint64_t step) {
  MM_CHECK(alpha > 0, "--alpha: must be positive, got ", alpha);
  PhiloxStream rng(seed ^ 0x6d697875ULL, step);  // "mixu"
  MixUpDraw d;
  const double l = rng.beta(alpha, alpha);
  d.lambda = std::max(l, 1.0 - l);
  d.perm = random_permutation(rows, seed ^ 0x7065726dULL, step);  // "perm"
  return d;
}

Tensor mix(const Tensor& a, const MixUpDraw& d) {
  MM_CHECK(a.size(0) == static_cast<int64_t>(d.perm.size()), "mixup: ", a.size(0), " rows but a permutation of ",
           d.perm.size());
  return add(mul(a, d.lambda), mul(index_select(a, d.perm), 1.0 - d.lambda));
}

}  // namespace mmengine
