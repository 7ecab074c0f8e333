// Gradient-check cases of the MixMatch pieces: the semi-supervised loss, sharpening, MixUp
// and interleaving (each differentiable end to end).
#pragma once
#include <vector>

#include "engine/gradcheck.h"

namespace mmengine {
std::vector<GradCase> mixmatch_grad_cases();
}
