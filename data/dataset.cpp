#include "data/dataset.h"

#include <sys/stat.h>

#include <cstdlib>

#include "data/cifar10.h"
#include "data/idx.h"
#include "data/synthetic.h"
#include "kernels/error.h"

namespace mmengine {

std::vector<int64_t> ImageDataset::class_counts() const {
  std::vector<int64_t> c(num_classes, 0);
  for (auto l : labels) c[l]++;
  return c;
}

std::vector<std::string> known_datasets() { return {"cifar10", "fashion-mnist", "synthetic"}; }

std::string default_data_dir(const std::string& name) {
  if (name == "fashion-mnist") return "/usr/share/datasets/fashion-mnist";
  if (name == "cifar10") {
    const char* env = std::getenv("MMENGINE_CIFAR10");
    return env ? env : "data-cache/cifar-10-batches-bin";
  }
  return "";
}

std::string dataset_folder(const std::string& name, const std::string& dir_flag) {
  const std::string dir = dir_flag.empty() ? default_data_dir(name) : dir_flag;
  struct stat st;
  const std::string sub = dir + "/cifar-10-batches-bin";
  if (name == "cifar10" && ::stat((dir + "/data_batch_1.bin").c_str(), &st) != 0 &&
      ::stat((sub + "/data_batch_1.bin").c_str(), &st) == 0)
    return sub;  // the folder the official archive unpacks to
  return dir;
}

void check_trainable(const ImageDataset& d, const std::string& dir) {
  MM_CHECK(d.height > kTrainPad && d.width > kTrainPad, dir, ": ", d.name, " images are ", d.height, "x", d.width,
           ", too small for the training augmentation (reflect padding of ", kTrainPad, " pixels needs at least ",
           kTrainPad + 1, "x", kTrainPad + 1, ")");
  MM_CHECK(d.count > 0, dir, ": ", d.name, " holds no images");
}

TrainTest load_dataset(const std::string& name, const std::string& dir_flag) {
  const std::string dir = dataset_folder(name, dir_flag);
  TrainTest t;
  if (name == "cifar10") t = load_cifar10(dir);
  else if (name == "fashion-mnist") t = load_fashion_mnist(dir);
  else if (name == "synthetic") t = make_synthetic(600, 100, 10, 3, 16, 0);
  else MM_FAIL("--dataset: unknown dataset '", name, "', expected cifar10, fashion-mnist or synthetic");
  check_trainable(t.train, dir);
  check_trainable(t.test, dir);
  return t;
}

}  // namespace mmengine
