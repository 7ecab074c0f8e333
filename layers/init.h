// Weight initialisation as the PyTorch MixMatch port does it, drawn from Philox so a seed
// gives the same network on every device.
#pragma once
#include <cstdint>

#include "engine/tensor.h"

namespace mmengine {

// Kaiming normal, mode fan_out, gain sqrt(2) (leaky_relu with a = 0, as the port calls it):
// std = sqrt(2 / (out_channels * kh * kw)).
void init_kaiming_normal_fan_out(Tensor& w, uint64_t seed, uint64_t stream);
// Xavier normal: std = sqrt(2 / (fan_in + fan_out)).
void init_xavier_normal(Tensor& w, uint64_t seed, uint64_t stream);

}  // namespace mmengine
