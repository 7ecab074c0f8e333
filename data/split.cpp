#include "data/split.h"

#include "kernels/error.h"
#include "engine/rng.h"

namespace mmengine {

namespace {
std::vector<int64_t> shuffled(const std::vector<int64_t>& v, uint64_t seed, uint64_t stream) {
  std::vector<int64_t> perm = random_permutation(static_cast<int64_t>(v.size()), seed, stream), out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = v[perm[i]];
  return out;
}
}  // namespace

Split split_dataset(const ImageDataset& train, int64_t num_labeled, int64_t val_per_class, uint64_t seed) {
  const int64_t classes = train.num_classes;
  MM_CHECK(num_labeled > 0, "--labels: must be positive, got ", num_labeled);
  MM_CHECK(num_labeled % classes == 0, "--labels: ", num_labeled, " is not divisible by the ", classes,
           " classes of ", train.name);
  MM_CHECK(val_per_class >= 0, "--val-per-class: must be >= 0, got ", val_per_class);
  const int64_t per_class = num_labeled / classes;
  std::vector<std::vector<int64_t>> by_class(classes);
  for (int64_t i = 0; i < train.count; ++i) by_class[train.labels[i]].push_back(i);
  Split s;
  for (int64_t c = 0; c < classes; ++c) {
    const int64_t n = static_cast<int64_t>(by_class[c].size());
    // Written so that no sum can overflow, whatever the flags.
    MM_CHECK(per_class < n && val_per_class < n - per_class, "--labels: ", per_class, " labeled + ", val_per_class,
             " validation images per class leave no unlabeled image in class ", c, " of ", train.name, " (", n,
             " images)");
    auto idx = shuffled(by_class[c], seed, 100 + c);
    s.labeled.insert(s.labeled.end(), idx.begin(), idx.begin() + per_class);
    s.unlabeled.insert(s.unlabeled.end(), idx.begin() + per_class, idx.end() - val_per_class);
    s.validation.insert(s.validation.end(), idx.end() - val_per_class, idx.end());
  }
  s.labeled = shuffled(s.labeled, seed, 1);
  s.unlabeled = shuffled(s.unlabeled, seed, 2);
  s.validation = shuffled(s.validation, seed, 3);
  return s;
}

}  // namespace mmengine
