#include "kernels/cuda/launch.cuh"
#include "kernels/optim_math.h"

namespace mmengine::kernels {

namespace {
template <typename T>
__global__ void adam_kernel(AdamSpec s, double bc1, double sqrt_bc2, T* p, const T* g, T* m, T* v, int64_t n) {
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
  // The bias corrections are computed on the host, once, exactly as the CPU twin does.
  const double bc1 = 1 - std::pow(s.beta1, static_cast<double>(s.step));
  const double sqrt_bc2 = std::sqrt(1 - std::pow(s.beta2, static_cast<double>(s.step)));
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
