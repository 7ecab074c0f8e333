// The per-pixel rule of kernels/augment.h, shared by both devices.
#pragma once
#include "kernels/philox.h"
#include "kernels/augment.h"

namespace mmengine::kernels {

struct CropFlip {
  int64_t top, left;
  bool flip;
};

MM_HD CropFlip draw_crop_flip(const AugmentSpec& s, int64_t slot) {
  if (!s.random) return CropFlip{s.pad, s.pad, false};
  PhiloxOut r = philox4x32(s.seed, s.step, (static_cast<uint64_t>(slot) << 16) | s.tag);
  const uint32_t range = static_cast<uint32_t>(2 * s.pad);
  return CropFlip{range ? static_cast<int64_t>(r.v[0] % range) : 0, range ? static_cast<int64_t>(r.v[1] % range) : 0,
                  (r.v[2] & 1u) != 0};
}

// Output element (slot, c, y, x) of the augmented batch.
template <typename T>
MM_HD T augmented_pixel(const AugmentSpec& s, const CropFlip& cf, const uint8_t* images, const T* table, int64_t slot,
                        int64_t c, int64_t y, int64_t x) {
  const int64_t sx = cf.flip ? s.width - 1 - x : x;  // flip the crop, as the seed flips after cropping
  const int64_t py = y + cf.top - s.pad, px = sx + cf.left - s.pad;  // position in the unpadded image
  const int64_t iy = reflect_index(py, s.height), ix = reflect_index(px, s.width);
  const uint8_t v = images[((slot * s.channels + c) * s.height + iy) * s.width + ix];
  return table[c * 256 + v];
}

}  // namespace mmengine::kernels
