// CUDA side of engine/memory.h (built only with CUDA).
#pragma once
#include <cstddef>
#include <memory>

#include "engine/memory.h"

namespace mmengine {
std::shared_ptr<void> cuda_allocate(size_t bytes);
void cuda_copy(void* dst, bool dst_on_device, const void* src, bool src_on_device, size_t bytes);
void cuda_fill_bytes(void* dst, int byte_value, size_t bytes);
CudaAllocatorStats cuda_stats();
void cuda_release_cache();
}  // namespace mmengine
