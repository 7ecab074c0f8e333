#include "kernels/batchnorm.h"
#include "kernels/cuda/launch.cuh"

namespace mmengine::kernels {

namespace {
// One block per channel; the N*HW values of channel c are visited as k -> (n, i).
__device__ inline int64_t channel_index(int64_t k, int64_t c, int64_t C, int64_t HW) {
  return ((k / HW) * C + c) * HW + k % HW;
}

template <typename T>
__global__ void bn_forward_kernel(const T* x, const T* gamma, const T* beta, T* y, T* mean, T* var, T* invstd, int64_t N,
                                  int64_t C, int64_t HW, double eps) {
  const int64_t c = blockIdx.x, count = N * HW;
  __shared__ double mu_shared;
  double s = 0;
  for (int64_t k = threadIdx.x; k < count; k += blockDim.x) s += x[channel_index(k, c, C, HW)];
  s = block_sum(s);
  if (threadIdx.x == 0) mu_shared = s / count;
  __syncthreads();
  const double mu = mu_shared;
  double ss = 0;
  for (int64_t k = threadIdx.x; k < count; k += blockDim.x) {
    const double d = x[channel_index(k, c, C, HW)] - mu;
    ss += d * d;
  }
  ss = block_sum(ss);
  __shared__ double is_shared;
  if (threadIdx.x == 0) {
    const double v = ss / count;
    is_shared = 1.0 / sqrt(v + eps);
    mean[c] = static_cast<T>(mu);
    var[c] = static_cast<T>(v);
    invstd[c] = static_cast<T>(is_shared);
  }
  __syncthreads();
  const double scale = gamma[c] * is_shared, shift = beta[c] - mu * scale;
  for (int64_t k = threadIdx.x; k < count; k += blockDim.x) {
    const int64_t idx = channel_index(k, c, C, HW);
    y[idx] = static_cast<T>(x[idx] * scale + shift);
  }
}

template <typename T>
__global__ void bn_backward_kernel(const T* x, const T* gy, const T* gamma, const T* mean, const T* invstd, T* gx,
                                   T* ggamma, T* gbeta, int64_t N, int64_t C, int64_t HW) {
  const int64_t c = blockIdx.x, count = N * HW;
  const double mu = mean[c], is = invstd[c];
  double s1 = 0, s2 = 0;
  for (int64_t k = threadIdx.x; k < count; k += blockDim.x) {
    const int64_t idx = channel_index(k, c, C, HW);
    s1 += gy[idx];
    s2 += gy[idx] * (x[idx] - mu) * is;
  }
  __shared__ double sums[2];
  s1 = block_sum(s1);
  s2 = block_sum(s2);
  if (threadIdx.x == 0) {
    sums[0] = s1;
    sums[1] = s2;
    if (gbeta) gbeta[c] = static_cast<T>(s1);
    if (ggamma) ggamma[c] = static_cast<T>(s2);
  }
  __syncthreads();
  const double sum_gy = sums[0], sum_gy_xhat = sums[1], k1 = gamma[c] * is / count;
  for (int64_t k = threadIdx.x; k < count; k += blockDim.x) {
    const int64_t idx = channel_index(k, c, C, HW);
    const double xhat = (x[idx] - mu) * is;
    gx[idx] = static_cast<T>(k1 * (count * gy[idx] - sum_gy - xhat * sum_gy_xhat));
  }
}
}  // namespace

template <typename T>
void batchnorm_forward_train_cuda(const T* x, const T* gamma, const T* beta, T* y, T* mean, T* var, T* invstd, int64_t N,
                                  int64_t C, int64_t HW, double eps) {
  if (C == 0) return;
  bn_forward_kernel<<<static_cast<unsigned>(C), kThreads>>>(x, gamma, beta, y, mean, var, invstd, N, C, HW, eps);
  MM_LAUNCH_CHECK();
}

template <typename T>
void batchnorm_backward_cuda(const T* x, const T* gy, const T* gamma, const T* mean, const T* invstd, T* gx, T* ggamma,
                             T* gbeta, int64_t N, int64_t C, int64_t HW) {
  if (C == 0) return;
  bn_backward_kernel<<<static_cast<unsigned>(C), kThreads>>>(x, gy, gamma, mean, invstd, gx, ggamma, gbeta, N, C, HW);
  MM_LAUNCH_CHECK();
}

#define MM_INSTANTIATE(T)                                                                                          \
  template void batchnorm_forward_train_cuda<T>(const T*, const T*, const T*, T*, T*, T*, T*, int64_t, int64_t, int64_t, \
                                                double);                                                           \
  template void batchnorm_backward_cuda<T>(const T*, const T*, const T*, const T*, const T*, T*, T*, T*, int64_t, int64_t, \
                                           int64_t);
MM_INSTANTIATE(float)
MM_INSTANTIATE(double)

}  // namespace mmengine::kernels
