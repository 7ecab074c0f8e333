#include "engine/rng.h"

#include <cmath>

#include "engine/dispatch.h"
#include "kernels/philox.h"
#include "kernels/philox_sequence.h"
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

// The draws are kernels::PhiloxSequence's (kernels/philox_sequence.h), so a device kernel that
// draws from the same (seed, stream) gets the same numbers.
namespace {
kernels::PhiloxSequence at(uint64_t seed, uint64_t stream, uint64_t offset) { return {seed, stream, offset}; }
}  // namespace

double PhiloxStream::uniform() {
  auto q = at(seed_, stream_, offset_);
  const double v = q.uniform();
  offset_ = q.offset;
  return v;
}

double PhiloxStream::normal() {
  auto q = at(seed_, stream_, offset_);
  const double v = q.normal();
  offset_ = q.offset;
  return v;
}

uint64_t PhiloxStream::below(uint64_t n) {
  MM_CHECK(n > 0, "PhiloxStream::below(0)");
  auto q = at(seed_, stream_, offset_);
  const uint64_t v = q.below(n);
  offset_ = q.offset;
  return v;
}

double PhiloxStream::gamma(double shape) {
  MM_CHECK(shape > 0, "gamma: shape must be positive, got ", shape);
  auto q = at(seed_, stream_, offset_);
  const double v = q.gamma(shape);
  offset_ = q.offset;
  return v;
}

double PhiloxStream::beta(double a, double b) {
  MM_CHECK(a > 0 && b > 0, "beta: parameters must be positive, got ", a, " and ", b);
  auto q = at(seed_, stream_, offset_);
  const double v = q.beta(a, b);
  offset_ = q.offset;
  return v;
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
