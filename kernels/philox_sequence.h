// Sequential draws from one Philox (seed, stream): offsets 0, 1, 2, ... in order. One
// definition for the host (engine/rng.h's PhiloxStream) and for device kernels that must draw
// the same numbers (kernels/step_draws.h), so both follow the same sequence by construction.
// Preconditions (checked by the host callers): below(n) needs n > 0, gamma(shape) shape > 0.
#pragma once
#include <cmath>

#include "kernels/common.h"
#include "kernels/philox.h"

namespace mmengine::kernels {

#if !defined(__CUDACC__)
using std::cos;
using std::log;
using std::pow;
using std::sqrt;
#endif

struct PhiloxSequence {
  uint64_t seed, stream, offset;

  MM_HD double uniform() { return philox_uniform(seed, offset++, stream); }  // [0, 1)

  MM_HD double normal() {
    const double u1 = uniform(), u2 = uniform();
    return sqrt(-2.0 * log(1.0 - u1)) * cos(6.283185307179586 * u2);
  }

  // Uniform integer in [0, n): rejection sampling on 64-bit words removes modulo bias.
  MM_HD uint64_t below(uint64_t n) {
    const uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    for (;;) {
      PhiloxOut r = philox4x32(seed, offset++, stream);
      const uint64_t x = (static_cast<uint64_t>(r.v[0]) << 32) | r.v[1];
      if (x < limit) return x % n;
    }
  }

  // Gamma(shape, 1), Marsaglia-Tsang; shape < 1 by the boost Gamma(a) = Gamma(a + 1) U^(1/a)
  // (the Gamma(a + 1) draw first, then the uniform).
  MM_HD double gamma(double shape) {
    const double a = shape < 1.0 ? shape + 1.0 : shape;
    const double d = a - 1.0 / 3.0, c = 1.0 / sqrt(9.0 * d);
    double g;
    for (;;) {
      const double x = normal();
      // mul_rn / add_rn: no fused multiply-add on the device, the host's rounding (an FMA could
      // flip the acceptance test below and give another draw).
      double v = add_rn(1.0, mul_rn(c, x));
      if (v <= 0) continue;
      v = v * v * v;
      const double u = uniform();
      const double bound = add_rn(add_rn(add_rn(mul_rn(mul_rn(0.5, x), x), d), -mul_rn(d, v)), mul_rn(d, log(v)));
      if (log(1.0 - u) < bound) {
        g = d * v;
        break;
      }
    }
    return shape < 1.0 ? g * pow(1.0 - uniform(), 1.0 / shape) : g;
  }

  MM_HD double beta(double a, double b) {
    const double x = gamma(a), y = gamma(b);
    return x / (x + y);
  }
};

}  // namespace mmengine::kernels
