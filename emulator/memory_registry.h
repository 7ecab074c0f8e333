// Internal to the emulator: which host ranges are "device" allocations (from cudaMalloc).
#pragma once
#include <cstddef>

#include "cuda_runtime.h"

namespace mmemu {
// True when [p, p + bytes) lies inside one live cudaMalloc allocation.
bool device_range(const void* p, size_t bytes);
// Records a launch error for cudaGetLastError.
void set_last_error(cudaError_t e);
}  // namespace mmemu
