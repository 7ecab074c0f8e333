#include "kernels/cuda/launch.cuh"
#include "kernels/step_draws.h"
#include "kernels/step_draws_math.h"

namespace mmengine::kernels {

namespace {
template <typename T>
__global__ void step_draws_kernel(StepDrawSpec s, const int64_t* step, T* lam, T* rest, int64_t* perm, T* weight,
                                  double* logged) {
  if (blockIdx.x == 0 && threadIdx.x == 0) step_draws_one(s, *step, lam, rest, perm, weight, logged);
}

template <typename T>
__global__ void one_hot_kernel(const int32_t* labels, int64_t n, int64_t classes, T* out) {
  MM_GRID_STRIDE(i, n * classes) out[i] = labels[i / classes] == i % classes ? T(1) : T(0);
}
}  // namespace

template <typename T>
void step_draws_cuda(const StepDrawSpec& s, const int64_t* step, T* lam, T* rest, int64_t* perm, T* weight, double* logged,
                     cudaStream_t stream) {
  step_draws_kernel<<<1, 1, 0, stream>>>(s, step, lam, rest, perm, weight, logged);
  MM_LAUNCH_CHECK();
}

template <typename T>
void one_hot_cuda(const int32_t* labels, int64_t n, int64_t classes, T* out, cudaStream_t stream) {
  if (n * classes == 0) return;
  one_hot_kernel<<<grid_for(n * classes), kThreads, 0, stream>>>(labels, n, classes, out);
  MM_LAUNCH_CHECK();
}

template void step_draws_cuda<float>(const StepDrawSpec&, const int64_t*, float*, float*, int64_t*, float*, double*,
                                     cudaStream_t);
template void step_draws_cuda<double>(const StepDrawSpec&, const int64_t*, double*, double*, int64_t*, double*, double*,
                                      cudaStream_t);
template void one_hot_cuda<float>(const int32_t*, int64_t, int64_t, float*, cudaStream_t);
template void one_hot_cuda<double>(const int32_t*, int64_t, int64_t, double*, cudaStream_t);

}  // namespace mmengine::kernels
