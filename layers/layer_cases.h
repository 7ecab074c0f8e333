// Gradient-check cases of the layers: convolution (3x3 / 1x1, stride 1 / 2, with and without
// bias), BatchNorm in training and eval mode, pooling, and a whole WRN-10-1.
#pragma once
#include <vector>

#include "engine/gradcheck.h"

namespace mmengine {
std::vector<GradCase> layer_grad_cases();
}
