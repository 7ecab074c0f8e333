#include "kernels/batchnorm.h"
#include "kernels/cuda/launch.cuh"

namespace mmengine::kernels {

namespace {
// v0: one block per channel; the N*HW values of channel c are visited as k -> (n, i).
__device__ inline int64_t channel_index(int64_t k, int64_t c, int64_t C, int64_t HW) {
  return ((k / HW) * C + c) * HW + k % HW;
}

template <typename T>
__global__ void bn_forward_v0_kernel(const T* x, const T* gamma, const T* beta, T* y, T* mean, T* var, T* invstd, int64_t N,
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
__global__ void bn_backward_v0_kernel(const T* x, const T* gy, const T* gamma, const T* mean, const T* invstd, T* gx,
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

// Current version: a 2-D grid of (channel, split) blocks (PyTorch's Normalization.cuh fills
// the GPU the same way). Split s of channel c owns the images n = s, s + S, s + 2S, ...; each
// image's HW values of the channel are contiguous, so loads are coalesced and need no division.
// Partial sums go to the workspace and every block that needs a channel's total adds the S
// partials in split order: deterministic, and the same in every block.
constexpr int64_t kTargetBlocks = 512;  // ~4 blocks per SM on a 132-SM H100, whatever the C

inline int64_t splits_for(int64_t N, int64_t C) {
  return std::max<int64_t>(1, std::min<int64_t>(N, (kTargetBlocks + C - 1) / std::max<int64_t>(C, 1)));
}

// Sum over this block's values of channel c of f(value index); valid in thread 0.
template <typename F>
__device__ inline double split_sum(int64_t c, int64_t s, int64_t S, int64_t N, int64_t C, int64_t HW, F f) {
  double acc = 0;
  for (int64_t n = s; n < N; n += S) {
    const int64_t base = (n * C + c) * HW;
    for (int64_t i = threadIdx.x; i < HW; i += blockDim.x) acc += f(base + i);
  }
  return block_sum(acc);
}

// The S partials of channel c, added in split order by thread 0 and shared with the block.
__device__ inline double channel_total(const double* partial, int64_t c, int64_t S) {
  __shared__ double total;
  if (threadIdx.x == 0) {
    double t = 0;
    for (int64_t j = 0; j < S; ++j) t += partial[c * S + j];
    total = t;
  }
  __syncthreads();
  const double v = total;
  __syncthreads();  // `total` may be reused by the next call
  return v;
}

template <typename T>
__global__ void bn_sum_kernel(const T* x, double* part_sum, int64_t N, int64_t C, int64_t HW) {
  const int64_t c = blockIdx.x, s = blockIdx.y, S = gridDim.y;
  const double v = split_sum(c, s, S, N, C, HW, [&](int64_t idx) { return static_cast<double>(x[idx]); });
  if (threadIdx.x == 0) part_sum[c * S + s] = v;
}

template <typename T>
__global__ void bn_centered_kernel(const T* x, const double* part_sum, double* part_ss, int64_t N, int64_t C,
                                   int64_t HW) {
  const int64_t c = blockIdx.x, s = blockIdx.y, S = gridDim.y;
  const double mu = channel_total(part_sum, c, S) / static_cast<double>(N * HW);
  const double v = split_sum(c, s, S, N, C, HW, [&](int64_t idx) {
    const double d = x[idx] - mu;
    return d * d;
  });
  if (threadIdx.x == 0) part_ss[c * S + s] = v;
}

template <typename T>
__global__ void bn_apply_kernel(const T* x, const T* gamma, const T* beta, const double* part_sum,
                                const double* part_ss, T* y, T* mean, T* var, T* invstd, int64_t N, int64_t C,
                                int64_t HW, double eps) {
  const int64_t c = blockIdx.x, s = blockIdx.y, S = gridDim.y;
  const double count = static_cast<double>(N * HW);
  const double mu = channel_total(part_sum, c, S) / count, v = channel_total(part_ss, c, S) / count;
  const double is = 1.0 / sqrt(v + eps);
  if (s == 0 && threadIdx.x == 0) {
    mean[c] = static_cast<T>(mu);
    var[c] = static_cast<T>(v);
    invstd[c] = static_cast<T>(is);
  }
  const double scale = gamma[c] * is, shift = beta[c] - mu * scale;
  for (int64_t n = s; n < N; n += S) {
    const int64_t base = (n * C + c) * HW;
    for (int64_t i = threadIdx.x; i < HW; i += blockDim.x) y[base + i] = static_cast<T>(x[base + i] * scale + shift);
  }
}

template <typename T>
__global__ void bn_grad_sums_kernel(const T* x, const T* gy, const T* mean, const T* invstd, double* part, int64_t N,
                                    int64_t C, int64_t HW) {
  const int64_t c = blockIdx.x, s = blockIdx.y, S = gridDim.y;
  const double mu = mean[c], is = invstd[c];
  const double s1 = split_sum(c, s, S, N, C, HW, [&](int64_t idx) { return static_cast<double>(gy[idx]); });
  const double s2 = split_sum(c, s, S, N, C, HW, [&](int64_t idx) { return gy[idx] * ((x[idx] - mu) * is); });
  if (threadIdx.x == 0) {
    part[c * S + s] = s1;
    part[C * S + c * S + s] = s2;
  }
}

template <typename T>
__global__ void bn_grad_input_kernel(const T* x, const T* gy, const T* gamma, const T* mean, const T* invstd,
                                     const double* part, T* gx, T* ggamma, T* gbeta, int64_t N, int64_t C, int64_t HW) {
  const int64_t c = blockIdx.x, s = blockIdx.y, S = gridDim.y;
  const double sum_gy = channel_total(part, c, S), sum_gy_xhat = channel_total(part + C * S, c, S);
  if (s == 0 && threadIdx.x == 0) {
    if (gbeta) gbeta[c] = static_cast<T>(sum_gy);
    if (ggamma) ggamma[c] = static_cast<T>(sum_gy_xhat);
  }
  const double count = static_cast<double>(N * HW), mu = mean[c], is = invstd[c], k1 = gamma[c] * is / count;
  for (int64_t n = s; n < N; n += S) {
    const int64_t base = (n * C + c) * HW;
    for (int64_t i = threadIdx.x; i < HW; i += blockDim.x) {
      const double xhat = (x[base + i] - mu) * is;
      gx[base + i] = static_cast<T>(k1 * (count * gy[base + i] - sum_gy - xhat * sum_gy_xhat));
    }
  }
}
}  // namespace

int64_t batchnorm_workspace_cuda(int64_t N, int64_t C, int64_t) { return 2 * C * splits_for(N, C); }

template <typename T>
void batchnorm_forward_train_cuda(const T* x, const T* gamma, const T* beta, T* y, T* mean, T* var, T* invstd, int64_t N,
                                  int64_t C, int64_t HW, double eps, double* workspace, cudaStream_t stream) {
  if (C == 0) return;
  const int64_t S = splits_for(N, C);
  const dim3 grid(static_cast<unsigned>(C), static_cast<unsigned>(S));
  double *part_sum = workspace, *part_ss = workspace + C * S;
  bn_sum_kernel<<<grid, kThreads, 0, stream>>>(x, part_sum, N, C, HW);
  MM_LAUNCH_CHECK();
  bn_centered_kernel<<<grid, kThreads, 0, stream>>>(x, part_sum, part_ss, N, C, HW);
  MM_LAUNCH_CHECK();
  bn_apply_kernel<<<grid, kThreads, 0, stream>>>(x, gamma, beta, part_sum, part_ss, y, mean, var, invstd, N, C, HW, eps);
  MM_LAUNCH_CHECK();
}

template <typename T>
void batchnorm_backward_cuda(const T* x, const T* gy, const T* gamma, const T* mean, const T* invstd, T* gx, T* ggamma,
                             T* gbeta, int64_t N, int64_t C, int64_t HW, double* workspace, cudaStream_t stream) {
  if (C == 0) return;
  const int64_t S = splits_for(N, C);
  const dim3 grid(static_cast<unsigned>(C), static_cast<unsigned>(S));
  bn_grad_sums_kernel<<<grid, kThreads, 0, stream>>>(x, gy, mean, invstd, workspace, N, C, HW);
  MM_LAUNCH_CHECK();
  bn_grad_input_kernel<<<grid, kThreads, 0, stream>>>(x, gy, gamma, mean, invstd, workspace, gx, ggamma, gbeta, N, C, HW);
  MM_LAUNCH_CHECK();
}

template <typename T>
void batchnorm_forward_train_v0_cuda(const T* x, const T* gamma, const T* beta, T* y, T* mean, T* var, T* invstd,
                                     int64_t N, int64_t C, int64_t HW, double eps, cudaStream_t stream) {
  if (C == 0) return;
  bn_forward_v0_kernel<<<static_cast<unsigned>(C), kThreads, 0, stream>>>(x, gamma, beta, y, mean, var, invstd, N, C, HW, eps);
  MM_LAUNCH_CHECK();
}

template <typename T>
void batchnorm_backward_v0_cuda(const T* x, const T* gy, const T* gamma, const T* mean, const T* invstd, T* gx,
                                T* ggamma, T* gbeta, int64_t N, int64_t C, int64_t HW, cudaStream_t stream) {
  if (C == 0) return;
  bn_backward_v0_kernel<<<static_cast<unsigned>(C), kThreads, 0, stream>>>(x, gy, gamma, mean, invstd, gx, ggamma, gbeta, N, C, HW);
  MM_LAUNCH_CHECK();
}

#define MM_INSTANTIATE(T)                                                                                           \
  template void batchnorm_forward_train_cuda<T>(const T*, const T*, const T*, T*, T*, T*, T*, int64_t, int64_t, int64_t,  \
                                                double, double*, cudaStream_t);                                                   \
  template void batchnorm_backward_cuda<T>(const T*, const T*, const T*, const T*, const T*, T*, T*, T*, int64_t, int64_t, \
                                           int64_t, double*, cudaStream_t);                                                      \
  template void batchnorm_forward_train_v0_cuda<T>(const T*, const T*, const T*, T*, T*, T*, T*, int64_t, int64_t,         \
                                                   int64_t, double, cudaStream_t);                                                \
  template void batchnorm_backward_v0_cuda<T>(const T*, const T*, const T*, const T*, const T*, T*, T*, T*, int64_t,       \
                                              int64_t, int64_t, cudaStream_t);
MM_INSTANTIATE(float)
MM_INSTANTIATE(double)

}  // namespace mmengine::kernels
