// The CUDA caching allocator and copies (engine/memory.h), stream-aware: one pool
// (engine/block_cache.h over cudaMalloc/cudaFree) per stream. A block is allocated for the
// current stream (engine/cuda/context.h) and, when freed, returns to that stream's pool, so it
// is handed out again only to work queued later on the same stream, which runs after every
// earlier use of the block (stream order). A tensor used on another stream than the one it was
// allocated on must be synchronized by its user. Copies and fills are queued on cuda_stream();
// a device-to-host copy waits for the stream (one counted host synchronization).
#include <cstdlib>
#include <map>
#include <mutex>
#include <vector>

#include "engine/block_cache.h"
#include "engine/cuda/context.h"
#include "engine/cuda/cuda_memory.h"
#include "engine/cuda/graph.h"
#include "kernels/cuda/check.h"

namespace mmengine {

namespace {
BlockCache* new_pool() {
  return new BlockCache(
      [](size_t bytes) -> void* {
        MM_CHECK(!cuda_capturing(), "--graph on: the captured step (training step or evaluation forward) needed a new "
                 "device block of ", bytes, " bytes that its warm-up steps did not (a captured step must repeat the warm-up's allocations; "
                 "use --graph off)");
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
}

// The pools are leaked on purpose: blocks may come back during static destruction, after the
// CUDA context is gone. The blocks cached when exit() starts are freed by an atexit handler,
// which runs before the CUDA runtime's own teardown (registered earlier, at the runtime's
// initialization), so compute-sanitizer's leak check sees only real leaks.
std::mutex g_pools_mu;
std::map<cudaStream_t, BlockCache*>& pools() {
  static auto* p = new std::map<cudaStream_t, BlockCache*>;
  static const bool registered = std::atexit([] { cuda_release_cache(); }) == 0;
  (void)registered;
  return *p;
}
BlockCache& pool(cudaStream_t stream) {
  std::lock_guard<std::mutex> lock(g_pools_mu);
  BlockCache*& c = pools()[stream];
  if (!c) c = new_pool();
  return *c;
}

thread_local BlockCache* t_private_pool = nullptr;  // CudaPoolScope
}  // namespace

BlockCache* cuda_new_private_pool() {
  // Kept reachable (a process-wide list) rather than dropped: blocks of a graph's tensors may
  // outlive the graph, and LeakSanitizer must not report the pools as leaks.
  static auto* all = new std::vector<BlockCache*>;
  std::lock_guard<std::mutex> lock(g_pools_mu);
  all->push_back(new_pool());
  return all->back();
}
CudaPoolScope::CudaPoolScope(BlockCache* pool) : previous_(t_private_pool) { t_private_pool = pool; }
CudaPoolScope::~CudaPoolScope() { t_private_pool = previous_; }

std::shared_ptr<void> cuda_allocate(size_t bytes) {
  if (t_private_pool) {
    auto p = t_private_pool->allocate(bytes);
    MM_CHECK(p != nullptr, "out of CUDA memory allocating ", bytes, " bytes (a CUDA graph's pool)");
    return p;
  }
  BlockCache& c = pool(cuda_stream());
  auto p = c.allocate(bytes);
  if (!p) {  // other streams' pools may hold free blocks: give every cached block back, retry
    cuda_release_cache();
    p = c.allocate(bytes);
  }
  MM_CHECK(p != nullptr, "out of CUDA memory allocating ", bytes, " bytes");
  return p;
}

void cuda_release_cache() {
  std::lock_guard<std::mutex> lock(g_pools_mu);
  for (auto& kv : pools()) kv.second->release_cached();  // cudaFree waits for the device
}

CudaAllocatorStats cuda_stats() {
  std::lock_guard<std::mutex> lock(g_pools_mu);
  CudaAllocatorStats total;
  for (auto& kv : pools()) {
    const CudaAllocatorStats s = kv.second->stats();
    total.device_mallocs += s.device_mallocs;
    total.cache_hits += s.cache_hits;
    total.bytes_in_use += s.bytes_in_use;
    total.bytes_cached += s.bytes_cached;
  }
  return total;
}

void cuda_copy(void* dst, bool dst_on_device, const void* src, bool src_on_device, size_t bytes) {
  const cudaStream_t stream = cuda_stream();
  if (dst_on_device && !src_on_device) return cuda_upload(dst, src, bytes);
  if (dst_on_device) {
    MM_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream));
    return;
  }
  note_host_sync();
  MM_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, stream));
  MM_CUDA_CHECK(cudaStreamSynchronize(stream));
}

void cuda_fill_bytes(void* dst, int byte_value, size_t bytes) {
  MM_CUDA_CHECK(cudaMemsetAsync(dst, byte_value, bytes, cuda_stream()));
}

}  // namespace mmengine
