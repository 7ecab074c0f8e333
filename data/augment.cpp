#include "data/augment.h"

#include "engine/dispatch.h"
#include "engine/profiler.h"
#include "engine/memory.h"
#include "kernels/augment.h"

namespace mmengine {

std::vector<uint8_t> gather_images(const ImageDataset& d, const std::vector<int64_t>& indices) {
  std::vector<uint8_t> out(indices.size() * d.image_size());
  for (size_t i = 0; i < indices.size(); ++i) {
    MM_CHECK(indices[i] >= 0 && indices[i] < d.count, "image index ", indices[i], " out of range for ", d.name);
    std::copy(d.image(indices[i]), d.image(indices[i]) + d.image_size(), out.begin() + i * d.image_size());
  }
  return out;
}

namespace {
// table[c * 256 + v] = (v / 255 - mean[c]) / std[c], in the output dtype.
Tensor normalization_table(const ImageDataset& d, Device device, DType dtype) {
  MM_CHECK(static_cast<int64_t>(d.mean.size()) == d.channels && static_cast<int64_t>(d.std.size()) == d.channels,
           d.name, ": per-channel mean/std missing");
  std::vector<double> t(d.channels * 256);
  for (int64_t c = 0; c < d.channels; ++c)
    for (int v = 0; v < 256; ++v) {
      // Rounded to float first: the seed normalizes in float32 numpy arithmetic.
      const float x = (static_cast<float>(v) / 255.0f - d.mean[c]) / d.std[c];
      t[c * 256 + v] = x;
    }
  return Tensor::from_vector(t, {d.channels, 256}, dtype, device);
}
}  // namespace

Tensor augment_images(const std::vector<uint8_t>& batch, int64_t B, const ImageDataset& d, const AugmentDraw& draw,
                      Device device, DType dtype) {
  MM_PROFILE("augment", device);
  MM_CHECK(static_cast<int64_t>(batch.size()) == B * d.image_size(), "augment: batch of ", batch.size(),
           " bytes is not ", B, " images of ", d.image_size());
  MM_CHECK(draw.pad >= 0 && draw.pad < d.height && draw.pad < d.width, "augment: pad ", draw.pad,
           " must be smaller than the image (reflect padding)");
  auto bytes = allocate(device, batch.size());
  copy_bytes(bytes.get(), device, batch.data(), Device::CPU, batch.size());
  Tensor table = normalization_table(d, device, dtype);
  Tensor out = Tensor::empty({B, d.channels, d.height, d.width}, dtype, device);
  kernels::AugmentSpec spec{B, d.channels, d.height, d.width, draw.random ? draw.pad : 0, draw.random, draw.seed,
                            draw.step, draw.tag};
  MM_DISPATCH_FLOAT(dtype, T,
                    MM_KERNEL(device, augment_batch, T)(spec, static_cast<const uint8_t*>(bytes.get()), table.data<T>(),
                                                       out.data<T>()));
  return out;
}

Tensor normalized_images(const ImageDataset& d, const std::vector<int64_t>& indices, Device device, DType dtype) {
  AugmentDraw plain;
  plain.random = false;
  plain.pad = 0;
  return augment_images(gather_images(d, indices), static_cast<int64_t>(indices.size()), d, plain, device, dtype);
}

}  // namespace mmengine
