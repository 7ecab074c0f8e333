#include <zlib.h>

#include <cmath>
#include <fstream>
#include <set>

#include "data/augment.h"
#include "data/cifar10.h"
#include "data/idx.h"
#include "data/split.h"
#include "data/stream.h"
#include "data/synthetic.h"
#include "kernels/philox.h"
#include "kernels/augment.h"
#include "tests/test_util.h"

using namespace mmengine;
using namespace mmengine::testing;

namespace {
std::string tmp(const std::string& name) { return ::testing::TempDir() + "mmdata_" + std::to_string(::getpid()) + "_" + name; }

void write_bytes(const std::string& path, const std::vector<uint8_t>& b) {
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(b.data()), b.size());
}

std::vector<uint8_t> cifar_records(int n, int bad_label_at = -1) {
  std::vector<uint8_t> b;
  for (int r = 0; r < n; ++r) {
    b.push_back(r == bad_label_at ? 10 : r % 10);
    for (int i = 0; i < 3072; ++i) b.push_back(static_cast<uint8_t>((r * 7 + i) % 256));
  }
  return b;
}

template <typename F>
void expect_error_with(F&& f, const std::vector<std::string>& needles) {
  try {
    f();
    ADD_FAILURE() << "expected an error mentioning " << needles[0];
  } catch (const Error& e) {
    for (auto& n : needles) EXPECT_NE(std::string(e.what()).find(n), std::string::npos) << e.what();
  }
}

std::vector<uint8_t> idx_images(uint32_t n, uint32_t h, uint32_t w, uint32_t magic = 0x803) {
  std::vector<uint8_t> b;
  for (uint32_t v : {magic, n, h, w})
    for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<uint8_t>(v >> s));
  for (uint32_t i = 0; i < n * h * w; ++i) b.push_back(static_cast<uint8_t>(i));
  return b;
}

std::vector<uint8_t> idx_labels(uint32_t n, uint8_t bad = 0) {
  std::vector<uint8_t> b;
  for (uint32_t v : {0x801u, n})
    for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<uint8_t>(v >> s));
  for (uint32_t i = 0; i < n; ++i) b.push_back(i == 1 && bad ? bad : static_cast<uint8_t>(i % 10));
  return b;
}

void write_gz(const std::string& path, const std::vector<uint8_t>& b) {
  gzFile f = gzopen(path.c_str(), "wb");
  gzwrite(f, b.data(), static_cast<unsigned>(b.size()));
  gzclose(f);
}
}  // namespace

TEST(Cifar10Reader, ReadsRecordsAndRejectsCorruptFiles) {
  const std::string good = tmp("good.bin");
  write_bytes(good, cifar_records(3));
  ImageDataset d;
  d.channels = 3;
  read_cifar10_file(good, d);
  EXPECT_EQ(d.count, 3);
  EXPECT_EQ(d.labels, (std::vector<int32_t>{0, 1, 2}));
  EXPECT_EQ(d.pixels[3072 + 5], (7 + 5) % 256);

  const std::string torn = tmp("torn.bin");
  auto b = cifar_records(2);
  b.pop_back();
  write_bytes(torn, b);
  expect_error_with([&] { read_cifar10_file(torn, d); }, {torn, "not a whole number of 3073-byte"});
  const std::string bad = tmp("badlabel.bin");
  write_bytes(bad, cifar_records(3, 1));
  expect_error_with([&] { read_cifar10_file(bad, d); }, {bad, "label 10", "expected 0..9"});
  expect_error_with([&] { read_cifar10_file(tmp("missing.bin"), d); }, {"missing.bin", "cannot open"});
  expect_error_with([&] { load_cifar10(tmp("nodir")); }, {"data_batch_1.bin"});
}

