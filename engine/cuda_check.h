// Checks for every CUDA runtime and cuBLAS call and for every kernel launch. Only included by
// sources compiled with CUDA.
#pragma once
#include <cublas_v2.h>
#include <cuda_runtime.h>

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

// After every <<<...>>> launch: catches bad launch configurations at once.
#define MM_LAUNCH_CHECK() CUDA_CHECK(cudaGetLastError())
