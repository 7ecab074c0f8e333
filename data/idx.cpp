#include "data/idx.h"

#include <zlib.h>

#include <fstream>

#include "engine/file_io.h"
#include "kernels/error.h"

namespace mmengine {

std::vector<uint8_t> read_maybe_gzipped(const std::string& path) {
  require_regular_file(path, "an IDX file (gzipped or not)");
  std::ifstream in(path, std::ios::binary);
  MM_CHECK(in.good(), path, ": cannot open (missing file?)");
  std::vector<uint8_t> raw((std::istreambuf_iterator<char>(in)), {});
  if (raw.size() < 2 || raw[0] != 0x1f || raw[1] != 0x8b) return raw;
  gzFile gz = gzopen(path.c_str(), "rb");
  MM_CHECK(gz != nullptr, path, ": cannot open as gzip");
  std::vector<uint8_t> out;
  uint8_t buf[1 << 16];
  for (;;) {
    int n = gzread(gz, buf, sizeof(buf));
    if (n < 0) {
      int err = 0;
      std::string msg = gzerror(gz, &err);
      gzclose(gz);
      MM_FAIL(path, ": corrupt gzip data: ", msg);
    }
    if (n == 0) break;
    out.insert(out.end(), buf, buf + n);
  }
  gzclose(gz);
  return out;
}

namespace {
uint32_t be32(const std::vector<uint8_t>& b, size_t at) {
  return (uint32_t(b[at]) << 24) | (uint32_t(b[at + 1]) << 16) | (uint32_t(b[at + 2]) << 8) | b[at + 3];
}
}  // namespace

ImageDataset read_idx_pair(const std::string& images_path, const std::string& labels_path, int num_classes,
                           const std::string& name) {
  auto img = read_maybe_gzipped(images_path), lab = read_maybe_gzipped(labels_path);
  MM_CHECK(img.size() >= 16, images_path, ": ", img.size(), " bytes, too short for an IDX image header (16)");
  MM_CHECK(be32(img, 0) == 0x00000803, images_path, ": bad magic number 0x", std::hex, be32(img, 0),
           ", expected 0x00000803 (IDX uint8 images)");
  MM_CHECK(lab.size() >= 8, labels_path, ": ", lab.size(), " bytes, too short for an IDX label header (8)");
  MM_CHECK(be32(lab, 0) == 0x00000801, labels_path, ": bad magic number 0x", std::hex, be32(lab, 0),
           ", expected 0x00000801 (IDX uint8 labels)");
  const int64_t n = be32(img, 4), h = be32(img, 8), w = be32(img, 12), nl = be32(lab, 4);
  MM_CHECK(h > 0 && w > 0 && h <= 4096 && w <= 4096, images_path, ": bad image size ", h, "x", w);
  MM_CHECK(static_cast<int64_t>(img.size()) == 16 + n * h * w, images_path, ": ", img.size(), " bytes, expected ",
           16 + n * h * w, " for ", n, " images of ", h, "x", w);
  MM_CHECK(static_cast<int64_t>(lab.size()) == 8 + nl, labels_path, ": ", lab.size(), " bytes, expected ", 8 + nl,
           " for ", nl, " labels");
  MM_CHECK(n == nl, labels_path, ": ", nl, " labels for ", n, " images in ", images_path);
  ImageDataset d;
  d.name = name;
  d.count = n;
  d.channels = 1;
  d.height = h;
  d.width = w;
  d.num_classes = num_classes;
  d.pixels.assign(img.begin() + 16, img.end());
  d.labels.resize(n);
  for (int64_t i = 0; i < n; ++i) {
    MM_CHECK(lab[8 + i] < num_classes, labels_path, ": label ", int(lab[8 + i]), " at index ", i, ", expected 0..",
             num_classes - 1);
    d.labels[i] = lab[8 + i];
  }
  return d;
}

TrainTest load_fashion_mnist(const std::string& dir) {
  auto pick = [&](const std::string& base) {
    std::ifstream plain(dir + "/" + base);
    return dir + "/" + base + (plain.good() ? "" : ".gz");
  };
  TrainTest t{read_idx_pair(pick("train-images-idx3-ubyte"), pick("train-labels-idx1-ubyte"), 10, "fashion-mnist-train"),
              read_idx_pair(pick("t10k-images-idx3-ubyte"), pick("t10k-labels-idx1-ubyte"), 10, "fashion-mnist-test")};
  for (auto* d : {&t.train, &t.test}) {
    d->mean = {0.2860f};
    d->std = {0.3530f};
  }
  return t;
}

}  // namespace mmengine
