#include <algorithm>

#include "kernels/batchnorm.h"
#include "kernels/batchnorm_math.h"
#include "kernels/bf16.h"
#include "kernels/cuda/launch.cuh"
#include "kernels/error.h"

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

// Current version: a 2-D grid of (channel, group x split) blocks (PyTorch's Normalization.cuh
// fills the GPU the same way). Split s of group g owns the group's images n = s, s + S, ...;
// each image's HW values of the channel are contiguous, so loads are coalesced and need no
// division. S depends on the rows per group only, so every group sums in the order of a
// one-group call on its rows. Partial sums go to the workspace and every block that needs a
// (group, channel) total adds the S partials in split order: deterministic, and the same in
// every block.
constexpr int64_t kTargetBlocks = 512;  // ~4 blocks per SM on a 132-SM H100, whatever the C

inline int64_t splits_for(int64_t N, int64_t C) {
  return std::max<int64_t>(1, std::min<int64_t>(N, (kTargetBlocks + C - 1) / std::max<int64_t>(C, 1)));
}

// This block's place: channel c, group g, split s; gc = g * C + c indexes [G, C] statistics.
struct BnBlock {
  int64_t c, g, s, gc;
};
__device__ inline BnBlock bn_block(int64_t C, int64_t S) {
  const int64_t c = blockIdx.x, g = blockIdx.y / S;
  return {c, g, static_cast<int64_t>(blockIdx.y) - g * S, g * C + c};
}

// Calls f(value index) for this thread's share of the block's values: channel c of the group's
// images n = s, s + S, ... . A row of HW values no longer than half the block is walked several
// rows at a time (R = blockDim / HW rows, thread t on row t / HW, value t % HW; the threads past
// R * HW idle), so small maps (8x8: 64 values) keep the block's threads busy instead of a
// quarter of them; longer rows are walked by the whole block. The mapping depends on N, S, HW
// and the block size only: every group of a grouped call sums in the order of a one-group call.
// (Two loops, the short-row one in 32-bit lane arithmetic: one loop in 64-bit for both cases
// doubled the kernels' registers.)
template <typename F>
__device__ inline void for_block_values(const BnBlock& b, int64_t S, int64_t N, int64_t C, int64_t HW, F f) {
  const int threads = static_cast<int>(blockDim.x), t = static_cast<int>(threadIdx.x);
  if (HW > 0 && 2 * HW <= threads) {
    const int hw = static_cast<int>(HW), R = threads / hw, r = t / hw;
    if (r >= R) return;
    for (int64_t n = b.s + r * S; n < N; n += R * S) f(((b.g * N + n) * C + b.c) * HW + (t - r * hw));
    return;
  }
  for (int64_t n = b.s; n < N; n += S) {
    const int64_t base = ((b.g * N + n) * C + b.c) * HW;
    for (int64_t i = t; i < HW; i += threads) f(base + i);
  }
}

// Sum over this block's values (for_block_values) of f(value index); valid in thread 0.
template <typename F>
__device__ inline double split_sum(const BnBlock& b, int64_t S, int64_t N, int64_t C, int64_t HW, F f) {
  double acc = 0;
  for_block_values(b, S, N, C, HW, [&](int64_t idx) { acc += f(idx); });
  return block_sum(acc);
}

// The S partials of statistics row c (a (group, channel) pair), added in split order.
__device__ inline double partial_total(const double* partial, int64_t c, int64_t S) {
  double t = 0;
  for (int64_t j = 0; j < S; ++j) t += partial[c * S + j];
  return t;
}

// partial_total by thread 0, shared with the block.
__device__ inline double channel_total(const double* partial, int64_t c, int64_t S) {
  __shared__ double total;
  if (threadIdx.x == 0) total = partial_total(partial, c, S);
  __syncthreads();
  const double v = total;
  __syncthreads();  // `total` may be reused by the next call
  return v;
}

