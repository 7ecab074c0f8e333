// Label guessing and sharpening (MixMatch steps 2): q = mean over the K views of
// softmax(f(u_k)), computed without gradient; sharpened q^(1/T) / sum.
#pragma once
#include <vector>

#include "engine/tensor.h"
#include "layers/module.h"

namespace mmengine {

Tensor sharpen(const Tensor& p, double temperature);
// Forwards every view through the model (training-mode BN, per the recipe's update rule,
// statistics per view: views of one shape run as one grouped pass unless the grouped-bn
// fusion is off, equal to one forward per view to reduction tolerance), averages the
// softmaxes in view order and sharpens; no gradient is recorded.
Tensor guess_labels(Module& model, const std::vector<Tensor>& views, double temperature, const ForwardOptions& opts);

}  // namespace mmengine
