#include <cstdlib>
#include <map>
#include <mutex>
#include <string>

#include "kernels/cuda/launch.cuh"
#include "kernels/gemm.h"
#include "kernels/reduce.h"

namespace mmengine::kernels {

namespace {
// The math mode asked for on this host thread: MMENGINE_MATMUL=full|tf32 (read once per
// process), or gemm_set_tf32_cuda() (this thread's; engine/env_setting.h explains why).
bool& tf32_wanted() {
  static const bool initial = [] {
    const char* env = std::getenv("MMENGINE_MATMUL");
    const std::string v = env ? env : "full";
    MM_CHECK(v == "full" || v == "tf32", "MMENGINE_MATMUL: expected 'full' or 'tf32', got '", v, "'");
    return v == "tf32";
  }();
  thread_local bool on = initial;
  return on;
}

// One cuBLAS handle per stream, bound to it once (cublasSetStream) and kept for the process:
// a GEMM runs on the stream its launcher was given, like every other launch, and no call
// rebinds a handle another stream is using. The math mode asked for is applied when it changes.
struct BoundHandle {
  cublasHandle_t h = nullptr;
  bool tf32 = false;
};
cublasHandle_t handle(cudaStream_t stream) {
  static std::mutex mu;
  static auto* handles = new std::map<cudaStream_t, BoundHandle>;  // leaked: used until exit
  std::lock_guard<std::mutex> lock(mu);
  BoundHandle& b = (*handles)[stream];
  if (!b.h) {
    MM_CUDA_CHECK(cublasCreate(&b.h));
    MM_CUDA_CHECK(cublasSetStream(b.h, stream));
    MM_CUDA_CHECK(cublasSetMathMode(b.h, CUBLAS_DEFAULT_MATH));  // full FP32 unless TF32 is asked for
    static const bool registered = std::atexit([] {
      // Destroyed at exit, before the CUDA runtime's teardown (registered earlier), so their
      // workspaces are not reported as leaks; best effort, nothing can be reported that late.
      for (auto& kv : *handles) cublasDestroy(kv.second.h);
      handles->clear();
    }) == 0;
    (void)registered;
  }
  if (b.tf32 != tf32_wanted()) {
    MM_CUDA_CHECK(cublasSetMathMode(b.h, tf32_wanted() ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
    b.tf32 = tf32_wanted();
  }
  return b.h;
}

template <typename T>
__global__ void scale_kernel(T* c, T beta, int64_t n) {
  MM_GRID_STRIDE(i, n) c[i] = beta == T(0) ? T(0) : beta * c[i];
}
}  // namespace

void gemm_set_tf32_cuda(bool on) { tf32_wanted() = on; }
bool gemm_tf32_cuda() { return tf32_wanted(); }

template <typename T>
void gemm_cuda(bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T* A, const T* B, T beta, T* C, cudaStream_t stream) {
  if (M == 0 || N == 0) return;
  if (K == 0) {
    scale_kernel<<<grid_for(M * N), kThreads, 0, stream>>>(C, beta, M * N);
    MM_LAUNCH_CHECK();
    return;
  }
  // Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T: swap the operands.
  const cublasOperation_t opb = tb ? CUBLAS_OP_T : CUBLAS_OP_N, opa = ta ? CUBLAS_OP_T : CUBLAS_OP_N;
  const int ldb = tb ? K : N, lda = ta ? M : K;
  if constexpr (sizeof(T) == 4)
    MM_CUDA_CHECK(cublasSgemm(handle(stream), opb, opa, N, M, K, &alpha, B, ldb, A, lda, &beta, C, N));
  else
    MM_CUDA_CHECK(cublasDgemm(handle(stream), opb, opa, N, M, K, &alpha, B, ldb, A, lda, &beta, C, N));
}

template <typename T>
void gemm_batched_cuda(bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t sa, const T* B,
                       int64_t sb, T beta, T* C, int64_t sc, int64_t batch, cudaStream_t stream) {
  if (M == 0 || N == 0 || batch == 0) return;
  if (K == 0) {
    for (int64_t i = 0; i < batch; ++i) gemm_cuda(ta, tb, M, N, K, alpha, A, B, beta, C + i * sc, stream);
    return;
  }
  const cublasOperation_t opb = tb ? CUBLAS_OP_T : CUBLAS_OP_N, opa = ta ? CUBLAS_OP_T : CUBLAS_OP_N;
  const int ldb = tb ? K : N, lda = ta ? M : K;
  if constexpr (sizeof(T) == 4)
    MM_CUDA_CHECK(cublasSgemmStridedBatched(handle(stream), opb, opa, N, M, K, &alpha, B, ldb, sb, A, lda, sa, &beta, C, N, sc,
                                           static_cast<int>(batch)));
  else
    MM_CUDA_CHECK(cublasDgemmStridedBatched(handle(stream), opb, opa, N, M, K, &alpha, B, ldb, sb, A, lda, sa, &beta, C, N, sc,
                                           static_cast<int>(batch)));
}

template <typename T>
void gemm_batched_sum_cuda(bool ta, bool tb, int64_t M, int64_t N, int64_t K, const T* A, int64_t sa, const T* B,
                           int64_t sb, T* C, int64_t batch, T* workspace, cudaStream_t stream) {
  if (M == 0 || N == 0) return;
  if (batch == 0) {
    scale_kernel<<<grid_for(M * N), kThreads, 0, stream>>>(C, T(0), M * N);
    MM_LAUNCH_CHECK();
    return;
  }
  // Two launches instead of `batch`: the products side by side, then their sum in item order.
  gemm_batched_cuda(ta, tb, M, N, K, T(1), A, sa, B, sb, T(0), workspace, M * N, batch, stream);
  sum_axis_cuda(workspace, C, 1, batch, M * N, stream);
}

template <typename T>
void gemm_batched_sum_v0_cuda(bool ta, bool tb, int64_t M, int64_t N, int64_t K, const T* A, int64_t sa, const T* B,
                              int64_t sb, T* C, int64_t batch, cudaStream_t stream) {
  if (batch == 0) {
    scale_kernel<<<grid_for(M * N), kThreads, 0, stream>>>(C, T(0), M * N);
    MM_LAUNCH_CHECK();
    return;
  }
  for (int64_t i = 0; i < batch; ++i) gemm_cuda(ta, tb, M, N, K, T(1), A + i * sa, B + i * sb, i == 0 ? T(0) : T(1), C, stream);
}

template void gemm_batched_sum_cuda<float>(bool, bool, int64_t, int64_t, int64_t, const float*, int64_t, const float*,
                                           int64_t, float*, int64_t, float*, cudaStream_t);
template void gemm_batched_sum_cuda<double>(bool, bool, int64_t, int64_t, int64_t, const double*, int64_t,
                                            const double*, int64_t, double*, int64_t, double*, cudaStream_t);
template void gemm_batched_sum_v0_cuda<float>(bool, bool, int64_t, int64_t, int64_t, const float*, int64_t, const float*,
                                              int64_t, float*, int64_t, cudaStream_t);
template void gemm_batched_sum_v0_cuda<double>(bool, bool, int64_t, int64_t, int64_t, const double*, int64_t,
                                               const double*, int64_t, double*, int64_t, cudaStream_t);
template void gemm_batched_cuda<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t, const float*,
                                       int64_t, float, float*, int64_t, int64_t, cudaStream_t);
template void gemm_batched_cuda<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t,
                                        const double*, int64_t, double, double*, int64_t, int64_t, cudaStream_t);
template void gemm_cuda<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, const float*, float, float*, cudaStream_t);
template void gemm_cuda<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*, const double*, double, double*, cudaStream_t);

}  // namespace mmengine::kernels
