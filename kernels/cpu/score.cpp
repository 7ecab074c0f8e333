#include "kernels/score.h"

#include "kernels/score_math.h"

namespace mmengine::kernels {

template <typename T>
void score_rows_cpu(const T* logp, const int32_t* labels, int64_t n, int64_t C, double* out) {
  for (int64_t r = 0; r < n; ++r) score_row(logp + r * C, labels[r], C, out + 2 * r);
}

template void score_rows_cpu<float>(const float*, const int32_t*, int64_t, int64_t, double*);
template void score_rows_cpu<double>(const double*, const int32_t*, int64_t, int64_t, double*);

}  // namespace mmengine::kernels