TEST(IdxReader, ReadsPlainAndGzippedAndRejectsCorruptFiles) {
  const std::string img = tmp("img.idx"), lab = tmp("lab.idx.gz");
  write_bytes(img, idx_images(4, 3, 2));
  write_gz(lab, idx_labels(4));
  ImageDataset d = read_idx_pair(img, lab, 10, "t");
  EXPECT_EQ(d.count, 4);
  EXPECT_EQ(d.height, 3);
  EXPECT_EQ(d.width, 2);
  EXPECT_EQ(d.pixels[7], 7);
  EXPECT_EQ(d.labels[3], 3);

  write_bytes(img, idx_images(4, 3, 2, 0x801));
  expect_error_with([&] { read_idx_pair(img, lab, 10, "t"); }, {img, "bad magic number", "0x00000803"});
  auto shortimg = idx_images(4, 3, 2);
  shortimg.resize(shortimg.size() - 1);
  write_bytes(img, shortimg);
  expect_error_with([&] { read_idx_pair(img, lab, 10, "t"); }, {img, "expected 40"});
  write_bytes(img, idx_images(5, 3, 2));
  expect_error_with([&] { read_idx_pair(img, lab, 10, "t"); }, {lab, "4 labels for 5 images"});
  write_bytes(img, idx_images(4, 3, 2));
  write_gz(lab, idx_labels(4, 12));
  expect_error_with([&] { read_idx_pair(img, lab, 10, "t"); }, {lab, "label 12", "expected 0..9"});
  write_bytes(lab, {0x1f, 0x8b, 1, 2, 3});
  expect_error_with([&] { read_idx_pair(img, lab, 10, "t"); }, {lab});
}

TEST(Split, CountsDisjointnessDeterminismAndErrors) {
  TrainTest t = make_synthetic(60, 5, 10, 1, 8, 1);
  Split s = split_dataset(t.train, 40, 10, 7);
  EXPECT_EQ(s.labeled.size(), 40u);
  EXPECT_EQ(s.validation.size(), 100u);
  EXPECT_EQ(s.unlabeled.size(), 600u - 140u);
  std::set<int64_t> all(s.labeled.begin(), s.labeled.end());
  all.insert(s.unlabeled.begin(), s.unlabeled.end());
  all.insert(s.validation.begin(), s.validation.end());
  EXPECT_EQ(all.size(), 600u) << "disjoint and covering";
  std::vector<int> per_class(10, 0);
  for (auto i : s.labeled) per_class[t.train.labels[i]]++;
  for (int c : per_class) EXPECT_EQ(c, 4);
  Split again = split_dataset(t.train, 40, 10, 7), other = split_dataset(t.train, 40, 10, 8);
  EXPECT_EQ(again.labeled, s.labeled);
  EXPECT_NE(other.labeled, s.labeled);
  expect_error_with([&] { split_dataset(t.train, 45, 10, 7); }, {"--labels", "not divisible"});
  expect_error_with([&] { split_dataset(t.train, 600, 10, 7); }, {"--labels", "no unlabeled"});
  expect_error_with([&] { split_dataset(t.train, 0, 10, 7); }, {"--labels", "positive"});
}

TEST(Augment, ReflectIndexMatchesNumpyReflect) {
  // np.pad([a b c d], 2, 'reflect') = [c b a b c d c b]
  std::vector<int64_t> want{2, 1, 0, 1, 2, 3, 2, 1};
  for (int64_t i = -2; i < 6; ++i) EXPECT_EQ(kernels::reflect_index(i, 4), want[i + 2]);
}

TEST(Augment, TinyImageAgainstHandComputedPadCropFlip) {
  ImageDataset d;
  d.name = "tiny";
  d.count = 1;
  d.channels = 1;
  d.height = 3;
  d.width = 4;
  d.num_classes = 2;
  d.mean = {0.0f};
  d.std = {1.0f / 255.0f};  // so the normalized value is the pixel value itself
  d.pixels = {0, 1, 2, 3, 10, 11, 12, 13, 20, 21, 22, 23};
  d.labels = {0};
  // Padded image by hand (reflect, pad 2): rows [2 1 0 1 2] of the original, columns likewise.
  const int rows[7] = {2, 1, 0, 1, 2, 1, 0}, cols[8] = {2, 1, 0, 1, 2, 3, 2, 1};
  for (uint64_t step = 0; step < 20; ++step) {
    AugmentDraw draw;
    draw.seed = 5;
    draw.step = step;
    draw.pad = 2;
    Tensor out = augment_images(d.pixels, 1, d, draw, Device::CPU);
    PhiloxOut r = philox4x32(5, step, 0);
    const int top = r.v[0] % 4, left = r.v[1] % 4;
    const bool flip = r.v[2] & 1;
    auto v = out.to_vector();
    for (int y = 0; y < 3; ++y)
      for (int x = 0; x < 4; ++x) {
        const int cx = flip ? 3 - x : x;
        const double want = d.pixels[rows[y + top] * 4 + cols[cx + left]];
        ASSERT_NEAR(v[y * 4 + x], want, 1e-3) << "step " << step << " y " << y << " x " << x;
      }
  }
}

