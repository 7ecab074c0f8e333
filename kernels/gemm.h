// Row-major GEMM: C[M, N] = alpha * op(A) * op(B) + beta * C, where op(A) is [M, K] (A stored
// [K, M] when trans_a) and op(B) is [K, N] (B stored [N, K] when trans_b). With beta = 0, C is
// overwritten (it may hold NaN). CPU: OpenBLAS when built with it, else a blocked loop.
// CUDA: cuBLAS in full FP32/FP64 precision, unless MMENGINE_MATMUL=tf32 or
// gemm_set_tf32_cuda(true) lets float GEMMs round their inputs to TF32 on the tensor cores
// (about 3e-4 relative error; float64 unchanged; the cuDNN comparison path then allows TF32
// too, engine/cuda/conv_cudnn.h).
#pragma once
#ifdef MMENGINE_WITH_CUDA
#include <cuda_runtime.h>  // cudaStream_t: every CUDA launcher takes its stream last
#endif
#include <cstdint>

namespace mmengine::kernels {

template <typename T>
void gemm_cpu(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, const T* B, T beta, T* C);

// `batch` independent GEMMs; operand i starts at A + i * stride_a etc. (a stride of 0 reuses
// one operand, e.g. the convolution weight for every image).
template <typename T>
void gemm_batched_cpu(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t stride_a,
                      const T* B, int64_t stride_b, T beta, T* C, int64_t stride_c, int64_t batch);

// C = sum over i of op(A_i) op(B_i) (the convolution weight gradient over the images), summed
// in item order whatever the threading, so the result is deterministic. `workspace` holds at
// least batch * M * N elements on the device of the operands: the CUDA version computes the
// batch products there in one strided-batched GEMM and sums them with sum_axis (double
// accumulation); the CPU version uses partials over a fixed number of item chunks instead (the
// same bits whatever the thread count) and ignores it (may be null).
template <typename T>
void gemm_batched_sum_cpu(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const T* A, int64_t stride_a,
                          const T* B, int64_t stride_b, T* C, int64_t batch, T* workspace);

#ifdef MMENGINE_WITH_CUDA
// The math mode of every later CUDA float GEMM issued by this host thread: full FP32 (the
// default) or TF32; every thread starts at MMENGINE_MATMUL=full|tf32 (engine/env_setting.h).
void gemm_set_tf32_cuda(bool on);
bool gemm_tf32_cuda();
template <typename T>
void gemm_batched_sum_cuda(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const T* A, int64_t stride_a,
                           const T* B, int64_t stride_b, T* C, int64_t batch, T* workspace, cudaStream_t stream);
// The first GPU version of the same op, kept as the benchmark baseline: one GEMM per item,
// accumulated into C (beta = 1); `batch` launches of small GEMMs.
template <typename T>
void gemm_batched_sum_v0_cuda(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const T* A, int64_t stride_a,
                              const T* B, int64_t stride_b, T* C, int64_t batch, cudaStream_t stream);
template <typename T>
void gemm_batched_cuda(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t stride_a,
                       const T* B, int64_t stride_b, T beta, T* C, int64_t stride_c, int64_t batch, cudaStream_t stream);
template <typename T>
void gemm_cuda(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, const T* B, T beta, T* C, cudaStream_t stream);
#endif

}  // namespace mmengine::kernels
