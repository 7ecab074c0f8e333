// The gradient-check cases of the engine's ops (engine/ops.h); layers and the MixMatch loss
// add theirs in their own folders, and tools/grad_cases.cpp gathers them all.
#pragma once
#include <vector>

#include "engine/gradcheck.h"

namespace mmengine {

std::vector<GradCase> op_grad_cases();

// Random input helpers for cases. Values uniform in [low, high]; `away_from_zero` moves
// values of magnitude below it outward (kink avoidance); element k of the seed's stream.
Tensor case_input(const Shape& shape, Device device, DType dtype, uint64_t seed, uint64_t which, double low = -1.0,
                  double high = 1.0, double away_from_zero = 0.0, bool requires_grad = true);

}  // namespace mmengine
