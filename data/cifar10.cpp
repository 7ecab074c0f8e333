#include "data/cifar10.h"

#include <fstream>

#include "engine/file_io.h"
#include "kernels/error.h"

namespace mmengine {

namespace {
ImageDataset empty_cifar(const std::string& name) {
  ImageDataset d;
  d.name = name;
  d.channels = 3;
  d.height = d.width = 32;
  d.num_classes = 10;
  d.mean = {0.4914f, 0.4822f, 0.4465f};  // the MixMatch port's constants
  d.std = {0.2471f, 0.2435f, 0.2616f};
  return d;
}
}  // namespace

void read_cifar10_file(const std::string& path, ImageDataset& into) {
  const int64_t size = static_cast<int64_t>(require_regular_file(path, "a file of the CIFAR-10 binary version"));
  std::ifstream in(path, std::ios::binary);
  MM_CHECK(in.good(), path, ": cannot open (missing file? expected the CIFAR-10 binary version)");
  MM_CHECK(size > 0 && size % kCifarRecordBytes == 0, path, ": size ", size, " bytes is not a whole number of ",
           kCifarRecordBytes, "-byte CIFAR-10 records");
  const int64_t records = size / kCifarRecordBytes;
  std::vector<uint8_t> buf(static_cast<size_t>(size));
  in.read(reinterpret_cast<char*>(buf.data()), size);
  MM_CHECK(in.good(), path, ": read failed");
  const int64_t first = into.count;
  into.pixels.resize((first + records) * 3072);
  into.labels.resize(first + records);
  for (int64_t r = 0; r < records; ++r) {
    const uint8_t* rec = buf.data() + r * kCifarRecordBytes;
    MM_CHECK(rec[0] < 10, path, ": record ", r, " has label ", int(rec[0]), ", expected 0..9");
    into.labels[first + r] = rec[0];
    std::copy(rec + 1, rec + kCifarRecordBytes, into.pixels.begin() + (first + r) * 3072);
  }
  into.count += records;
}

TrainTest load_cifar10(const std::string& dir) {
  TrainTest t{empty_cifar("cifar10-train"), empty_cifar("cifar10-test")};
  for (int i = 1; i <= 5; ++i) read_cifar10_file(dir + "/data_batch_" + std::to_string(i) + ".bin", t.train);
  read_cifar10_file(dir + "/test_batch.bin", t.test);
  return t;
}

}  // namespace mmengine