template <typename A>
__global__ void bn_sum_kernel(const A* x, double* part_sum, int64_t N, int64_t C, int64_t HW, int64_t S) {
  const BnBlock b = bn_block(C, S);
  const double v = split_sum(b, S, N, C, HW, [&](int64_t idx) { return static_cast<double>(static_cast<compute_t<A>>(x[idx])); });
  if (threadIdx.x == 0) part_sum[b.gc * S + b.s] = v;
}

template <typename A>
__global__ void bn_centered_kernel(const A* x, const double* part_sum, double* part_ss, int64_t N, int64_t C,
                                   int64_t HW, int64_t S) {
  const BnBlock b = bn_block(C, S);
  const double mu = channel_total(part_sum, b.gc, S) / static_cast<double>(N * HW);
  const double v = split_sum(b, S, N, C, HW, [&](int64_t idx) {
    const double d = static_cast<compute_t<A>>(x[idx]) - mu;
    return d * d;
  });
  if (threadIdx.x == 0) part_ss[b.gc * S + b.s] = v;
}

// Normalizes (and activates) this block's values with the (group, channel) mean and inverse std.
template <typename T, typename A>
__device__ inline void apply_block(const BnBlock& b, const A* x, const T* gamma, const T* beta, A* y, double mu,
                                   double is, int64_t N, int64_t C, int64_t HW, int64_t S, const BnTrainExtras<T>& e) {
  const double scale = gamma[b.c] * is, shift = beta[b.c] - mu * scale;
  for_block_values(b, S, N, C, HW, [&](int64_t k) { y[k] = bn_apply_value(static_cast<T>(x[k]), scale, shift, e.leaky, e.slope); });
}

// The input gradient of this block's values from the (group, channel) sums over `count` values.
template <typename T, typename A>
__device__ inline void grad_input_block(const BnBlock& b, const A* x, const A* gy, const A* y_act, T slope,
                                        const T* gamma, const T* mean, const T* invstd, A* gx, int64_t N, int64_t C,
                                        int64_t HW, int64_t S, double count, double sum_g, double sum_g_xhat) {
  const double mu = mean[b.gc], is = invstd[b.gc], k1 = gamma[b.c] * is / count;
  for_block_values(b, S, N, C, HW, [&](int64_t k) {
    gx[k] = bn_input_grad(static_cast<T>(x[k]), bn_output_grad(gy[k], y_act, k, slope), mu, is, k1, count, sum_g,
                          sum_g_xhat);
  });
}

// Normalizes (and activates) this block's values; block (c, 0) also moves channel c's running
// statistics by the flagged groups in group order, from the same partials as every block.
template <typename T, typename A>
__global__ void bn_apply_kernel(const A* x, const T* gamma, const T* beta, const double* part_sum,
                                const double* part_ss, A* y, T* mean, T* var, T* invstd, int64_t N, int64_t C,
                                int64_t HW, int64_t S, double eps, BnTrainExtras<T> e) {
  const BnBlock b = bn_block(C, S);
  const double count = static_cast<double>(N * HW);
  const double mu = channel_total(part_sum, b.gc, S) / count, v = channel_total(part_ss, b.gc, S) / count;
  const double is = 1.0 / sqrt(v + eps);
  if (b.s == 0 && threadIdx.x == 0) {
    mean[b.gc] = static_cast<T>(mu);
    var[b.gc] = static_cast<T>(v);
    invstd[b.gc] = static_cast<T>(is);
  }
  if (blockIdx.y == 0 && threadIdx.x == 0 && e.update_mask != 0)
    for (int64_t h = 0; h < e.groups; ++h)
      if (e.update_mask >> h & 1u) {
        const int64_t hc = h * C + b.c;
        const T hmean = static_cast<T>(partial_total(part_sum, hc, S) / count);
        const T hvar = static_cast<T>(partial_total(part_ss, hc, S) / count);
        bn_running_update(e, b.c, hmean, hvar, count);
      }
  apply_block(b, x, gamma, beta, y, mu, is, N, C, HW, S, e);
}

