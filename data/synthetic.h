// A synthetic dataset generated from a seed: each class is a fixed random low-frequency
// pattern plus per-image noise and a random shift, so a small network can learn it in seconds
// and augmentation matters. For tests, CI and demos without real data.
#pragma once
#include "data/dataset.h"

namespace mmengine {

TrainTest make_synthetic(int64_t train_per_class, int64_t test_per_class, int num_classes = 10, int64_t channels = 3,
                         int64_t size = 16, uint64_t seed = 0);

}  // namespace mmengine
