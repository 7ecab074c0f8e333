#include "data/synthetic.h"

#include <algorithm>
#include <cmath>

#include "kernels/error.h"
#include "engine/rng.h"

namespace mmengine {

namespace {
ImageDataset generate(const std::vector<std::vector<float>>& patterns, int64_t per_class, int num_classes, int64_t c,
                      int64_t s, PhiloxStream& rng, const std::string& name) {
  ImageDataset d;
  d.name = name;
  d.count = per_class * num_classes;
  d.channels = c;
  d.height = d.width = s;
  d.num_classes = num_classes;
  d.pixels.resize(d.count * d.image_size());
  d.labels.resize(d.count);
  for (int64_t i = 0; i < d.count; ++i) {
    const int label = static_cast<int>(i % num_classes);
    d.labels[i] = label;
    const int64_t dy = static_cast<int64_t>(rng.below(5)) - 2, dx = static_cast<int64_t>(rng.below(5)) - 2;
    for (int64_t ch = 0; ch < c; ++ch)
      for (int64_t y = 0; y < s; ++y)
        for (int64_t x = 0; x < s; ++x) {
          const int64_t sy = (y + dy + s) % s, sx = (x + dx + s) % s;
          double v = patterns[label][(ch * s + sy) * s + sx] + 0.25 * rng.normal();
          d.pixels[i * d.image_size() + (ch * s + y) * s + x] =
              static_cast<uint8_t>(std::clamp(128.0 + 60.0 * v, 0.0, 255.0));
        }
  }
  return d;
}
}  // namespace

TrainTest make_synthetic(int64_t train_per_class, int64_t test_per_class, int num_classes, int64_t c, int64_t s,
                         uint64_t seed) {
  MM_CHECK(train_per_class > 0 && test_per_class > 0 && num_classes >= 2 && c > 0 && s >= 4,
           "synthetic dataset: bad sizes");
  PhiloxStream rng(seed, 0xda7a);
  // Class patterns: sums of a few random sinusoids per channel.
  std::vector<std::vector<float>> patterns(num_classes, std::vector<float>(c * s * s));
  for (int k = 0; k < num_classes; ++k)
    for (int64_t ch = 0; ch < c; ++ch)
      for (int wave = 0; wave < 3; ++wave) {
        const double fy = 1 + rng.below(3), fx = 1 + rng.below(3), ph = 6.283185307 * rng.uniform(), amp = 0.5 + rng.uniform();
        for (int64_t y = 0; y < s; ++y)
          for (int64_t x = 0; x < s; ++x)
            patterns[k][(ch * s + y) * s + x] += static_cast<float>(amp * std::sin(6.283185307 * (fy * y + fx * x) / s + ph));
      }
  TrainTest t{generate(patterns, train_per_class, num_classes, c, s, rng, "synthetic-train"),
              generate(patterns, test_per_class, num_classes, c, s, rng, "synthetic-test")};
  for (auto* d : {&t.train, &t.test}) {
    d->mean.assign(c, 0.5f);
    d->std.assign(c, 0.25f);
  }
  return t;
}

}  // namespace mmengine
