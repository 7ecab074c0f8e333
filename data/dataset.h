// An image classification dataset held in memory as uint8 pixels, planar [N, C, H, W], with
// int labels, plus the per-channel mean and std used to normalize it.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace mmengine {

struct ImageDataset {
  std::string name;
  int64_t count = 0, channels = 0, height = 0, width = 0;
  int num_classes = 0;
  std::vector<uint8_t> pixels;  // count * channels * height * width
  std::vector<int32_t> labels;  // count
  std::vector<float> mean, std;  // per channel, in [0, 1] units

  int64_t image_size() const { return channels * height * width; }
  const uint8_t* image(int64_t i) const { return pixels.data() + i * image_size(); }
  std::vector<int64_t> class_counts() const;
};

struct TrainTest {
  ImageDataset train, test;
};

// The reflect padding of the training augmentation: images need more pixels than this per side.
constexpr int64_t kTrainPad = 4;

// The datasets mmengine knows: "cifar10" (binary version), "fashion-mnist" (IDX files,
// gzipped or not) and "synthetic" (generated in memory from a seed, for tests and demos).
// The one validator of a dataset folder (`train --data` and `data check` both use it): every
// file is read and checked, and the images must be large enough for the augmentation.
TrainTest load_dataset(const std::string& name, const std::string& dir);
// The folder whose files are read: `dir` (or the default), or for cifar10 its
// cifar-10-batches-bin subfolder when the files are there (the archive's layout).
std::string dataset_folder(const std::string& name, const std::string& dir);
// Where `name` is looked for when no directory is given.
std::string default_data_dir(const std::string& name);
std::vector<std::string> known_datasets();

}  // namespace mmengine
