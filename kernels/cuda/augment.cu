#include "kernels/augment_math.h"
#include "kernels/cuda/launch.cuh"

namespace mmengine::kernels {

namespace {
// One thread per output pixel; each recomputes its image's Philox block (10 rounds of
// integer math, cheaper than a second launch).
template <typename T>
__global__ void augment_kernel(AugmentSpec s, const uint8_t* images, const T* table, T* out, int64_t total) {
  MM_GRID_STRIDE(k, total) {
    const int64_t x = k % s.width, y = (k / s.width) % s.height, c = (k / (s.width * s.height)) % s.channels,
                  i = k / (s.width * s.height * s.channels);
    out[k] = augmented_pixel(s, draw_crop_flip(s, i), images, table, i, c, y, x);
  }
}
}  // namespace

template <typename T>
void augment_batch_cuda(const AugmentSpec& s, const uint8_t* images, const T* table, T* out, cudaStream_t stream) {
  const int64_t total = s.batch * s.channels * s.height * s.width;
  if (total == 0) return;
  augment_kernel<<<grid_for(total), kThreads, 0, stream>>>(s, images, table, out, total);
  MM_LAUNCH_CHECK();
}

template void augment_batch_cuda<float>(const AugmentSpec&, const uint8_t*, const float*, float*, cudaStream_t);
template void augment_batch_cuda<double>(const AugmentSpec&, const uint8_t*, const double*, double*, cudaStream_t);

}  // namespace mmengine::kernels