// Partials of (sum g, sum g * xhat), g the gradient at the BatchNorm output: [0, GCS) and [GCS, 2 GCS).
template <typename T, typename A>
__global__ void bn_grad_sums_kernel(const A* x, const A* gy, const A* y_act, T slope, const T* mean, const T* invstd,
                                    double* part, int64_t N, int64_t C, int64_t HW, int64_t S, int64_t GCS) {
  const BnBlock b = bn_block(C, S);
  const double mu = mean[b.gc], is = invstd[b.gc];
  double a1 = 0, a2 = 0;  // one pass over gy, x (and y_act) for both sums
  for_block_values(b, S, N, C, HW, [&](int64_t idx) {
    const double g = bn_output_grad(gy[idx], y_act, idx, slope);
    a1 += g;
    a2 += g * ((static_cast<T>(x[idx]) - mu) * is);
  });
  const double s1 = block_sum(a1), s2 = block_sum(a2);
  if (threadIdx.x == 0) {
    part[b.gc * S + b.s] = s1;
    part[GCS + b.gc * S + b.s] = s2;
  }
}

template <typename T, typename A>
__global__ void bn_grad_input_kernel(const A* x, const A* gy, const A* y_act, T slope, const T* gamma, const T* mean,
                                     const T* invstd, const double* part, A* gx, T* ggamma, T* gbeta, int64_t G,
                                     int64_t N, int64_t C, int64_t HW, int64_t S) {
  const BnBlock b = bn_block(C, S);
  const int64_t GCS = G * C * S;
  const double sum_g = channel_total(part, b.gc, S), sum_g_xhat = channel_total(part + GCS, b.gc, S);
  if (blockIdx.y == 0 && threadIdx.x == 0) {  // the parameter gradients: the groups' sums in group order
    double t1 = 0, t2 = 0;
    for (int64_t h = 0; h < G; ++h) {
      t1 += partial_total(part, h * C + b.c, S);
      t2 += partial_total(part + GCS, h * C + b.c, S);
    }
    if (gbeta) gbeta[b.c] = static_cast<T>(t1);
    if (ggamma) ggamma[b.c] = static_cast<T>(t2);
  }
  grad_input_block(b, x, gy, y_act, slope, gamma, mean, invstd, gx, N, C, HW, S, static_cast<double>(N * HW), sum_g,
                   sum_g_xhat);
}

// Synchronized BatchNorm (kernels/batchnorm.h). Per statistics row (one thread each): the S
// partials of two workspace arrays added in split order, as every block above adds them.
__global__ void bn_totals_kernel(const double* part_a, const double* part_b, double* totals, int64_t GC, int64_t S) {
  MM_GRID_STRIDE(gc, GC) {
    totals[gc] = partial_total(part_a, gc, S);
    totals[GC + gc] = partial_total(part_b, gc, S);
  }
}

// One thread per channel: the gathered moments of each group combined, the statistics stored
// ([G, C] in T; mean and inverse std in double for the apply), the running statistics moved
// by the flagged groups in group order.
template <typename T>
__global__ void bn_combine_kernel(const double* gathered, int64_t R, T* mean, T* var, T* invstd, double* stat, int64_t C,
                                  double count, double eps, BnTrainExtras<T> e) {
  const int64_t GC = e.groups * C;
  MM_GRID_STRIDE(c, C) {
    for (int64_t g = 0; g < e.groups; ++g) {
      const int64_t gc = g * C + c;
      double mu, v;
      bn_combine_moments(gathered, R, GC, gc, count, mu, v);
      const double is = 1.0 / sqrt(v + eps);
      mean[gc] = static_cast<T>(mu);
      var[gc] = static_cast<T>(v);
      invstd[gc] = static_cast<T>(is);
      stat[gc] = mu;
      stat[GC + gc] = is;
      if (e.update_mask >> g & 1u) bn_running_update(e, c, mean[gc], var[gc], static_cast<double>(R) * count);
    }
  }
}

