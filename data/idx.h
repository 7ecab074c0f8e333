// IDX files (MNIST / Fashion-MNIST): big-endian magic 0x00000803 (uint8 images [N, H, W]) or
// 0x00000801 (uint8 labels [N]), gzipped or not.
#pragma once
#include <string>
#include <vector>

#include "data/dataset.h"

namespace mmengine {

// The decompressed bytes of a file (gzip detected by its magic bytes).
std::vector<uint8_t> read_maybe_gzipped(const std::string& path);
// Images and labels from a pair of IDX files; errors name the file.
ImageDataset read_idx_pair(const std::string& images_path, const std::string& labels_path, int num_classes,
                           const std::string& name);
TrainTest load_fashion_mnist(const std::string& dir);

}  // namespace mmengine
