// Every registered gradient-check case: ops, layers, the MixMatch loss.
#pragma once
#include <vector>

#include "engine/gradcheck.h"

namespace mmengine {
std::vector<GradCase> all_grad_cases();
}