template <typename T, typename A>
__global__ void bn_apply_stat_kernel(const A* x, const T* gamma, const T* beta, const double* stat, A* y, int64_t N,
                                     int64_t C, int64_t HW, int64_t S, BnTrainExtras<T> e) {
  const BnBlock b = bn_block(C, S);
  apply_block(b, x, gamma, beta, y, stat[b.gc], stat[e.groups * C + b.gc], N, C, HW, S, e);
}

template <typename T, typename A>
__global__ void bn_grad_input_reduced_kernel(const A* x, const A* gy, const A* y_act, T slope, const T* gamma,
                                             const T* mean, const T* invstd, const double* local,
                                             const double* reduced, A* gx, T* ggamma, T* gbeta, int64_t G, int64_t N,
                                             int64_t C, int64_t HW, int64_t S, double count) {
  const BnBlock b = bn_block(C, S);
  const int64_t GC = G * C;
  if (blockIdx.y == 0 && threadIdx.x == 0) {  // this rank's parameter gradients, the groups in group order
    double t1 = 0, t2 = 0;
    for (int64_t h = 0; h < G; ++h) {
      t1 += local[h * C + b.c];
      t2 += local[GC + h * C + b.c];
    }
    if (gbeta) gbeta[b.c] = static_cast<T>(t1);
    if (ggamma) ggamma[b.c] = static_cast<T>(t2);
  }
  grad_input_block(b, x, gy, y_act, slope, gamma, mean, invstd, gx, N, C, HW, S, count, reduced[b.gc],
                   reduced[GC + b.gc]);
}
}  // namespace

int64_t batchnorm_workspace_cuda(int64_t G, int64_t N, int64_t C, int64_t) { return 2 * G * C * splits_for(N, C); }

namespace {
dim3 bn_grid(int64_t G, int64_t C, int64_t S) {
  MM_CHECK(G >= 1 && G * S <= 65535, "batchnorm: ", G, " groups x ", S, " splits exceed the grid");
  return dim3(static_cast<unsigned>(C), static_cast<unsigned>(G * S));
}
}  // namespace

namespace {
// One block per (image, channel) row of HW values: the channel's coefficients once per thread,
// no index division per element.
template <typename T, typename A>
__global__ void bn_eval_kernel(const A* x, const T* gamma, const T* beta, const T* mean, const T* var, A* y, int64_t C,
                               int64_t HW, double eps, bool leaky, T slope) {
  const int64_t row = blockIdx.x, c = row % C;
  T gs, sh;
  bn_eval_coefficients(gamma[c], beta[c], mean[c], var[c], eps, gs, sh);
  for (int64_t i = threadIdx.x; i < HW; i += blockDim.x) y[row * HW + i] = bn_eval_value(static_cast<T>(x[row * HW + i]), gs, sh, leaky, slope);
}
}  // namespace

template <typename T, typename A>
void batchnorm_forward_eval_cuda(const A* x, const T* gamma, const T* beta, const T* mean, const T* var, A* y, int64_t N,
                                 int64_t C, int64_t HW, double eps, bool leaky, T slope, cudaStream_t stream) {
  if (N * C == 0 || HW == 0) return;
  MM_CHECK(N * C <= 2147483647LL, "batchnorm (eval): ", N * C, " rows exceed the grid");
  const unsigned threads = static_cast<unsigned>(std::min<int64_t>(kThreads, (HW + 31) / 32 * 32));
  bn_eval_kernel<<<static_cast<unsigned>(N * C), threads, 0, stream>>>(x, gamma, beta, mean, var, y, C, HW, eps, leaky, slope);
  MM_LAUNCH_CHECK();
}

namespace {
// The statistics phase: per (group, channel, split) the partial sums, then the partial centered
// squares around the mean of those sums (workspace [0, GCS) and [GCS, 2 GCS)).
template <typename A>
void launch_partial_moments(const A* x, double* workspace, int64_t G, int64_t N, int64_t C, int64_t HW, int64_t S,
                            cudaStream_t stream) {
  const dim3 grid = bn_grid(G, C, S);
  bn_sum_kernel<<<grid, kThreads, 0, stream>>>(x, workspace, N, C, HW, S);
  MM_LAUNCH_CHECK();
  bn_centered_kernel<<<grid, kThreads, 0, stream>>>(x, workspace, workspace + G * C * S, N, C, HW, S);
  MM_LAUNCH_CHECK();
}
}  // namespace

