// Evaluation with eval-mode BatchNorm: mean cross-entropy and top-1 accuracy over a list of
// images, in order, without gradient.
#pragma once
#include <vector>

#include "data/dataset.h"
#include "layers/module.h"

namespace mmengine {

struct EvalResult {
  double loss = 0, accuracy = 0;  // accuracy in percent
  int64_t count = 0;
};

EvalResult evaluate(Module& model, const ImageDataset& data, const std::vector<int64_t>& indices, Device device,
                    int64_t batch = 256);

}  // namespace mmengine