TEST(Augment, EvaluationIsPlainNormalization) {
  TrainTest t = make_synthetic(2, 1, 2, 3, 8, 0);
  Tensor out = normalized_images(t.train, {1, 0}, Device::CPU);
  auto v = out.to_vector();
  const int64_t sz = t.train.image_size();
  for (int64_t i = 0; i < sz; ++i) {
    const int64_t c = i / 64;
    ASSERT_NEAR(v[i], (t.train.pixels[sz + i] / 255.0 - t.train.mean[c]) / t.train.std[c], 1e-5);
  }
}

TEST(Augment, CudaIsBitIdenticalToCpu) {
  MM_SKIP_WITHOUT(Device::CUDA);
  TrainTest t = make_synthetic(20, 1, 10, 3, 32, 0);
  std::vector<int64_t> idx;
  for (int64_t i = 0; i < 67; ++i) idx.push_back(i);
  auto bytes = gather_images(t.train, idx);
  for (uint32_t tag : {kLabeledTag, kUnlabeledTag + 1}) {
    AugmentDraw d;
    d.seed = 3;
    d.step = 12345;
    d.tag = tag;
    EXPECT_EQ(augment_images(bytes, 67, t.train, d, Device::CUDA).to_vector(),
              augment_images(bytes, 67, t.train, d, Device::CPU).to_vector());
  }
}

TEST(IndexStream, ReshufflesEveryPassAndNeverRunsDry) {
  std::vector<int64_t> items{10, 11, 12, 13, 14, 15, 16};
  IndexStream s(items, 3, 1, 0, "test");
  std::vector<std::vector<int64_t>> batches;
  for (int i = 0; i < 9; ++i) batches.push_back(s.next());
  // 7 items, batch 3, drop_last: 2 batches per pass, each pass a fresh permutation.
  for (int p = 0; p < 4; ++p) {
    std::set<int64_t> seen(batches[2 * p].begin(), batches[2 * p].end());
    seen.insert(batches[2 * p + 1].begin(), batches[2 * p + 1].end());
    EXPECT_EQ(seen.size(), 6u) << "no repeats within a pass";
  }
  EXPECT_NE(batches[0], batches[2]);
  IndexStream t(items, 3, 1, 0, "test");
  t.seek({2, 3});
  EXPECT_EQ(t.next(), batches[5]) << "a position fully determines what follows";
  expect_error_with([&] { IndexStream(items, 8, 1, 0, "labeled"); }, {"--batch-size", "labeled"});
}

TEST(MixMatchLoader, OutputIsIdenticalAcrossPrefetchSettingsAndResumes) {
  TrainTest t = make_synthetic(30, 1, 10, 3, 8, 0);
  Split s = split_dataset(t.train, 50, 5, 1);
  auto collect = [&](int prefetch, int n, LoaderPosition* resume_from) {
    MixMatchLoader loader(t.train, s, 16, 2, 9, Device::CPU, prefetch);
    if (resume_from) loader.seek(*resume_from);
    std::vector<std::vector<double>> out;
    for (int i = 0; i < n; ++i) {
      StepBatch b = loader.next();
      out.push_back(b.x.to_vector());
      auto u1 = b.u[1].to_vector();
      out.back().insert(out.back().end(), u1.begin(), u1.end());
      for (auto l : b.labels) out.back().push_back(l);
    }
    return std::make_pair(out, loader.position());
  };
  auto [a, pos_a] = collect(0, 8, nullptr);
  auto [b, pos_b] = collect(3, 8, nullptr);
  EXPECT_EQ(a, b);
  EXPECT_EQ(pos_a.step, 8);
  auto [first, mid] = collect(2, 5, nullptr);
  auto [rest, end] = collect(1, 3, &mid);
  first.insert(first.end(), rest.begin(), rest.end());
  EXPECT_EQ(first, a) << "5 steps + resume + 3 steps = 8 steps";
  // The two unlabeled views differ (independent augmentations).
  MixMatchLoader loader(t.train, s, 16, 2, 9, Device::CPU, 0);
  StepBatch sb = loader.next();
  EXPECT_NE(sb.u[0].to_vector(), sb.u[1].to_vector());
}
