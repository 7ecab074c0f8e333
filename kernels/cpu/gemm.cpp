#include "kernels/gemm.h"

#include <algorithm>
#include <vector>

#ifdef MMENGINE_WITH_BLAS
#include <cblas.h>
#endif

namespace mmengine::kernels {

namespace {
// The fallback when OpenBLAS is absent: pack op(A) and op(B) into row-major [M,K] and [K,N]
// copies, then an i-k-j loop over cache blocks (the inner loop runs along contiguous rows of
// B and C, which the compiler vectorizes).
template <typename T>
void gemm_blocked(bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T* A, const T* B, T beta, T* C) {
  std::vector<T> a(M * K), b(K * N);
  for (int64_t i = 0; i < M; ++i)
    for (int64_t k = 0; k < K; ++k) a[i * K + k] = ta ? A[k * M + i] : A[i * K + k];
  for (int64_t k = 0; k < K; ++k)
    for (int64_t j = 0; j < N; ++j) b[k * N + j] = tb ? B[j * K + k] : B[k * N + j];
  for (int64_t i = 0; i < M * N; ++i) C[i] = beta == T(0) ? T(0) : beta * C[i];  // beta 0 must clear NaN
  constexpr int64_t kBlock = 64;
#pragma omp parallel for schedule(static) if (M * N * K > (1 << 18))
  for (int64_t i0 = 0; i0 < M; i0 += kBlock)
    for (int64_t k0 = 0; k0 < K; k0 += kBlock)
      for (int64_t j0 = 0; j0 < N; j0 += kBlock) {
        int64_t i1 = std::min(M, i0 + kBlock), k1 = std::min(K, k0 + kBlock), j1 = std::min(N, j0 + kBlock);
        for (int64_t i = i0; i < i1; ++i)
          for (int64_t k = k0; k < k1; ++k) {
            T aik = alpha * a[i * K + k];
            const T* brow = &b[k * N];
            T* crow = &C[i * N];
            for (int64_t j = j0; j < j1; ++j) crow[j] += aik * brow[j];
          }
      }
}
}  // namespace

namespace {
// OpenBLAS's own thread pool fights OpenMP's: the batched forms call it from OpenMP threads,
// one GEMM per thread, so its pool is set to one thread for the whole process.
void single_threaded_blas() {
#ifdef MMENGINE_WITH_BLAS
  static const bool once = [] {
    openblas_set_num_threads(1);
    return true;
  }();
  (void)once;
#endif
}
}  // namespace

template <typename T>
void gemm_cpu(bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T* A, const T* B, T beta, T* C) {
  if (M == 0 || N == 0) return;
  if (K == 0) {
    for (int64_t i = 0; i < M * N; ++i) C[i] = beta == T(0) ? T(0) : beta * C[i];
    return;
  }
#ifdef MMENGINE_WITH_BLAS
  if (beta == T(0)) std::fill(C, C + M * N, T(0));  // BLAS may read C even when beta is 0
  const auto opa = ta ? CblasTrans : CblasNoTrans, opb = tb ? CblasTrans : CblasNoTrans;
  const int lda = ta ? M : K, ldb = tb ? K : N;
  if constexpr (sizeof(T) == 4)
    cblas_sgemm(CblasRowMajor, opa, opb, M, N, K, alpha, A, lda, B, ldb, beta, C, N);
  else
    cblas_dgemm(CblasRowMajor, opa, opb, M, N, K, alpha, A, lda, B, ldb, beta, C, N);
#else
  gemm_blocked(ta, tb, M, N, K, alpha, A, B, beta, C);
#endif
}

// Parallel over the batch, one single-threaded GEMM per item: the per-image GEMMs of a
// convolution are small, and splitting each across threads costs more in synchronization
// than it gains (measured: see docs/perf-notes.md).
template <typename T>
void gemm_batched_cpu(bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t sa, const T* B,
                      int64_t sb, T beta, T* C, int64_t sc, int64_t batch) {
  single_threaded_blas();
#pragma omp parallel for schedule(static) if (batch > 1)
  for (int64_t i = 0; i < batch; ++i) gemm_cpu(ta, tb, M, N, K, alpha, A + i * sa, B + i * sb, beta, C + i * sc);
}

template <typename T>
void gemm_batched_sum_cpu(bool ta, bool tb, int64_t M, int64_t N, int64_t K, const T* A, int64_t sa, const T* B,
                          int64_t sb, T* C, int64_t batch, T* /*workspace: not needed here*/) {
  single_threaded_blas();
  // The items in a fixed number of contiguous chunks (not one per thread), each summed into its
  // own partial, the partials added in chunk order: the result depends on neither scheduling nor
  // the thread count (a run gives the same bits on 2 cores, 16 cores, or as one of N runs sharing
  // a machine's cores).
  constexpr int64_t kChunks = 32;
  const int64_t chunks = std::min<int64_t>(kChunks, std::max<int64_t>(batch, 1));
  std::vector<std::vector<T>> partial(chunks, std::vector<T>(M * N, T(0)));
#pragma omp parallel for schedule(static) if (chunks > 1)
  for (int64_t t = 0; t < chunks; ++t) {
    const int64_t begin = batch * t / chunks, end = batch * (t + 1) / chunks;
    for (int64_t i = begin; i < end; ++i)
      gemm_cpu(ta, tb, M, N, K, T(1), A + i * sa, B + i * sb, i == begin ? T(0) : T(1), partial[t].data());
  }
  std::fill(C, C + M * N, T(0));
  for (int64_t t = 0; t < chunks; ++t)
    for (int64_t k = 0; k < M * N; ++k) C[k] += partial[t][k];
}

template void gemm_batched_sum_cpu<float>(bool, bool, int64_t, int64_t, int64_t, const float*, int64_t, const float*,
                                          int64_t, float*, int64_t, float*);
template void gemm_batched_sum_cpu<double>(bool, bool, int64_t, int64_t, int64_t, const double*, int64_t, const double*,
                                           int64_t, double*, int64_t, double*);

template void gemm_batched_cpu<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t, const float*,
                                      int64_t, float, float*, int64_t, int64_t);
template void gemm_batched_cpu<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t,
                                       const double*, int64_t, double, double*, int64_t, int64_t);
template void gemm_cpu<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, const float*, float, float*);
template void gemm_cpu<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*, const double*, double, double*);

}  // namespace mmengine::kernels
