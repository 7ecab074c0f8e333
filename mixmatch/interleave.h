// The reference implementations' interleave (the seed's interleave_offsets / interleave):
// the mixed batch is cut into nu + 1 chunks of `batch` rows; each chunk is cut at the offsets
// below into nu + 1 slices, and slice i of chunk 0 is swapped with slice i of chunk i
// (i = 1..nu), so every forward batch holds rows of the labeled chunk and of the unlabeled
// ones. Applying it a second time swaps back: that is how the logits are un-interleaved.
#pragma once
#include <cstdint>
#include <vector>

#include "engine/tensor.h"

namespace mmengine {

// groups of batch / (nu + 1) rows, the remainder spread over the last groups; offsets[0] = 0
// and offsets[nu + 1] = batch.
std::vector<int64_t> interleave_offsets(int64_t batch, int64_t nu);
// xy: nu + 1 tensors of `batch` rows each. Differentiable (slices and concats).
std::vector<Tensor> interleave(const std::vector<Tensor>& xy, int64_t batch);

}  // namespace mmengine
