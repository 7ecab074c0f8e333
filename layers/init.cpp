#include "layers/init.h"

#include <cmath>

#include "engine/rng.h"

namespace mmengine {

namespace {
void fill_normal(Tensor& w, double stddev, uint64_t seed, uint64_t stream) {
  // Each weight tensor gets its own counter range: stream << 32 keeps them disjoint.
  w.copy_from(rand_normal(w.shape(), seed, stream << 32, w.dtype(), w.device(), 0.0, stddev));
}
}  // namespace

void init_kaiming_normal_fan_out(Tensor& w, uint64_t seed, uint64_t stream) {
  MM_CHECK(w.dim() >= 2, "kaiming init needs a weight with at least 2 dims, got ", describe(w));
  const double fan_out = static_cast<double>(w.numel() / w.size(1));
  fill_normal(w, std::sqrt(2.0 / fan_out), seed, stream);
}

void init_xavier_normal(Tensor& w, uint64_t seed, uint64_t stream) {
  MM_CHECK(w.dim() == 2, "xavier init needs a 2-D weight, got ", describe(w));
  fill_normal(w, std::sqrt(2.0 / static_cast<double>(w.size(0) + w.size(1))), seed, stream);
}

}  // namespace mmengine
