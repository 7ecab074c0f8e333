// The seed's split_dataset: per class, from the training set, num_labeled / classes labeled
// images, the last `val_per_class` as validation, the rest unlabeled; each list then shuffled.
// Deterministic from the seed (Philox permutations), the three sets disjoint.
#pragma once
#include <cstdint>
#include <vector>

#include "data/dataset.h"

namespace mmengine {

struct Split {
  std::vector<int64_t> labeled, unlabeled, validation;
};

Split split_dataset(const ImageDataset& train, int64_t num_labeled, int64_t val_per_class, uint64_t seed);

}  // namespace mmengine
