// The per-row formula of kernels/score.h, shared by the CPU and CUDA twins.
#pragma once
#include <cstdint>

#include "kernels/common.h"

namespace mmengine::kernels {

template <typename T>
MM_HD void score_row(const T* row, int32_t label, int64_t C, double* out) {
  int64_t best = 0;
  for (int64_t c = 1; c < C; ++c)
    if (row[c] > row[best]) best = c;  // the first of equal maxima, as std::max_element
  out[0] = -static_cast<double>(row[label]);
  out[1] = best == label ? 1.0 : 0.0;
}

}  // namespace mmengine::kernels