template <typename T, typename A>
void batchnorm_forward_train_cuda(const A* x, const T* gamma, const T* beta, A* y, T* mean, T* var, T* invstd, int64_t N,
                                  int64_t C, int64_t HW, double eps, const BnTrainExtras<T>& e, double* workspace, cudaStream_t stream) {
  if (C == 0) return;
  const int64_t G = e.groups, S = splits_for(N, C);
  const dim3 grid = bn_grid(G, C, S);
  double *part_sum = workspace, *part_ss = workspace + G * C * S;
  // Phase 1: statistics (synchronized BatchNorm exchanges their totals before the apply:
  // batchnorm_moments_cuda, batchnorm_forward_gathered_cuda).
  launch_partial_moments(x, workspace, G, N, C, HW, S, stream);
  // Phase 2: apply (+ LeakyReLU, + the running statistics).
  bn_apply_kernel<<<grid, kThreads, 0, stream>>>(x, gamma, beta, part_sum, part_ss, y, mean, var, invstd, N, C, HW, S, eps, e);
  MM_LAUNCH_CHECK();
}

template <typename T, typename A>
void batchnorm_backward_cuda(const A* x, const A* gy, const A* y_act, T slope, const T* gamma, const T* mean,
                             const T* invstd, A* gx, T* ggamma, T* gbeta, int64_t G, int64_t N, int64_t C, int64_t HW,
                             double* workspace, cudaStream_t stream) {
  if (C == 0) return;
  const int64_t S = splits_for(N, C);
  const dim3 grid = bn_grid(G, C, S);
  bn_grad_sums_kernel<<<grid, kThreads, 0, stream>>>(x, gy, y_act, slope, mean, invstd, workspace, N, C, HW, S, G * C * S);
  MM_LAUNCH_CHECK();
  bn_grad_input_kernel<<<grid, kThreads, 0, stream>>>(x, gy, y_act, slope, gamma, mean, invstd, workspace, gx, ggamma, gbeta, G, N,
                                           C, HW, S);
  MM_LAUNCH_CHECK();
}

template <typename T, typename A>
void batchnorm_moments_cuda(const A* x, double* moments, int64_t G, int64_t N, int64_t C, int64_t HW, double* workspace,
                            cudaStream_t stream) {
  if (C == 0) return;
  const int64_t S = splits_for(N, C);
  launch_partial_moments(x, workspace, G, N, C, HW, S, stream);
  bn_totals_kernel<<<grid_for(G * C), kThreads, 0, stream>>>(workspace, workspace + G * C * S, moments, G * C, S);
  MM_LAUNCH_CHECK();
}

template <typename T, typename A>
void batchnorm_forward_gathered_cuda(const A* x, const T* gamma, const T* beta, const double* gathered, int64_t R, A* y,
                                     T* mean, T* var, T* invstd, int64_t N, int64_t C, int64_t HW, double eps,
                                     const BnTrainExtras<T>& e, double* stat_workspace, cudaStream_t stream) {
  if (C == 0) return;
  const int64_t S = splits_for(N, C);
  const dim3 grid = bn_grid(e.groups, C, S);
  bn_combine_kernel<<<grid_for(C), kThreads, 0, stream>>>(gathered, R, mean, var, invstd, stat_workspace, C,
                                                            static_cast<double>(N * HW), eps, e);
  MM_LAUNCH_CHECK();
  bn_apply_stat_kernel<<<grid, kThreads, 0, stream>>>(x, gamma, beta, stat_workspace, y, N, C, HW, S, e);
  MM_LAUNCH_CHECK();
}

