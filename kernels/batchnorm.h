// BatchNorm2d over [G * N, C, HW]: G groups of N rows each (G = 1: one batch), normalized
// per (group, channel) by the statistics of that group's N*HW values of the channel (MixMatch's
// interleaved and separate modes run G = 3 chunks in one pass this way; the results equal G
// separate calls). Training forward normalizes with the batch mean and the biased variance,
// computed in two passes in double (never E[x^2] - E[x]^2), and returns mean, biased variance
// and inverse std ([G, C]) for the caller's autograd node. Optionally (BnTrainExtras) it also
// applies LeakyReLU to its output and moves running statistics, in the same kernels.
// Backward is one reduction (sum g, sum g*xhat per (group, channel), with g the gradient at
// the BatchNorm output, through the fused LeakyReLU when there is one) and one elementwise
// pass; ggamma and gbeta add the groups' sums in group order.
//
// `workspace` holds batchnorm_workspace_<device>(G, N, C, HW) doubles on the device of the
// operands (the CUDA kernels keep per-(group, channel, split) partial sums there, so the
// channels x splits grid fills the GPU; the CPU needs none: 0, and the pointer may be null).
// The CUDA phases: forward = partial sums (workspace [0, G*C*S)), partial centered squares
// around the mean of those sums ([G*C*S, 2*G*C*S)), apply; backward = partial (sum g,
// sum g*xhat), input gradient. Partial (g, c, s) sits at (g * C + c) * S + s. A distributed
// caller runs them with collectives in between (synchronized BatchNorm, below). Every
// reduction runs in a fixed order: results do not depend on scheduling, and with G groups
// every group's numbers equal those of a G = 1 call on its rows.
//
// The activations (x, y, gy, gx, y_act) are stored as A, the parameters, statistics and
// running statistics as T: A = T (float, double), or A = bf16 with T = float (--precision bf16:
// the arithmetic is the float kernel's on the bf16 values, each stored result rounded once).
#pragma once
#ifdef MMENGINE_WITH_CUDA
#include <cuda_runtime.h>  // cudaStream_t: every CUDA launcher takes its stream last
#endif
#include <cstdint>

