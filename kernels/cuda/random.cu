#include "kernels/cuda/launch.cuh"
#include "kernels/random.h"
#include "kernels/random_math.h"

namespace mmengine::kernels {

namespace {
template <typename T>
__global__ void fill_uniform_kernel(T* out, int64_t n, uint64_t seed, uint64_t offset, double low, double high) {
  MM_GRID_STRIDE(i, n) out[i] = static_cast<T>(uniform_at(seed, offset + i, low, high));
}

template <typename T>
__global__ void fill_normal_kernel(T* out, int64_t n, uint64_t seed, uint64_t offset, double mean, double stddev) {
  MM_GRID_STRIDE(i, n) out[i] = static_cast<T>(normal_at(seed, offset + i, mean, stddev));
}
}  // namespace

template <typename T>
void fill_uniform_cuda(T* out, int64_t n, uint64_t seed, uint64_t offset, double low, double high, cudaStream_t stream) {
  if (n == 0) return;
  fill_uniform_kernel<<<grid_for(n), kThreads, 0, stream>>>(out, n, seed, offset, low, high);
  MM_LAUNCH_CHECK();
}

template <typename T>
void fill_normal_cuda(T* out, int64_t n, uint64_t seed, uint64_t offset, double mean, double stddev, cudaStream_t stream) {
  if (n == 0) return;
  fill_normal_kernel<<<grid_for(n), kThreads, 0, stream>>>(out, n, seed, offset, mean, stddev);
  MM_LAUNCH_CHECK();
}

template void fill_uniform_cuda<float>(float*, int64_t, uint64_t, uint64_t, double, double, cudaStream_t);
template void fill_uniform_cuda<double>(double*, int64_t, uint64_t, uint64_t, double, double, cudaStream_t);
template void fill_normal_cuda<float>(float*, int64_t, uint64_t, uint64_t, double, double, cudaStream_t);
template void fill_normal_cuda<double>(double*, int64_t, uint64_t, uint64_t, double, double, cudaStream_t);

}  // namespace mmengine::kernels
