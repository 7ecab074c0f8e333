// Small kernels that exercise the CUDA language itself (warp collectives, shared memory and
// barriers, atomics, launch-configuration errors): tests/test_cuda_language.cpp runs them on a
// real GPU and on the emulated device alike. Built only with CUDA (real or emulated).
#pragma once
#include <string>
#include <vector>

namespace mmengine::testing::probe {

constexpr int kWarpOps = 8;
// For 64 threads, kWarpOps results each: shfl_down 3, shfl_up 5, shfl_xor 6, shfl 7,
// shfl_down 1 width 8, ballot(odd), any(== 40), all(< 64), of v = threadIdx.x.
std::vector<int> warp_ops();
// 128 threads write their index to shared memory, sync, and read it back reversed.
std::vector<int> shared_reverse();
// grid x block threads each atomicAdd 1 to one counter.
unsigned long long atomic_count(unsigned grid, unsigned block);
// Launches an empty kernel with this configuration: cudaGetLastError's name, then the name the
// next cudaGetLastError returns (a launch error is not sticky).
std::pair<std::string, std::string> launch_error(unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
                                                 unsigned bz);
// cublasSgemm's status name for these arguments, on 4096-float operands (column-major, as
// cuBLAS sees them; trans: CUBLAS_OP_T for that operand).
std::string sgemm_status(bool trans_a, bool trans_b, int m, int n, int k, int lda, int ldb, int ldc);
// MM_CUDA_CHECK's message for a failed cuBLAS call (empty when it did not throw).
std::string cublas_check_message();
// One warp's mma_m16n8k8_tf32 (kernels/cuda/tensor_core.cuh): A [16][8], B [8][8] and C [16][8]
// row-major, A and B rounded with tf32_round on the device; returns D [16][8] row-major.
std::vector<float> mma_tf32(const std::vector<float>& a, const std::vector<float>& b, const std::vector<float>& c);
// The same through mma_m16n8k16_bf16: A [16][16], B [16][8] (rounded to bf16), C [16][8].
std::vector<float> mma_bf16(const std::vector<float>& a, const std::vector<float>& b, const std::vector<float>& c);
// Undefined behaviour on a GPU; the emulator aborts naming the kernel and the line.
void divergent_barrier();
void divergent_shuffle();

}  // namespace mmengine::testing::probe
