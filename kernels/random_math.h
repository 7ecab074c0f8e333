#pragma once
#include <cmath>

#include "kernels/philox.h"

namespace mmengine::kernels {

#if !defined(__CUDACC__)
using std::cos;
using std::log;
using std::sqrt;
#endif

MM_HD double uniform_at(uint64_t seed, uint64_t i, double low, double high) {
  return low + (high - low) * philox_uniform(seed, i, 0);
}

// Box-Muller: the two uniforms come from stream 1 at the same counter.
MM_HD double normal_at(uint64_t seed, uint64_t i, double mean, double stddev) {
  PhiloxOut r = philox4x32(seed, i, 1);
  double u1 = ((static_cast<uint64_t>(r.v[0]) << 21) ^ (r.v[1] >> 11)) * (1.0 / 9007199254740992.0);
  double u2 = ((static_cast<uint64_t>(r.v[2]) << 21) ^ (r.v[3] >> 11)) * (1.0 / 9007199254740992.0);
  return mean + stddev * sqrt(-2.0 * log(1.0 - u1)) * cos(6.283185307179586 * u2);
}

}  // namespace mmengine::kernels
