// Shared by the CPU and CUDA twins of every kernel family.
#pragma once
#include <cstdint>

#if defined(__CUDACC__)
#define MM_HD __host__ __device__ __forceinline__
#else
#define MM_HD inline
#endif

namespace mmengine::kernels {

// Reductions accumulate in double on both devices, so the twins agree closely.
template <typename T>
struct Accumulator {
  using type = double;
};

}  // namespace mmengine::kernels
