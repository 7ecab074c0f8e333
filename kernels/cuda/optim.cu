#include "kernels/cuda/launch.cuh"
#include "kernels/optim_math.h"

namespace mmengine::kernels {

namespace {
template <typename T>
__global__ void adam_kernel(AdamSpec s, double bc1, double sqrt_bc2, T* p, const T* g, T* m, T* v, int64_t n) {
  if (s.step_on_device) adam_bias_corrections(s, *s.step_on_device, bc1, sqrt_bc2);
  MM_GRID_STRIDE(i, n) adam_element(s, bc1, sqrt_bc2, p[i], g[i], m[i], v[i]);
}

template <typename T>
__global__ void ema_kernel(T* teacher, T* student, double decay, double scale, int64_t n) {
  MM_GRID_STRIDE(i, n) ema_element(teacher[i], student[i], decay, scale);
}
}  // namespace

template <typename T>
void adam_update_cuda(const AdamSpec& s, T* p, const T* g, T* m, T* v, int64_t n, cudaStream_t stream) {
  if (n == 0) return;
  // The bias corrections: on the host, once, as the CPU twin does; or per thread from the
  // step in device memory (s.step_on_device).
  double bc1 = 0, sqrt_bc2 = 0;
  if (!s.step_on_device) adam_bias_corrections(s, s.step, bc1, sqrt_bc2);
  adam_kernel<<<grid_for(n), kThreads, 0, stream>>>(s, bc1, sqrt_bc2, p, g, m, v, n);
  MM_LAUNCH_CHECK();
}

template <typename T>
void ema_update_cuda(T* teacher, T* student, double decay, double scale, int64_t n, cudaStream_t stream) {
  if (n == 0) return;
  ema_kernel<<<grid_for(n), kThreads, 0, stream>>>(teacher, student, decay, scale, n);
  MM_LAUNCH_CHECK();
}

template void adam_update_cuda<float>(const AdamSpec&, float*, const float*, float*, float*, int64_t, cudaStream_t);
template void adam_update_cuda<double>(const AdamSpec&, double*, const double*, double*, double*, int64_t, cudaStream_t);
template void ema_update_cuda<float>(float*, float*, double, double, int64_t, cudaStream_t);
template void ema_update_cuda<double>(double*, double*, double, double, int64_t, cudaStream_t);

}  // namespace mmengine::kernels
