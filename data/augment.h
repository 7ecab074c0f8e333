// Turning uint8 image batches into normalized float tensors on a device, with or without
// MixMatch's random crop + flip (kernels/augment.h). The uint8 bytes are uploaded and
// augmented on the device itself, so a GPU run never waits on the host's cores for this.
#pragma once
#include <cstdint>
#include <vector>

#include "data/dataset.h"
#include "engine/tensor.h"

namespace mmengine {

struct AugmentDraw {
  uint64_t seed = 0, step = 0;
  uint32_t tag = 0;  // kLabeledTag, or kUnlabeledTag + k for the k-th view
  int64_t pad = 4;
  bool random = true;
};
constexpr uint32_t kLabeledTag = 0, kUnlabeledTag = 0x100;

// Gathers images[indices] of the dataset into a contiguous uint8 batch.
std::vector<uint8_t> gather_images(const ImageDataset& d, const std::vector<int64_t>& indices);
// The uint8 batch [B, C, H, W] -> augmented, normalized tensor on `device`.
Tensor augment_images(const std::vector<uint8_t>& batch, int64_t B, const ImageDataset& d, const AugmentDraw& draw,
                      Device device, DType dtype = DType::F32);
// Plain normalization (evaluation).
Tensor normalized_images(const ImageDataset& d, const std::vector<int64_t>& indices, Device device,
                         DType dtype = DType::F32);

}  // namespace mmengine
