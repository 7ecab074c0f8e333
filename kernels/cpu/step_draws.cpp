#include "kernels/step_draws.h"

#include "kernels/step_draws_math.h"

namespace mmengine::kernels {

template <typename T>
void step_draws_cpu(const StepDrawSpec& s, const int64_t* step, T* lam, T* rest, int64_t* perm, T* weight, double* logged) {
  step_draws_one(s, *step, lam, rest, perm, weight, logged);
}

template <typename T>
void one_hot_cpu(const int32_t* labels, int64_t n, int64_t classes, T* out) {
  for (int64_t i = 0; i < n * classes; ++i) out[i] = T(0);
  for (int64_t i = 0; i < n; ++i) out[i * classes + labels[i]] = T(1);
}

template void step_draws_cpu<float>(const StepDrawSpec&, const int64_t*, float*, float*, int64_t*, float*, double*);
template void step_draws_cpu<double>(const StepDrawSpec&, const int64_t*, double*, double*, int64_t*, double*, double*);
template void one_hot_cpu<float>(const int32_t*, int64_t, int64_t, float*);
template void one_hot_cpu<double>(const int32_t*, int64_t, int64_t, double*);

}  // namespace mmengine::kernels
