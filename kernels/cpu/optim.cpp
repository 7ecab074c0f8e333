#include "kernels/optim_math.h"

namespace mmengine::kernels {

template <typename T>
void adam_update_cpu(const AdamSpec& s, T* p, const T* g, T* m, T* v, int64_t n) {
  double bc1, sqrt_bc2;
  adam_bias_corrections(s, s.step_on_device ? *s.step_on_device : s.step, bc1, sqrt_bc2);
  for (int64_t i = 0; i < n; ++i) adam_element(s, bc1, sqrt_bc2, p[i], g[i], m[i], v[i]);
}

template <typename T>
void ema_update_cpu(T* teacher, T* student, double decay, double scale, int64_t n) {
  for (int64_t i = 0; i < n; ++i) ema_element(teacher[i], student[i], decay, scale);
}

template void adam_update_cpu<float>(const AdamSpec&, float*, const float*, float*, float*, int64_t);
template void adam_update_cpu<double>(const AdamSpec&, double*, const double*, double*, double*, int64_t);
template void ema_update_cpu<float>(float*, float*, double, double, int64_t);
template void ema_update_cpu<double>(double*, double*, double, double, int64_t);

}  // namespace mmengine::kernels
