// The CIFAR-10 binary version: data_batch_1..5.bin and test_batch.bin, each 10,000 records of
// 1 label byte + 3072 pixel bytes (32x32 red, green, blue planes).
#pragma once
#include <string>
#include <vector>

#include "data/dataset.h"

namespace mmengine {

constexpr int64_t kCifarRecordBytes = 1 + 3 * 32 * 32;

// Appends the records of one file; errors name the file and what was expected.
void read_cifar10_file(const std::string& path, ImageDataset& into);
TrainTest load_cifar10(const std::string& dir);

}  // namespace mmengine
