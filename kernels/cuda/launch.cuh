// Launch helpers shared by the CUDA kernel files.
#pragma once
#include <algorithm>
#include <cstdint>

#include "kernels/cuda/check.h"
#include "kernels/common.h"

namespace mmengine::kernels {

constexpr int kThreads = 256;

inline unsigned grid_for(int64_t n, int threads = kThreads) {
  int64_t blocks = (n + threads - 1) / threads;
  return static_cast<unsigned>(std::max<int64_t>(1, std::min<int64_t>(blocks, 65535LL * 32)));
}

// Loops over compile-time trip counts must unroll, so the register arrays they index stay in
// registers (the host compiler of the emulated build does not know the pragma).
#if defined(__CUDACC__)
#define MM_UNROLL _Pragma("unroll")
#else
#define MM_UNROLL
#endif

#define MM_GRID_STRIDE(i, n) \
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < (n); i += int64_t(blockDim.x) * gridDim.x)

// Sum of one double per thread over the block; the result is valid in thread 0.
// blockDim.x must be kThreads.
__device__ inline double block_sum(double v) {
  __shared__ double warp_sums[kThreads / 32];
  for (int off = 16; off > 0; off >>= 1) v += __shfl_down_sync(0xffffffffu, v, off);
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) warp_sums[warp] = v;
  __syncthreads();
  double total = 0;
  if (warp == 0) {
    total = lane < kThreads / 32 ? warp_sums[lane] : 0.0;
    for (int off = 16; off > 0; off >>= 1) total += __shfl_down_sync(0xffffffffu, total, off);
  }
  __syncthreads();  // warp_sums may be reused by the next call
  return total;
}

}  // namespace mmengine::kernels
