#include "data/dataset.h"

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

TrainTest load_dataset(const std::string& name, const std::string& dir_flag) {
  const std::string dir = dir_flag.empty() ? default_data_dir(name) : dir_flag;
  if (name == "cifar10") return load_cifar10(dir);
  if (name == "fashion-mnist") return load_fashion_mnist(dir);
  if (name == "synthetic") return make_synthetic(600, 100, 10, 3, 16, 0);
  MM_FAIL("--dataset: unknown dataset '", name, "', expected cifar10, fashion-mnist or synthetic");
}

}  // namespace mmengine
