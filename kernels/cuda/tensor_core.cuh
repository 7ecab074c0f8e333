// Tensor-core instructions as small device functions: every inline PTX of the project lives
// here, each with an emulated twin (used where __CUDA_ARCH__ is not defined, i.e. by the CUDA
// emulator of MMENGINE_CUDA=EMULATED builds) that follows the fragment layouts of the PTX ISA
// ("Matrix Fragments for mma.m16n8k8", .tf32; "for mma.m16n8k16 with floating point type",
// .bf16), so tensor-core kernels run in CI too.
// tests/test_cuda_language.cpp checks the fragment product against a plain one.
#pragma once
#include <cstdint>

#include "kernels/common.h"

namespace mmengine::kernels {

// cvt.rna.tf32.f32 on the bits of a float: round to 10 explicit mantissa bits, ties away from
// zero; the low 13 bits of the result are zero. NaN stays NaN, infinities stay infinite.
MM_HD uint32_t tf32_round_bits(uint32_t f) {
  if ((f & 0x7f800000u) == 0x7f800000u) return (f & 0x007fffffu) ? 0x7fffffffu : f;
  return (f + 0x1000u) & 0xffffe000u;  // sign-magnitude: adding half an ulp rounds ties away
}

// The device functions exist where CUDA source is compiled: by nvcc, or against the emulator
// (whose cuda_runtime.h defines MMEMU_LAUNCH). tf32_round_bits above is for host code too.
#if defined(__CUDACC__) || defined(MMEMU_LAUNCH)
#if defined(__CUDACC__)
#define MM_DEVICE __device__ __forceinline__
#else
#define MM_DEVICE inline
#endif

MM_DEVICE uint32_t tf32_round(float x) {
#if defined(__CUDA_ARCH__)
  uint32_t r;
  asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(r) : "f"(x));
  return r;
#else
  return tf32_round_bits(float_bits(x));
#endif
}

// 3xTF32 ("split") operands: a float v as hi + lo, both TF32 (hi = v rounded, lo = the rest
// rounded; v - hi is exact; |v - hi - lo| <= 2^-22 |v| for |v| >= 2^-115, <= 2^-137 absolute
// below), so that a_hi b_hi + a_hi b_lo + a_lo b_hi gives a product to ~2^-21 relative (a_lo b_lo,
// ~2^-22, is left out): FP32-class products on TF32 tensor cores. Non-finite: an infinite v, or a
// finite |v| >= 0x1.ffep127 whose hi rounds to infinity, gives lo = NaN or -hi, so the products
// are NaN where FP32's could be infinite (non-finite either way); NaN stays NaN. `bits` holds v's
// float bits on entry and hi's on exit.
MM_DEVICE uint32_t tf32_split(uint32_t& bits) {
  const float v = bits_float(bits);
  const uint32_t hi = tf32_round(v);
  bits = hi;
  return tf32_round(v - bits_float(hi));
}

// D = A B + C for one warp: A 16x8 (row-major fragments), B 8x8 (column-major), C and D 16x8,
// float accumulation, TF32 inputs (as tf32_round returns them). With g = lane / 4 and
// t = lane % 4, lane holds
//   a[0] = A[g][t], a[1] = A[g+8][t], a[2] = A[g][t+4], a[3] = A[g+8][t+4]
//   b[0] = B[t][g], b[1] = B[t+4][g]
//   c[i], d[i] = C[g + 8 (i / 2)][2 t + i % 2]
// Every lane of the warp must call it (mma.sync.aligned).
MM_DEVICE void mma_m16n8k8_tf32(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2], const float (&c)[4]) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile(
      "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%10, %11, %12, %13};\n"
      : "=f"(d[0]), "=f"(d[1]), "=f"(d[2]), "=f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]), "f"(c[0]), "f"(c[1]), "f"(c[2]),
        "f"(c[3]));
#else
  // The emulated twin: each lane gathers rows g and g + 8 of A and columns 2t and 2t + 1 of B
  // from the lanes that hold them, with the layouts above, and sums in double (the hardware's
  // order of float additions is unspecified; exact products of TF32 values, one rounding).
  const unsigned full = 0xffffffffu;
  const int lane = static_cast<int>(threadIdx.x % 32), g = lane / 4, t = lane % 4;
  auto value = [](uint32_t bits) {
    return static_cast<double>(bits_float(bits & 0xffffe000u));  // the tensor core reads only the TF32 bits
  };
  double arow[2][8], bcol[2][8];
  for (int k = 0; k < 4; ++k) {
    arow[0][k] = value(__shfl_sync(full, a[0], g * 4 + k));
    arow[1][k] = value(__shfl_sync(full, a[1], g * 4 + k));
    arow[0][k + 4] = value(__shfl_sync(full, a[2], g * 4 + k));
    arow[1][k + 4] = value(__shfl_sync(full, a[3], g * 4 + k));
    for (int j = 0; j < 2; ++j) {
      bcol[j][k] = value(__shfl_sync(full, b[0], (2 * t + j) * 4 + k));
      bcol[j][k + 4] = value(__shfl_sync(full, b[1], (2 * t + j) * 4 + k));
    }
  }
  for (int i = 0; i < 4; ++i) {
    double acc = c[i];
    for (int k = 0; k < 8; ++k) acc += arow[i / 2][k] * bcol[i % 2][k];
    d[i] = static_cast<float>(acc);
  }
