// MixMatch's augmentation of a uint8 image batch: reflect-pad by `pad`, random crop back to
// H x W, random horizontal flip with p = 0.5, then per-channel normalization through a lookup
// table (table[c * 256 + v] = (v / 255 - mean[c]) / std[c], computed once on the host, so both
// devices produce bit-identical floats).
//
// The random choices of the image in batch slot `i` come from one Philox block keyed by
// (seed, counter = step, stream = i << 16 | tag): word 0 picks the crop row, word 1 the crop
// column, both in [0, 2 * pad) as the seed's np.random.randint(0, h - new_h) does (its upper
// bound is exclusive, so the last offset is never drawn), and the low bit of word 2 the flip.
#pragma once
#ifdef MMENGINE_WITH_CUDA
#include <cuda_runtime.h>  // cudaStream_t: every CUDA launcher takes its stream last
#endif
#include <cstdint>

#include "kernels/common.h"

namespace mmengine::kernels {

struct AugmentSpec {
  int64_t batch, channels, height, width;
  int64_t pad;        // 0 with `random` false: plain normalization (evaluation)
  bool random;        // crop and flip
  uint64_t seed, step;
  uint32_t tag;       // separates the labeled stream and each of the K unlabeled views
};

// Reflect index as numpy's mode='reflect' (the edge pixel is not repeated).
MM_HD int64_t reflect_index(int64_t i, int64_t n) {
  if (n == 1) return 0;
  while (i < 0 || i >= n) i = i < 0 ? -i : 2 * (n - 1) - i;
  return i;
}

template <typename T>
void augment_batch_cpu(const AugmentSpec& spec, const uint8_t* images, const T* table, T* out);

#ifdef MMENGINE_WITH_CUDA
template <typename T>
void augment_batch_cuda(const AugmentSpec& spec, const uint8_t* images, const T* table, T* out, cudaStream_t stream);
#endif

}  // namespace mmengine::kernels