template <typename T, typename A>
void batchnorm_grad_moments_cuda(const A* x, const A* gy, const A* y_act, T slope, const T* mean, const T* invstd,
                                 double* moments, int64_t G, int64_t N, int64_t C, int64_t HW, double* workspace,
                                 cudaStream_t stream) {
  if (C == 0) return;
  const int64_t S = splits_for(N, C), GCS = G * C * S;
  bn_grad_sums_kernel<<<bn_grid(G, C, S), kThreads, 0, stream>>>(x, gy, y_act, slope, mean, invstd, workspace, N, C, HW,
                                                                  S, GCS);
  MM_LAUNCH_CHECK();
  bn_totals_kernel<<<grid_for(G * C), kThreads, 0, stream>>>(workspace, workspace + GCS, moments, G * C, S);
  MM_LAUNCH_CHECK();
}

template <typename T, typename A>
void batchnorm_backward_reduced_cuda(const A* x, const A* gy, const A* y_act, T slope, const T* gamma, const T* mean,
                                     const T* invstd, const double* local, const double* reduced, int64_t R, A* gx,
                                     T* ggamma, T* gbeta, int64_t G, int64_t N, int64_t C, int64_t HW,
                                     cudaStream_t stream) {
  if (C == 0) return;
  const int64_t S = splits_for(N, C);
  bn_grad_input_reduced_kernel<<<bn_grid(G, C, S), kThreads, 0, stream>>>(
      x, gy, y_act, slope, gamma, mean, invstd, local, reduced, gx, ggamma, gbeta, G, N, C, HW, S,
      static_cast<double>(R) * static_cast<double>(N * HW));
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

#define MM_INSTANTIATE(T, A)                                                                                         \
  template void batchnorm_forward_eval_cuda<T, A>(const A*, const T*, const T*, const T*, const T*, A*, int64_t,         \
                                                  int64_t, int64_t, double, bool, T, cudaStream_t);                     \
  template void batchnorm_forward_train_cuda<T, A>(const A*, const T*, const T*, A*, T*, T*, T*, int64_t, int64_t,       \
                                                   int64_t, double, const BnTrainExtras<T>&, double*, cudaStream_t);    \
  template void batchnorm_backward_cuda<T, A>(const A*, const A*, const A*, T, const T*, const T*, const T*, A*, T*, T*, \
                                              int64_t, int64_t, int64_t, int64_t, double*, cudaStream_t);       \
  template void batchnorm_moments_cuda<T, A>(const A*, double*, int64_t, int64_t, int64_t, int64_t, double*,           \
                                             cudaStream_t);                                                             \
  template void batchnorm_forward_gathered_cuda<T, A>(const A*, const T*, const T*, const double*, int64_t, A*, T*, T*, \
                                                      T*, int64_t, int64_t, int64_t, double, const BnTrainExtras<T>&,  \
                                                      double*, cudaStream_t);                                           \
  template void batchnorm_grad_moments_cuda<T, A>(const A*, const A*, const A*, T, const T*, const T*, double*,         \
                                                  int64_t, int64_t, int64_t, int64_t, double*, cudaStream_t);           \
  template void batchnorm_backward_reduced_cuda<T, A>(const A*, const A*, const A*, T, const T*, const T*, const T*,    \
                                                      const double*, const double*, int64_t, A*, T*, T*, int64_t,       \
                                                      int64_t, int64_t, int64_t, cudaStream_t);
#define MM_INSTANTIATE_V0(T)                                                                                        \
  template void batchnorm_forward_train_v0_cuda<T>(const T*, const T*, const T*, T*, T*, T*, T*, int64_t, int64_t,     \
                                                   int64_t, double, cudaStream_t);                                    \
  template void batchnorm_backward_v0_cuda<T>(const T*, const T*, const T*, const T*, const T*, T*, T*, T*, int64_t,   \
                                              int64_t, int64_t, cudaStream_t);
MM_INSTANTIATE(float, float)
MM_INSTANTIATE(double, double)
MM_INSTANTIATE(float, bf16)
MM_INSTANTIATE_V0(float)
MM_INSTANTIATE_V0(double)

}  // namespace mmengine::kernels