#endif
}

// Two bf16 values in one register, as the .bf16 mma fragments hold them: `lo` (the smaller k) in
// the low half. The arguments are the float bits of bf16 values (low 16 bits zero; they are
// dropped either way).
MM_DEVICE uint32_t pack_bf16x2(uint32_t lo, uint32_t hi) { return (lo >> 16) | (hi & 0xffff0000u); }

// D = A B + C for one warp: A 16x16 (row-major fragments), B 16x8 (column-major), C and D 16x8,
// float accumulation, bf16 inputs packed two per register (pack_bf16x2). With g = lane / 4 and
// t = lane % 4, lane holds (each register: k and k + 1)
//   a[0] = A[g][2t, 2t+1], a[1] = A[g+8][2t, 2t+1], a[2] = A[g][2t+8, 2t+9], a[3] = A[g+8][2t+8, 2t+9]
//   b[0] = B[2t, 2t+1][g], b[1] = B[2t+8, 2t+9][g]
//   c[i], d[i] = C[g + 8 (i / 2)][2 t + i % 2]
// Every lane of the warp must call it (mma.sync.aligned).
MM_DEVICE void mma_m16n8k16_bf16(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2], const float (&c)[4]) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%10, %11, %12, %13};\n"
      : "=f"(d[0]), "=f"(d[1]), "=f"(d[2]), "=f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]), "f"(c[0]), "f"(c[1]), "f"(c[2]),
        "f"(c[3]));
#else
  // The emulated twin: as mma_m16n8k8_tf32's, with the .bf16 layouts above (exact products of
  // bf16 values, summed in double, one rounding).
  const unsigned full = 0xffffffffu;
  const int lane = static_cast<int>(threadIdx.x % 32), g = lane / 4, t = lane % 4;
  auto half = [](uint32_t reg, int which) {
    return static_cast<double>(bits_float(which == 0 ? reg << 16 : reg & 0xffff0000u));
  };
  double arow[2][16], bcol[2][16];
  for (int q = 0; q < 4; ++q) {  // the lanes of this row group (A) / these columns (B) hold k = 2q, 2q+1, 2q+8, 2q+9
    const uint32_t r0 = __shfl_sync(full, a[0], g * 4 + q), r1 = __shfl_sync(full, a[1], g * 4 + q);
    const uint32_t r2 = __shfl_sync(full, a[2], g * 4 + q), r3 = __shfl_sync(full, a[3], g * 4 + q);
    for (int h = 0; h < 2; ++h) {
      arow[0][2 * q + h] = half(r0, h);
      arow[1][2 * q + h] = half(r1, h);
      arow[0][2 * q + 8 + h] = half(r2, h);
      arow[1][2 * q + 8 + h] = half(r3, h);
    }
    for (int j = 0; j < 2; ++j) {
      const uint32_t b0 = __shfl_sync(full, b[0], (2 * t + j) * 4 + q), b1 = __shfl_sync(full, b[1], (2 * t + j) * 4 + q);
      for (int h = 0; h < 2; ++h) {
        bcol[j][2 * q + h] = half(b0, h);
        bcol[j][2 * q + 8 + h] = half(b1, h);
      }
    }
  }
  for (int i = 0; i < 4; ++i) {
    double acc = c[i];
    for (int k = 0; k < 16; ++k) acc += arow[i / 2][k] * bcol[i % 2][k];
    d[i] = static_cast<float>(acc);
  }
#endif
}
// One k-step of a warp's 2 x NT tile of m16n8k8 products in 3xTF32: af and bf hold the operands'
// float bits; they are split (tf32_split), the two cross products hi x lo and lo x hi are added
// to acc, and af, bf are left holding the hi parts for the caller's hi x hi product (last, so
// the small terms are summed first).
template <int NT>
MM_DEVICE void mma_split_cross_terms(float (&acc)[2][NT][4], uint32_t (&af)[2][4], uint32_t (&bf)[NT][2]) {
  uint32_t al[2][4], bl[NT][2];
  for (int mi = 0; mi < 2; ++mi)
    for (int i = 0; i < 4; ++i) al[mi][i] = tf32_split(af[mi][i]);
  for (int ni = 0; ni < NT; ++ni)
    for (int i = 0; i < 2; ++i) bl[ni][i] = tf32_split(bf[ni][i]);
  for (int mi = 0; mi < 2; ++mi)
    for (int ni = 0; ni < NT; ++ni) {
      mma_m16n8k8_tf32(acc[mi][ni], af[mi], bl[ni], acc[mi][ni]);
      mma_m16n8k8_tf32(acc[mi][ni], al[mi], bf[ni], acc[mi][ni]);
    }
}
#endif  // __CUDACC__ || MMEMU_LAUNCH

}  // namespace mmengine::kernels
