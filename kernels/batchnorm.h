// BatchNorm2d over [N, C, HW]: per-channel statistics of the N*HW values of a channel.
// Training forward normalizes with the batch mean and the biased variance, computed in two
// passes in double (never E[x^2] - E[x]^2), and returns mean, biased variance and inverse std
// for the caller's autograd node. Backward is one reduction (sum gy, sum gy*xhat) and one
// elementwise pass.
#pragma once
#include <cstdint>

namespace mmengine::kernels {

template <typename T>
void batchnorm_forward_train_cpu(const T* x, const T* gamma, const T* beta, T* y, T* mean, T* var, T* invstd, int64_t N,
                                 int64_t C, int64_t HW, double eps);
// ggamma and gbeta may be null.
template <typename T>
void batchnorm_backward_cpu(const T* x, const T* gy, const T* gamma, const T* mean, const T* invstd, T* gx, T* ggamma,
                            T* gbeta, int64_t N, int64_t C, int64_t HW);

#ifdef MMENGINE_WITH_CUDA
template <typename T>
void batchnorm_forward_train_cuda(const T* x, const T* gamma, const T* beta, T* y, T* mean, T* var, T* invstd, int64_t N,
                                  int64_t C, int64_t HW, double eps);
template <typename T>
void batchnorm_backward_cuda(const T* x, const T* gy, const T* gamma, const T* mean, const T* invstd, T* gx, T* ggamma,
                             T* gbeta, int64_t N, int64_t C, int64_t HW);
#endif

}  // namespace mmengine::kernels
