#include "kernels/augment_math.h"

namespace mmengine::kernels {

template <typename T>
void augment_batch_cpu(const AugmentSpec& s, const uint8_t* images, const T* table, T* out) {
  for (int64_t i = 0; i < s.batch; ++i) {
    const CropFlip cf = draw_crop_flip(s, i);
    for (int64_t c = 0; c < s.channels; ++c)
      for (int64_t y = 0; y < s.height; ++y)
        for (int64_t x = 0; x < s.width; ++x)
          out[((i * s.channels + c) * s.height + y) * s.width + x] = augmented_pixel(s, cf, images, table, i, c, y, x);
  }
}

template void augment_batch_cpu<float>(const AugmentSpec&, const uint8_t*, const float*, float*);
template void augment_batch_cpu<double>(const AugmentSpec&, const uint8_t*, const double*, double*);

}  // namespace mmengine::kernels
