// BatchNorm2d over [N, C, HW]: per-channel statistics of the N*HW values of a channel.
// Training forward normalizes with the batch mean and the biased variance, computed in two
// passes in double (never E[x^2] - E[x]^2), and returns mean, biased variance and inverse std
// for the caller's autograd node. Backward is one reduction (sum gy, sum gy*xhat) and one
// elementwise pass. `workspace` holds batchnorm_workspace_<device>(N, C, HW) doubles on the
// device of the operands (the CUDA kernels keep per-(channel, split) partial sums there, so
// the channels x splits grid fills the GPU; the CPU needs none: 0, and the pointer may be null).
// Every reduction runs in a fixed order: the results do not depend on scheduling.
#pragma once
#ifdef MMENGINE_WITH_CUDA
#include <cuda_runtime.h>  // cudaStream_t: every CUDA launcher takes its stream last
#endif
#include <cstdint>

namespace mmengine::kernels {

int64_t batchnorm_workspace_cpu(int64_t N, int64_t C, int64_t HW);
template <typename T>
void batchnorm_forward_train_cpu(const T* x, const T* gamma, const T* beta, T* y, T* mean, T* var, T* invstd, int64_t N,
                                 int64_t C, int64_t HW, double eps, double* workspace);
// ggamma and gbeta may be null.
template <typename T>
void batchnorm_backward_cpu(const T* x, const T* gy, const T* gamma, const T* mean, const T* invstd, T* gx, T* ggamma,
                            T* gbeta, int64_t N, int64_t C, int64_t HW, double* workspace);

#ifdef MMENGINE_WITH_CUDA
int64_t batchnorm_workspace_cuda(int64_t N, int64_t C, int64_t HW);
template <typename T>
void batchnorm_forward_train_cuda(const T* x, const T* gamma, const T* beta, T* y, T* mean, T* var, T* invstd, int64_t N,
                                  int64_t C, int64_t HW, double eps, double* workspace, cudaStream_t stream);
template <typename T>
void batchnorm_backward_cuda(const T* x, const T* gy, const T* gamma, const T* mean, const T* invstd, T* gx, T* ggamma,
                             T* gbeta, int64_t N, int64_t C, int64_t HW, double* workspace, cudaStream_t stream);
// The first GPU version (one block per channel, no workspace), kept as the benchmark baseline.
template <typename T>
void batchnorm_forward_train_v0_cuda(const T* x, const T* gamma, const T* beta, T* y, T* mean, T* var, T* invstd,
                                     int64_t N, int64_t C, int64_t HW, double eps, cudaStream_t stream);
template <typename T>
void batchnorm_backward_v0_cuda(const T* x, const T* gy, const T* gamma, const T* mean, const T* invstd, T* gx,
                                T* ggamma, T* gbeta, int64_t N, int64_t C, int64_t HW, cudaStream_t stream);
#endif

}  // namespace mmengine::kernels
