#include "kernels/index.h"

#include <algorithm>

namespace mmengine::kernels {

template <typename T>
void gather_rows_cpu(const T* src, const int64_t* idx, T* dst, int64_t nidx, int64_t row) {
  for (int64_t r = 0; r < nidx; ++r) std::copy(src + idx[r] * row, src + (idx[r] + 1) * row, dst + r * row);
}

template <typename T>
void scatter_add_rows_cpu(const T* gdst, const int64_t* idx, T* gsrc, int64_t nidx, int64_t row, int64_t nsrc) {
  std::fill(gsrc, gsrc + nsrc * row, T(0));
  for (int64_t r = 0; r < nidx; ++r)
    for (int64_t i = 0; i < row; ++i) gsrc[idx[r] * row + i] += gdst[r * row + i];
}

template void gather_rows_cpu<float>(const float*, const int64_t*, float*, int64_t, int64_t);
template void gather_rows_cpu<double>(const double*, const int64_t*, double*, int64_t, int64_t);
template void scatter_add_rows_cpu<float>(const float*, const int64_t*, float*, int64_t, int64_t, int64_t);
template void scatter_add_rows_cpu<double>(const double*, const int64_t*, double*, int64_t, int64_t, int64_t);

}  // namespace mmengine::kernels
