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

// A private pool of device blocks (a CUDA graph's, engine/cuda/graph.h); never freed. While a
// CudaPoolScope is active on this thread, device allocations come from it instead of the
// current stream's pool; during a capture it may not grow (no cudaMalloc while capturing).
class BlockCache;
BlockCache* cuda_new_private_pool();
class CudaPoolScope {
 public:
  explicit CudaPoolScope(BlockCache* pool);
  ~CudaPoolScope();
  CudaPoolScope(const CudaPoolScope&) = delete;
  CudaPoolScope& operator=(const CudaPoolScope&) = delete;

 private:
  BlockCache* previous_;
};
}  // namespace mmengine
