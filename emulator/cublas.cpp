// The cuBLAS stand-in (see include/cublas_v2.h).
#include <algorithm>
#include <cstdio>

#include "cublas_v2.h"
#include "mmemu_counts.h"
#include "emulator/memory_registry.h"
#include "emulator/stream_state.h"
#ifdef MMENGINE_WITH_BLAS
#include <cblas.h>
#endif

struct mmemu_cublas {
  cublasMath_t math = CUBLAS_DEFAULT_MATH;
  cudaStream_t stream = nullptr;
};

cublasStatus_t cublasCreate(cublasHandle_t* handle) {
  if (!handle) return CUBLAS_STATUS_INVALID_VALUE;
  *handle = new mmemu_cublas;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasDestroy(cublasHandle_t handle) {
  if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
  delete handle;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasSetStream(cublasHandle_t handle, cudaStream_t stream) {
  if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
  handle->stream = stream;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasSetMathMode(cublasHandle_t handle, cublasMath_t mode) {
  if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (mode != CUBLAS_DEFAULT_MATH && mode != CUBLAS_TENSOR_OP_MATH && mode != CUBLAS_PEDANTIC_MATH &&
      mode != CUBLAS_TF32_TENSOR_OP_MATH)
    return CUBLAS_STATUS_INVALID_VALUE;
  handle->math = mode;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasGetMathMode(cublasHandle_t handle, cublasMath_t* mode) {
  if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (!mode) return CUBLAS_STATUS_INVALID_VALUE;
  *mode = handle->math;
  return CUBLAS_STATUS_SUCCESS;
}

const char* cublasGetStatusName(cublasStatus_t status) {
  switch (status) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_MAPPING_ERROR: return "CUBLAS_STATUS_MAPPING_ERROR";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
  }
  return "CUBLAS_STATUS_UNKNOWN";
}
const char* cublasGetStatusString(cublasStatus_t status) {
  switch (status) {
    case CUBLAS_STATUS_SUCCESS: return "success";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "the library was not initialized";
    case CUBLAS_STATUS_ALLOC_FAILED: return "the resource allocation failed";
    case CUBLAS_STATUS_INVALID_VALUE: return "an invalid numeric value was used as an argument";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "an absent device architectural feature is required";
    case CUBLAS_STATUS_MAPPING_ERROR: return "an access to GPU memory space failed";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "the GPU program failed to execute";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "an internal operation failed";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "the functionality requested is not supported";
  }
  return "unknown error";
}

namespace {

bool valid_op(cublasOperation_t op) { return op == CUBLAS_OP_N || op == CUBLAS_OP_T || op == CUBLAS_OP_C; }

// A column-major rows x cols operand with leading dimension ld, `batch` of them `stride` apart,
// must lie inside one device allocation (cuBLAS would read or write out of bounds).
template <typename T>
bool inside(const T* p, long long rows, long long cols, long long ld, long long stride, long long batch) {
  if (rows == 0 || cols == 0 || batch == 0) return true;
  const T* lo = p + std::min(0LL, (batch - 1) * stride);
  const T* hi = p + std::max(0LL, (batch - 1) * stride) + (cols - 1) * ld + rows;  // one past the last element
  return mmemu::device_range(lo, static_cast<size_t>(hi - lo) * sizeof(T));
}

template <typename T>
void gemm_host(cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, T alpha, const T* A, int lda, const T* B,
               int ldb, T beta, T* C, int ldc) {
#ifdef MMENGINE_WITH_BLAS
  const CBLAS_TRANSPOSE a = ta == CUBLAS_OP_N ? CblasNoTrans : CblasTrans, b = tb == CUBLAS_OP_N ? CblasNoTrans : CblasTrans;
  if constexpr (sizeof(T) == 4)
    cblas_sgemm(CblasColMajor, a, b, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
  else
    cblas_dgemm(CblasColMajor, a, b, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
#else
  for (int j = 0; j < n; ++j)
    for (int i = 0; i < m; ++i) {
      double acc = 0;
      for (int l = 0; l < k; ++l) {
        const T a = ta == CUBLAS_OP_N ? A[i + static_cast<long long>(l) * lda] : A[l + static_cast<long long>(i) * lda];
        const T b = tb == CUBLAS_OP_N ? B[l + static_cast<long long>(j) * ldb] : B[j + static_cast<long long>(l) * ldb];
        acc += static_cast<double>(a) * b;
      }
      T& c = C[i + static_cast<long long>(j) * ldc];
      c = static_cast<T>(alpha * acc + (beta == T(0) ? T(0) : beta * c));  // beta = 0: C may hold NaN
    }
#endif
}

template <typename T>
cublasStatus_t gemm(const char* name, cublasHandle_t handle, cublasOperation_t ta, cublasOperation_t tb, int m, int n,
                    int k, const T* alpha, const T* A, int lda, long long sa, const T* B, int ldb, long long sb,
                    const T* beta, T* C, int ldc, long long sc, int batch) {
  if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
  // The checks cuBLAS documents for gemm and gemmStridedBatched.
  if (!valid_op(ta) || !valid_op(tb) || m < 0 || n < 0 || k < 0 || batch < 0 || !alpha || !beta ||
      lda < std::max(1, ta == CUBLAS_OP_N ? m : k) || ldb < std::max(1, tb == CUBLAS_OP_N ? k : n) ||
      ldc < std::max(1, m))
    return CUBLAS_STATUS_INVALID_VALUE;
  if (m == 0 || n == 0 || batch == 0) {
    if (!mmemu::capturing(handle->stream)) mmemu::count_work(handle->stream, mmemu::Work::Gemm);
    return CUBLAS_STATUS_SUCCESS;
  }
  const long long arows = ta == CUBLAS_OP_N ? m : k, acols = ta == CUBLAS_OP_N ? k : m;
  const long long brows = tb == CUBLAS_OP_N ? k : n, bcols = tb == CUBLAS_OP_N ? n : k;
  const bool reads_ab = k > 0 && *alpha != T(0);
  const char* bad = !inside(C, m, n, ldc, sc, batch)                        ? "C"
                    : reads_ab && !inside(A, arows, acols, lda, sa, batch) ? "A"
                    : reads_ab && !inside(B, brows, bcols, ldb, sb, batch) ? "B"
                                                                           : nullptr;
  if (bad) {
    std::fprintf(stderr,
                 "mmengine CUDA emulator: %s(m=%d, n=%d, k=%d, lda=%d, ldb=%d, ldc=%d, batch=%d): operand %s reaches "
                 "outside its device allocation\n",
                 name, m, n, k, lda, ldb, ldc, batch, bad);
    return CUBLAS_STATUS_EXECUTION_FAILED;
  }
  // The product, now or (on a capturing stream) when the graph runs; the scalars are read now,
  // as cuBLAS reads host-pointer scalars when the call is made.
  auto run = [=, a = *alpha, b = *beta](cudaStream_t s) {
    mmemu::count_work(s, mmemu::Work::Gemm);
    for (int i = 0; i < batch; ++i) {
      T* c = C + i * sc;
      if (k == 0 || a == T(0)) {  // C = beta C, never reading A or B
        for (int j = 0; j < n; ++j)
          for (int r = 0; r < m; ++r) {
            T& x = c[r + static_cast<long long>(j) * ldc];
            x = b == T(0) ? T(0) : b * x;
          }
        continue;
      }
      gemm_host(ta, tb, m, n, k, a, A + i * sa, lda, B + i * sb, ldb, b, c, ldc);
    }
  };
  if (mmemu::capturing(handle->stream))
    mmemu::record_work(handle->stream, run);
  else
    run(handle->stream);
  return CUBLAS_STATUS_SUCCESS;
}

}  // namespace

cublasStatus_t cublasSgemm(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                           const float* alpha, const float* A, int lda, const float* B, int ldb, const float* beta,
                           float* C, int ldc) {
  return gemm("cublasSgemm", h, ta, tb, m, n, k, alpha, A, lda, 0, B, ldb, 0, beta, C, ldc, 0, 1);
}
cublasStatus_t cublasDgemm(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                           const double* alpha, const double* A, int lda, const double* B, int ldb, const double* beta,
                           double* C, int ldc) {
  return gemm("cublasDgemm", h, ta, tb, m, n, k, alpha, A, lda, 0, B, ldb, 0, beta, C, ldc, 0, 1);
}
cublasStatus_t cublasSgemmStridedBatched(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                                         const float* alpha, const float* A, int lda, long long sa, const float* B,
                                         int ldb, long long sb, const float* beta, float* C, int ldc, long long sc,
                                         int batch) {
  return gemm("cublasSgemmStridedBatched", h, ta, tb, m, n, k, alpha, A, lda, sa, B, ldb, sb, beta, C, ldc, sc, batch);
}
cublasStatus_t cublasDgemmStridedBatched(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n,
                                         int k, const double* alpha, const double* A, int lda, long long sa,
                                         const double* B, int ldb, long long sb, const double* beta, double* C, int ldc,
                                         long long sc, int batch) {
  return gemm("cublasDgemmStridedBatched", h, ta, tb, m, n, k, alpha, A, lda, sa, B, ldb, sb, beta, C, ldc, sc, batch);
}
