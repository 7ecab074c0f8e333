// `mmengine bench --variants bn-kernels` (CUDA): BatchNorm's training kernels alone, forward
// (statistics + apply) and backward (gradient sums + input gradient), at group 1's shape
// [B, 16 * widen, 32, 32] and group 3's [B, 64 * widen, 8, 8] for B and 3B, each against a
// device-to-device copy of the same tensor timed the same way, the L2 cache flushed before every
// timed run: issue 13's bound (the BN kernels at >= 70 % of the copy's bandwidth: their fewest
// bytes at the copy's rate over their time, the "of floor" column) as one table per shape.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>

namespace mmengine {

void bn_kernel_rows(int64_t batch, int64_t group1_channels, int warmup, int repeats, nlohmann::ordered_json& out);

}  // namespace mmengine
