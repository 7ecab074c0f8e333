// Caching allocator: freed blocks go to a free list keyed by their (rounded) size and are
// handed out again for a request of the same size class, so a training step of fixed shapes
// calls cudaMalloc only during its first iteration. Size classes: multiples of 512 bytes below
// 1 MiB, multiples of 1 MiB above (bounded waste, good reuse for the fixed shapes of a step).
#include <map>
#include <mutex>

#include "engine/cuda/cuda_memory.h"
#include "engine/cuda_check.h"

namespace mmengine {

namespace {
struct Cache {
  std::mutex mu;
  std::multimap<size_t, void*> free_blocks;
  CudaAllocatorStats stats;
};

Cache& cache() {
  // Leaked on purpose: blocks may be returned during static destruction, after the CUDA
  // context is gone; the driver reclaims everything at exit.
  static Cache* c = new Cache();
  return *c;
}

size_t size_class(size_t bytes) {
  const size_t small = 512, large = size_t(1) << 20;
  if (bytes == 0) bytes = 1;
  if (bytes < large) return (bytes + small - 1) / small * small;
  return (bytes + large - 1) / large * large;
}

void give_back(void* p, size_t cls) {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  c.free_blocks.emplace(cls, p);
  c.stats.bytes_in_use -= cls;
  c.stats.bytes_cached += cls;
}
}  // namespace

std::shared_ptr<void> cuda_allocate(size_t bytes) {
  const size_t cls = size_class(bytes);
  Cache& c = cache();
  void* p = nullptr;
  {
    std::lock_guard<std::mutex> lock(c.mu);
    auto it = c.free_blocks.find(cls);
    if (it != c.free_blocks.end()) {
      p = it->second;
      c.free_blocks.erase(it);
      c.stats.cache_hits++;
      c.stats.bytes_cached -= cls;
      c.stats.bytes_in_use += cls;
    }
  }
  if (!p) {
    cudaError_t st = cudaMalloc(&p, cls);
    if (st == cudaErrorMemoryAllocation) {
      cudaGetLastError();
      cuda_release_cache();  // retry once with the cache emptied
      st = cudaMalloc(&p, cls);
    }
    CUDA_CHECK(st);
    std::lock_guard<std::mutex> lock(c.mu);
    c.stats.device_mallocs++;
    c.stats.bytes_in_use += cls;
  }
  return std::shared_ptr<void>(p, [cls](void* q) { give_back(q, cls); });
}

void cuda_release_cache() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  for (auto& kv : c.free_blocks) cudaFree(kv.second);  // best effort: destructors never throw
  c.free_blocks.clear();
  c.stats.bytes_cached = 0;
}

CudaAllocatorStats cuda_stats() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  return c.stats;
}

void cuda_copy(void* dst, bool dst_on_device, const void* src, bool src_on_device, size_t bytes) {
  cudaMemcpyKind kind = dst_on_device ? (src_on_device ? cudaMemcpyDeviceToDevice : cudaMemcpyHostToDevice)
                                      : cudaMemcpyDeviceToHost;
  CUDA_CHECK(cudaMemcpy(dst, src, bytes, kind));
}

void cuda_fill_bytes(void* dst, int byte_value, size_t bytes) {
  CUDA_CHECK(cudaMemset(dst, byte_value, bytes));
}

}  // namespace mmengine
