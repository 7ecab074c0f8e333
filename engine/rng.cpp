#include "engine/rng.h"

#include <cmath>

#include "engine/dispatch.h"
#include "kernels/philox.h"
#include "kernels/random.h"

namespace mmengine {

Tensor rand_uniform(const Shape& shape, uint64_t seed, uint64_t offset, DType dtype, Device device, double low,
                    double high) {
  MM_CHECK(high > low, "rand_uniform: need low < high, got ", low, " and ", high);
  Tensor t = Tensor::empty(shape, dtype, device);
  MM_DISPATCH_FLOAT(dtype, T, MM_KERNEL(device, fill_uniform, T)(t.data<T>(), t.numel(), seed, offset, low, high));
  return t;
}

Tensor rand_normal(const Shape& shape, uint64_t seed, uint64_t offset, DType dtype, Device device, double mean,
                   double stddev) {
  MM_CHECK(stddev >= 0, "rand_normal: stddev must be >= 0, got ", stddev);
  Tensor t = Tensor::empty(shape, dtype, device);
  MM_DISPATCH_FLOAT(dtype, T, MM_KERNEL(device, fill_normal, T)(t.data<T>(), t.numel(), seed, offset, mean, stddev));
  return t;
}

double PhiloxStream::uniform() { return philox_uniform(seed_, offset_++, stream_); }

double PhiloxStream::normal() {
  double u1 = uniform(), u2 = uniform();
  return std::sqrt(-2.0 * std::log(1.0 - u1)) * std::cos(6.283185307179586 * u2);
}

uint64_t PhiloxStream::below(uint64_t n) {
  MM_CHECK(n > 0, "PhiloxStream::below(0)");
  // Rejection sampling on 64-bit words removes modulo bias.
  const uint64_t limit = UINT64_MAX - UINT64_MAX % n;
  for (;;) {
    PhiloxOut r = philox4x32(seed_, offset_++, stream_);
    uint64_t x = (static_cast<uint64_t>(r.v[0]) << 32) | r.v[1];
    if (x < limit) return x % n;
  }
}

double PhiloxStream::gamma(double shape) {
  MM_CHECK(shape > 0, "gamma: shape must be positive, got ", shape);
  if (shape < 1.0) {  // boost: Gamma(a) = Gamma(a + 1) * U^(1/a)
    double g = gamma(shape + 1.0);
    return g * std::pow(1.0 - uniform(), 1.0 / shape);
  }
  const double d = shape - 1.0 / 3.0, c = 1.0 / std::sqrt(9.0 * d);
  for (;;) {
    double x = normal(), v = 1.0 + c * x;
    if (v <= 0) continue;
    v = v * v * v;
    double u = uniform();
    if (std::log(1.0 - u) < 0.5 * x * x + d - d * v + d * std::log(v)) return d * v;
  }
}

double PhiloxStream::beta(double a, double b) {
  double x = gamma(a), y = gamma(b);
  return x / (x + y);
}

std::vector<int64_t> random_permutation(int64_t n, uint64_t seed, uint64_t stream) {
  MM_CHECK(n >= 0, "random_permutation: negative size ", n);
  std::vector<int64_t> p(n);
  for (int64_t i = 0; i < n; ++i) p[i] = i;
  PhiloxStream rng(seed, stream);
  for (int64_t i = n - 1; i > 0; --i) std::swap(p[i], p[rng.below(static_cast<uint64_t>(i) + 1)]);
  return p;
}

}  // namespace mmengine