namespace mmengine::kernels {

template <typename T>
struct BnTrainExtras {
  int64_t groups = 1;
  bool leaky = false;  // y = leaky_relu(batchnorm(x), slope); needs slope >= 0
  T slope = T(0);
  // Running statistics [C] moved by the groups whose bit is set in update_mask, in group
  // order: running = (1 - momentum) running + momentum stat, the variance unbiased (PyTorch).
  T* running_mean = nullptr;
  T* running_var = nullptr;
  double momentum = 0;
  uint32_t update_mask = 0;  // at most 32 groups
};

int64_t batchnorm_workspace_cpu(int64_t G, int64_t N, int64_t C, int64_t HW);
template <typename T, typename A = T>
void batchnorm_forward_train_cpu(const A* x, const T* gamma, const T* beta, A* y, T* mean, T* var, T* invstd, int64_t N,
                                 int64_t C, int64_t HW, double eps, const BnTrainExtras<T>& extras, double* workspace);
// y_act: the forward's output when it fused LeakyReLU (slope as in the forward), else null.
// ggamma and gbeta may be null.
template <typename T, typename A = T>
void batchnorm_backward_cpu(const A* x, const A* gy, const A* y_act, T slope, const T* gamma, const T* mean,
                            const T* invstd, A* gx, T* ggamma, T* gbeta, int64_t G, int64_t N, int64_t C, int64_t HW,
                            double* workspace);

// Synchronized BatchNorm (data parallel, engine/dist_ops.h): the training forward and
// backward above in phases, with the caller's collectives between them. Every rank holds
// N rows of each of the G groups (the same N on every rank: the caller's contract, not
// checked here); the statistics of group g are those of group g's rows on all R ranks (count
// R*N*HW). Moments are float64 [2, G, C]; forward_gathered takes G from extras.groups.
// 1. batchnorm_moments: this rank's [sum; sum of squares centered on this rank's own group
//    mean] (two passes, as the training forward).
// 2. (caller: all-gather the R ranks' moments in rank order: [R, 2, G, C])
// 3. batchnorm_forward_gathered: per (group, channel) the ranks combined in rank order
//    (mean = sum of the sums / (R N HW); M2 = sum of M2_r + N HW (mean_r - mean)^2: no
//    E[x^2] - E[x]^2 cancellation), then the apply of batchnorm_forward_train (LeakyReLU, the
//    running statistics with the count R*N*HW). Same inputs, same numbers on every rank; with
//    R = 1 the numbers of batchnorm_forward_train bit for bit. `stat_workspace`: 2*G*C doubles.
// 4. batchnorm_grad_moments: this rank's [sum g; sum g * xhat] (g as in the backward above,
//    xhat with the forward's mean and inverse std).
// 5. (caller: all-reduce them: the sums over the ranks)
// 6. batchnorm_backward_reduced: the input gradient from the reduced sums and the count
//    R*N*HW; ggamma and gbeta (may be null) from this rank's own sums, the groups added in
//    group order (the caller's parameter-gradient all-reduce sums them over the ranks). With
//    R = 1 (reduced = local): batchnorm_backward's numbers bit for bit.
// `workspace` as above (batchnorm_workspace_<device>(G, N, C, HW) doubles).
template <typename T, typename A = T>
void batchnorm_moments_cpu(const A* x, double* moments, int64_t G, int64_t N, int64_t C, int64_t HW, double* workspace);
template <typename T, typename A = T>
void batchnorm_forward_gathered_cpu(const A* x, const T* gamma, const T* beta, const double* gathered, int64_t R, A* y,
                                    T* mean, T* var, T* invstd, int64_t N, int64_t C, int64_t HW, double eps,
                                    const BnTrainExtras<T>& extras, double* stat_workspace);
template <typename T, typename A = T>
void batchnorm_grad_moments_cpu(const A* x, const A* gy, const A* y_act, T slope, const T* mean, const T* invstd,
                                double* moments, int64_t G, int64_t N, int64_t C, int64_t HW, double* workspace);
template <typename T, typename A = T>
void batchnorm_backward_reduced_cpu(const A* x, const A* gy, const A* y_act, T slope, const T* gamma, const T* mean,
                                    const T* invstd, const double* local, const double* reduced, int64_t R, A* gx,
                                    T* ggamma, T* gbeta, int64_t G, int64_t N, int64_t C, int64_t HW);

// Eval mode, forward only (no backward: callers without gradients): y = act(x gs + sh) with
// the running statistics, gs = gamma (var + eps)^-1/2, sh = beta - mean gs, act LeakyReLU(slope)
// when leaky; one pass over x, the same bits as the composed eval ops (batchnorm_math.h).
template <typename T, typename A = T>
void batchnorm_forward_eval_cpu(const A* x, const T* gamma, const T* beta, const T* mean, const T* var, A* y, int64_t N,
                                int64_t C, int64_t HW, double eps, bool leaky, T slope);

#ifdef MMENGINE_WITH_CUDA
template <typename T, typename A = T>
void batchnorm_forward_eval_cuda(const A* x, const T* gamma, const T* beta, const T* mean, const T* var, A* y, int64_t N,
                                 int64_t C, int64_t HW, double eps, bool leaky, T slope, cudaStream_t stream);
int64_t batchnorm_workspace_cuda(int64_t G, int64_t N, int64_t C, int64_t HW);
template <typename T, typename A = T>
void batchnorm_forward_train_cuda(const A* x, const T* gamma, const T* beta, A* y, T* mean, T* var, T* invstd, int64_t N,
                                  int64_t C, int64_t HW, double eps, const BnTrainExtras<T>& extras, double* workspace, cudaStream_t stream);
template <typename T, typename A = T>
void batchnorm_backward_cuda(const A* x, const A* gy, const A* y_act, T slope, const T* gamma, const T* mean,
                             const T* invstd, A* gx, T* ggamma, T* gbeta, int64_t G, int64_t N, int64_t C, int64_t HW,
                             double* workspace, cudaStream_t stream);
template <typename T, typename A = T>
void batchnorm_moments_cuda(const A* x, double* moments, int64_t G, int64_t N, int64_t C, int64_t HW, double* workspace,
                            cudaStream_t stream);
template <typename T, typename A = T>
void batchnorm_forward_gathered_cuda(const A* x, const T* gamma, const T* beta, const double* gathered, int64_t R, A* y,
                                     T* mean, T* var, T* invstd, int64_t N, int64_t C, int64_t HW, double eps,
                                     const BnTrainExtras<T>& extras, double* stat_workspace, cudaStream_t stream);
template <typename T, typename A = T>
void batchnorm_grad_moments_cuda(const A* x, const A* gy, const A* y_act, T slope, const T* mean, const T* invstd,
                                 double* moments, int64_t G, int64_t N, int64_t C, int64_t HW, double* workspace,
                                 cudaStream_t stream);
template <typename T, typename A = T>
void batchnorm_backward_reduced_cuda(const A* x, const A* gy, const A* y_act, T slope, const T* gamma, const T* mean,
                                     const T* invstd, const double* local, const double* reduced, int64_t R, A* gx,
                                     T* ggamma, T* gbeta, int64_t G, int64_t N, int64_t C, int64_t HW,
                                     cudaStream_t stream);
// The first GPU version (one block per channel, no workspace, one group, nothing fused), kept
// as the benchmark baseline.
template <typename T>
void batchnorm_forward_train_v0_cuda(const T* x, const T* gamma, const T* beta, T* y, T* mean, T* var, T* invstd,
                                     int64_t N, int64_t C, int64_t HW, double eps, cudaStream_t stream);
template <typename T>
void batchnorm_backward_v0_cuda(const T* x, const T* gy, const T* gamma, const T* mean, const T* invstd, T* gx,
                                T* ggamma, T* gbeta, int64_t N, int64_t C, int64_t HW, cudaStream_t stream);
#endif

}  // namespace mmengine::kernels
