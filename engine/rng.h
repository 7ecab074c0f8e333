// Random numbers for the engine, all derived from Philox (kernels/philox.h): a value is a pure
// function of (seed, stream, offset), so results do not depend on the device, on threads or
// on the order in which parts of a program ask for numbers.
#pragma once
#include <cstdint>
#include <vector>

#include "engine/tensor.h"

namespace mmengine {

// Element i of the result uses counter offset + i.
Tensor rand_uniform(const Shape& shape, uint64_t seed, uint64_t offset, DType dtype = DType::F32,
                    Device device = Device::CPU, double low = 0.0, double high = 1.0);
// Standard normal by Box-Muller on two uniforms of stream 1.
Tensor rand_normal(const Shape& shape, uint64_t seed, uint64_t offset, DType dtype = DType::F32,
                   Device device = Device::CPU, double mean = 0.0, double stddev = 1.0);

// Sequential draws from one (seed, stream): for host-side sampling (permutations, Beta).
class PhiloxStream {
 public:
  PhiloxStream(uint64_t seed, uint64_t stream) : seed_(seed), stream_(stream) {}
  double uniform();            // [0, 1)
  double normal();             // standard normal
  uint64_t below(uint64_t n);  // uniform integer in [0, n), unbiased
  double gamma(double shape);  // Gamma(shape, 1), Marsaglia-Tsang
  double beta(double a, double b);

 private:
  uint64_t seed_, stream_, offset_ = 0;
};

// A uniformly random permutation of 0..n-1 (Fisher-Yates on a PhiloxStream).
std::vector<int64_t> random_permutation(int64_t n, uint64_t seed, uint64_t stream);

}  // namespace mmengine
