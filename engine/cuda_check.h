// Checks for every CUDA runtime and cuBLAS call and for every kernel launch. Only included by
// sources compiled with CUDA.
#pragma once
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstdlib>
#include <string>

#include "engine/error.h"

#define CUDA_CHECK(expr)                                                                       \
  do {                                                                                         \
    cudaError_t mm_err_ = (expr);                                                              \
    if (mm_err_ != cudaSuccess)                                                                \
      ::mmengine::throw_error(__FILE__, __LINE__,                                              \
                              std::string("CUDA call failed: ") + #expr + ": " +               \
                                  cudaGetErrorName(mm_err_) + " (" + cudaGetErrorString(mm_err_) + ")"); \
  } while (0)

#define CUBLAS_CHECK(expr)                                                                     \
  do {                                                                                         \
    cublasStatus_t mm_st_ = (expr);                                                            \
    if (mm_st_ != CUBLAS_STATUS_SUCCESS)                                                       \
      ::mmengine::throw_error(__FILE__, __LINE__,                                              \
                              std::string("cuBLAS call failed: ") + #expr + ": " +             \
                                  cublasGetStatusString(mm_st_));                              \
  } while (0)

namespace mmengine {
// MMENGINE_SYNC_LAUNCH=1 makes every launch check wait for the kernel, so a fault inside a
// kernel is reported at its own launch (file and line) rather than at the next copy. Read once.
inline bool sync_every_launch() {
  static const bool on = [] {
    const char* v = std::getenv("MMENGINE_SYNC_LAUNCH");
    return v && *v && std::string(v) != "0";
  }();
  return on;
}
}  // namespace mmengine

// After every <<<...>>> launch: catches bad launch configurations at once, and with
// MMENGINE_SYNC_LAUNCH=1 also faults inside the kernel.
#define MM_LAUNCH_CHECK()                                                    \
  do {                                                                       \
    CUDA_CHECK(cudaGetLastError());                                          \
    if (::mmengine::sync_every_launch()) CUDA_CHECK(cudaDeviceSynchronize()); \
  } while (0)
