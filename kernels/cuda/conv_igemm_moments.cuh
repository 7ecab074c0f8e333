// Shared by the implicit-GEMM forwards with BatchNorm statistics in their epilogue (gather:
// conv_igemm.cu, halo: conv_igemm_halo.cu): the tile epilogue igemm_tile_moments, and
// igemm_group_moments_cuda (defined in conv_igemm.cu), which makes from the per-tile partial sums
// [tiles, 2, N] (each tile's per-channel sum and sum of squares in double; tiles_per_group
// consecutive tiles per group) the moments [2, groups, N] = [sum; M2] of `count` values per group
// (M2 from the sums, bn_m2_from_sums), added in a fixed order (deterministic).
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/cuda/launch.cuh"

namespace mmengine::kernels {

// The epilogue both kernels share: a block of 128 threads (4 warps, 2 x 2) holding a 64 x (16 NT)
// output tile as m16n8 fragments acc[2][NT][4] (warp tile rows wm.., columns wn..) writes, for
// each of its columns n0 + c < N, the sum and the sum of squares (double) of the tile rows m
// (0-63) for which inside(m) holds, to row_partial[0][N] and row_partial[1][N]: lanes by an xor
// butterfly, then the two warp rows, in a fixed order.
template <int NT, class Inside>
__device__ inline void igemm_tile_moments(const float (&acc)[2][NT][4], int wm, int wn, Inside inside,
                                          double* row_partial, int n0, int N) {
  constexpr int BN = 16 * NT;
  __shared__ double column_sums[2][2][BN];  // [warp row][sum, sum of squares][column]
  const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32, g = lane / 4, t = lane % 4;
  MM_UNROLL
  for (int ni = 0; ni < NT; ++ni)
    MM_UNROLL
    for (int j = 0; j < 2; ++j) {
      double sum = 0, squares = 0;
      MM_UNROLL
      for (int mi = 0; mi < 2; ++mi)
        MM_UNROLL
        for (int h = 0; h < 2; ++h) {
          const double v = inside(wm + mi * 16 + g + 8 * h) ? acc[mi][ni][2 * h + j] : 0.0;
          sum += v;
          squares += v * v;
        }
      MM_UNROLL
      for (int off = 4; off < 32; off *= 2) {  // the 8 lanes with this t (lane bits 2-4)
        sum += __shfl_xor_sync(0xffffffffu, sum, off);
        squares += __shfl_xor_sync(0xffffffffu, squares, off);
      }
      if (g == 0) {
        const int col = wn + ni * 8 + 2 * t + j;
        column_sums[warp % 2][0][col] = sum;
        column_sums[warp % 2][1][col] = squares;
      }
    }
  __syncthreads();
  for (int c = tid; c < BN; c += 128)  // (a constant step: blockDim.x cost the gather kernel 12 registers)
    if (n0 + c < N)
      for (int q = 0; q < 2; ++q) row_partial[int64_t(q) * N + n0 + c] = column_sums[0][q][c] + column_sums[1][q][c];
}

void igemm_group_moments_cuda(const double* partial, double* moments, int64_t groups, int64_t N,
                              int64_t tiles_per_group, double count, cudaStream_t stream);

}  // namespace mmengine::kernels
