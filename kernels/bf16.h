// bfloat16 storage for the activations of `--precision bf16`: 1 sign, 8 exponent and 7
// mantissa bits, i.e. the high half of a float32. Arithmetic happens in float: a bf16 converts
// to float exactly (implicitly); a float converts to bf16 rounded to nearest, ties to even (as
// cvt.rn.bf16.f32 / __float2bfloat16_rn round), overflow to infinity, NaN kept NaN (quieted).
// One definition for host, device and the emulated device, integer operations only, so every
// twin rounds alike. A bf16 value is exact in TF32 (10 mantissa bits), so the TF32 tensor-core
// kernels multiply bf16 operands exactly.
#pragma once
#include <cstdint>

#include "kernels/common.h"

namespace mmengine::kernels {

// The bf16 bits of a float's bits: round to nearest even on the low 16 bits.
MM_HD uint16_t bf16_round_bits(uint32_t f) {
  if ((f & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((f >> 16) | 0x0040u);  // NaN: quiet
  return static_cast<uint16_t>((f + 0x7fffu + ((f >> 16) & 1u)) >> 16);
}

struct bf16 {
  uint16_t bits;
  bf16() = default;
  MM_HD bf16(float f) : bits(bf16_round_bits(float_bits(f))) {}
  MM_HD operator float() const { return bits_float(static_cast<uint32_t>(bits) << 16); }
};
static_assert(sizeof(bf16) == 2, "bf16 is two bytes");

// The float a value becomes when stored as bf16.
MM_HD float bf16_round(float f) { return static_cast<float>(bf16(f)); }

// The arithmetic type of a storage type: float for bf16, the type itself otherwise (the type of
// a BatchNorm's parameters and statistics, of a convolution's weights, for activations `A`).
template <typename A>
struct Compute {
  using type = A;
};
template <>
struct Compute<bf16> {
  using type = float;
};
template <typename A>
using compute_t = typename Compute<A>::type;

}  // namespace mmengine::kernels
