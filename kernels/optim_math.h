#pragma once
#include <cmath>

#include "kernels/common.h"
#include "kernels/optim.h"

namespace mmengine::kernels {

#if !defined(__CUDACC__)
using std::pow;
using std::sqrt;
#endif

// 1 - b1^t and sqrt(1 - b2^t), the same expression on both devices.
MM_HD void adam_bias_corrections(const AdamSpec& s, int64_t t, double& bc1, double& sqrt_bc2) {
  bc1 = 1 - pow(s.beta1, static_cast<double>(t));
  sqrt_bc2 = sqrt(1 - pow(s.beta2, static_cast<double>(t)));
}

// Per element, in double, as torch does in float32 up to rounding.
template <typename T>
MM_HD void adam_element(const AdamSpec& s, double bc1, double sqrt_bc2, T& p, T g, T& m, T& v) {
  const double mn = s.beta1 * m + (1 - s.beta1) * g;
  const double vn = s.beta2 * v + (1 - s.beta2) * static_cast<double>(g) * g;
  m = static_cast<T>(mn);
  v = static_cast<T>(vn);
  p = static_cast<T>(p - (s.lr / bc1) * static_cast<double>(m) / (sqrt(static_cast<double>(v)) / sqrt_bc2 + s.eps));
}

template <typename T>
MM_HD void ema_element(T& teacher, T& student, double decay, double scale) {
  teacher = static_cast<T>(decay * teacher + (1 - decay) * student);
  student = static_cast<T>(student * scale);
}

// The state the teacher does not average: the student decays, the teacher copies it.
template <typename T>
MM_HD void ema_copy_element(T& teacher, T& student, double scale) {
  student = static_cast<T>(student * scale);
  teacher = student;
}

template <typename T>
MM_HD void ema_chunk_element(const EmaChunk<T>& c, int64_t i) {
  if (c.copy) ema_copy_element(c.teacher[i], c.student[i], c.scale);
  else ema_element(c.teacher[i], c.student[i], c.decay, c.scale);
}

// The chunk that owns tile `tile` (chunks sorted by first_tile; the last whose first_tile <= tile).
template <typename Chunk>
MM_HD int64_t chunk_of_tile(const Chunk* chunks, int64_t count, int64_t tile) {
  int64_t lo = 0, hi = count - 1;
  while (lo < hi) {
    const int64_t mid = (lo + hi + 1) / 2;
    if (chunks[mid].first_tile <= tile) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

}  // namespace mmengine::kernels
