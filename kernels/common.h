// Shared by the CPU and CUDA twins of every kernel family.
#pragma once
#include <cstdint>
#include <cstring>

#if defined(__CUDACC__)
#define MM_HD __host__ __device__ __forceinline__
#else
#define MM_HD inline
#endif

namespace mmengine::kernels {

// A float's bits and back (host, device and the emulated device alike).
MM_HD uint32_t float_bits(float f) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(f);
#else
  uint32_t b;
  std::memcpy(&b, &f, 4);
  return b;
#endif
}
MM_HD float bits_float(uint32_t b) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(b);
#else
  float f;
  std::memcpy(&f, &b, 4);
  return f;
#endif
}

// a * b and a + b rounded once each: never contracted into a fused multiply-add (nvcc
// contracts by default; the host compiler does not, CMAKE_CXX_EXTENSIONS OFF), so a device
// formula rounds as its CPU twin, or as the separate elementwise kernels it replaces.
template <typename T>
MM_HD T mul_rn(T a, T b) {
#if defined(__CUDA_ARCH__)
  if constexpr (sizeof(T) == sizeof(float)) return __fmul_rn(a, b);
  else return __dmul_rn(a, b);
#else
  return a * b;
#endif
}
template <typename T>
MM_HD T add_rn(T a, T b) {
#if defined(__CUDA_ARCH__)
  if constexpr (sizeof(T) == sizeof(float)) return __fadd_rn(a, b);
  else return __dadd_rn(a, b);
#else
  return a + b;
#endif
}

// Reductions accumulate in double on both devices, so the twins agree closely.
template <typename T>
struct Accumulator {
  using type = double;
};

}  // namespace mmengine::kernels
