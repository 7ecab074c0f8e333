// Raw memory on either device: allocation (CUDA through a caching allocator), copies between
// and within devices, byte fills. Tensor storage is built on these.
#pragma once
#include <cstddef>
#include <memory>

#include "engine/dtype.h"

namespace mmengine {

// Owning pointer; the deleter returns CUDA blocks to the cache instead of freeing them.
std::shared_ptr<void> allocate(Device d, size_t bytes);
void copy_bytes(void* dst, Device dst_dev, const void* src, Device src_dev, size_t bytes);
void fill_bytes(void* dst, Device d, int byte_value, size_t bytes);
// A copy of `bytes` host bytes on device d (e.g. a multi-tensor kernel's chunk table).
std::shared_ptr<void> upload_bytes(Device d, const void* host, size_t bytes);

struct CudaAllocatorStats {
  size_t device_mallocs = 0;  // cudaMalloc calls so far
  size_t cache_hits = 0;      // allocations served from the cache
  size_t bytes_in_use = 0;
  size_t bytes_cached = 0;    // free blocks held for reuse
};
CudaAllocatorStats cuda_allocator_stats();

}  // namespace mmengine
