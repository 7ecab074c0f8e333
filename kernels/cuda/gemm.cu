#include <cstdlib>
#include <mutex>
#include <string>

#include "kernels/cuda/launch.cuh"
#include "kernels/gemm.h"
#include "kernels/reduce.h"

namespace mmengine::kernels {

namespace {
// The math mode asked for: MMENGINE_MATMUL=full|tf32 (read once), or gemm_set_tf32_cuda().
bool& tf32_wanted() {
  static bool on = [] {
    const char* env = std::getenv("MMENGINE_MATMUL");
    const std::string v = env ? env : "full";
    MM_CHECK(v == "full" || v == "tf32", "MMENGINE_MATMUL: expected 'full' or 'tf32', got '", v, "'");
    return v == "tf32";
  }();
  return on;
}

// The one cuBLAS handle, in the math mode asked for (applied when it changes).
cublasHandle_t handle() {
  static cublasHandle_t h = nullptr;
  static bool applied_tf32 = false;
  static std::once_flag once;
  std::call_once(once, [] {
    MM_CUDA_CHECK(cublasCreate(&h));
    MM_CUDA_CHECK(cublasSetMathMode(h, CUBLAS_DEFAULT_MATH));  // full FP32 unless TF32 is asked for
    // Destroyed at exit, before the CUDA runtime's teardown (registered earlier), so its
    // workspace is not reported as a leak; best effort, nothing can be reported that late.
    std::atexit([] { cublasDestroy(h); });
  });
  if (applied_tf32 != tf32_wanted()) {
    MM_CUDA_CHECK(cublasSetMathMode(h, tf32_wanted() ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
    applied_tf32 = tf32_wanted();
  }
  return h;
}

template <typename T>
__global__ void scale_kernel(T* c, T beta, int64_t n) {
  MM_GRID_STRIDE(i, n) c[i] = beta == T(0) ? T(0) : beta * c[i];
}
}  // namespace

void gemm_set_tf32_cuda(bool on) { tf32_wanted() = on; }
bool gemm_tf32_cuda() { return tf32_wanted(); }

template <typename T>
void gemm_cuda(bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T* A, const T* B, T beta, T* C) {
  if (M == 0 || N == 0) return;
  if (K == 0) {
    scale_kernel<<<grid_for(M * N), kThreads>>>(C, beta, M * N);
    MM_LAUNCH_CHECK();
    return;
  }
  // Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T: swap the operands.
  const cublasOperation_t opb = tb ? CUBLAS_OP_T : CUBLAS_OP_N, opa = ta ? CUBLAS_OP_T : CUBLAS_OP_N;
  const int ldb = tb ? K : N, lda = ta ? M : K;
  if constexpr (sizeof(T) == 4)
    MM_CUDA_CHECK(cublasSgemm(handle(), opb, opa, N, M, K, &alpha, B, ldb, A, lda, &beta, C, N));
  else
    MM_CUDA_CHECK(cublasDgemm(handle(), opb, opa, N, M, K, &alpha, B, ldb, A, lda, &beta, C, N));
}

template <typename T>
void gemm_batched_cuda(bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t sa, const T* B,
                       int64_t sb, T beta, T* C, int64_t sc, int64_t batch) {
  if (M == 0 || N == 0 || batch == 0) return;
  if (K == 0) {
    for (int64_t i = 0; i < batch; ++i) gemm_cuda(ta, tb, M, N, K, alpha, A, B, beta, C + i * sc);
    return;
  }
  const cublasOperation_t opb = tb ? CUBLAS_OP_T : CUBLAS_OP_N, opa = ta ? CUBLAS_OP_T : CUBLAS_OP_N;
  const int ldb = tb ? K : N, lda = ta ? M : K;
  if constexpr (sizeof(T) == 4)
    MM_CUDA_CHECK(cublasSgemmStridedBatched(handle(), opb, opa, N, M, K, &alpha, B, ldb, sb, A, lda, sa, &beta, C, N, sc,
                                           static_cast<int>(batch)));
  else
    MM_CUDA_CHECK(cublasDgemmStridedBatched(handle(), opb, opa, N, M, K, &alpha, B, ldb, sb, A, lda, sa, &beta, C, N, sc,
                                           static_cast<int>(batch)));
}

template <typename T>
void gemm_batched_sum_cuda(bool ta, bool tb, int64_t M, int64_t N, int64_t K, const T* A, int64_t sa, const T* B,
                           int64_t sb, T* C, int64_t batch, T* workspace) {
  if (M == 0 || N == 0) return;
  if (batch == 0) {
    scale_kernel<<<grid_for(M * N), kThreads>>>(C, T(0), M * N);
    MM_LAUNCH_CHECK();
    return;
  }
  // Two launches instead of `batch`: the products side by side, then their sum in item order.
  gemm_batched_cuda(ta, tb, M, N, K, T(1), A, sa, B, sb, T(0), workspace, M * N, batch);
  sum_axis_cuda(workspace, C, 1, batch, M * N);
}

template <typename T>
void gemm_batched_sum_v0_cuda(bool ta, bool tb, int64_t M, int64_t N, int64_t K, const T* A, int64_t sa, const T* B,
                              int64_t sb, T* C, int64_t batch) {
  if (batch == 0) {
    scale_kernel<<<grid_for(M * N), kThreads>>>(C, T(0), M * N);
    MM_LAUNCH_CHECK();
    return;
  }
  for (int64_t i = 0; i < batch; ++i) gemm_cuda(ta, tb, M, N, K, T(1), A + i * sa, B + i * sb, i == 0 ? T(0) : T(1), C);
}

template void gemm_batched_sum_cuda<float>(bool, bool, int64_t, int64_t, int64_t, const float*, int64_t, const float*,
                                           int64_t, float*, int64_t, float*);
template void gemm_batched_sum_cuda<double>(bool, bool, int64_t, int64_t, int64_t, const double*, int64_t,
                                            const double*, int64_t, double*, int64_t, double*);
template void gemm_batched_sum_v0_cuda<float>(bool, bool, int64_t, int64_t, int64_t, const float*, int64_t, const float*,
                                              int64_t, float*, int64_t);
template void gemm_batched_sum_v0_cuda<double>(bool, bool, int64_t, int64_t, int64_t, const double*, int64_t,
                                               const double*, int64_t, double*, int64_t);
template void gemm_batched_cuda<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t, const float*,
                                       int64_t, float, float*, int64_t, int64_t);
template void gemm_batched_cuda<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t,
                                        const double*, int64_t, double, double*, int64_t, int64_t);
template void gemm_cuda<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, const float*, float, float*);
template void gemm_cuda<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*, const double*, double, double*);

}  // namespace mmengine::kernels
