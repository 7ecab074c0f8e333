// The CUDA caching allocator (engine/block_cache.h over cudaMalloc/cudaFree) and copies.
#include <cstdlib>

#include "engine/block_cache.h"
#include "engine/cuda/cuda_memory.h"
#include "kernels/cuda/check.h"

namespace mmengine {

namespace {
BlockCache& cache() {
  // The object is leaked on purpose: blocks may come back during static destruction, after
  // the CUDA context is gone. The blocks cached when exit() starts are freed by an atexit
  // handler, which runs before the CUDA runtime's own teardown (registered earlier, at the
  // runtime's initialization), so compute-sanitizer's leak check sees only real leaks.
  static BlockCache* c = new BlockCache(
      [](size_t bytes) -> void* {
        void* p = nullptr;
        cudaError_t st = cudaMalloc(&p, bytes);
        if (st == cudaErrorMemoryAllocation) {
          cudaGetLastError();  // clear it: the cache retries after releasing its blocks
          return nullptr;
        }
        MM_CUDA_CHECK(st);
        return p;
      },
      [](void* p) { cudaFree(p); });  // best effort: never throws from a destructor path
  static const bool registered = std::atexit([] { c->release_cached(); }) == 0;
  (void)registered;
  return *c;
}
}  // namespace

std::shared_ptr<void> cuda_allocate(size_t bytes) {
  auto p = cache().allocate(bytes);
  MM_CHECK(p != nullptr, "out of CUDA memory allocating ", bytes, " bytes");
  return p;
}

void cuda_release_cache() { cache().release_cached(); }
CudaAllocatorStats cuda_stats() { return cache().stats(); }

void cuda_copy(void* dst, bool dst_on_device, const void* src, bool src_on_device, size_t bytes) {
  cudaMemcpyKind kind = dst_on_device ? (src_on_device ? cudaMemcpyDeviceToDevice : cudaMemcpyHostToDevice)
                                      : cudaMemcpyDeviceToHost;
  MM_CUDA_CHECK(cudaMemcpy(dst, src, bytes, kind));
}

void cuda_fill_bytes(void* dst, int byte_value, size_t bytes) { MM_CUDA_CHECK(cudaMemset(dst, byte_value, bytes)); }

}  // namespace mmengine
