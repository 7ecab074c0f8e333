// A size-class cache of freed memory blocks, shared by the CPU and CUDA allocators: a freed
// block goes to a free list keyed by its size class and is handed out again for a request of
// the same class, so a training loop of fixed shapes stops calling the system allocator (or
// cudaMalloc) after its first step. Size classes: multiples of 512 bytes below 1 MiB,
// multiples of 1 MiB above (bounded waste, good reuse for a step's fixed shapes).
#pragma once
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <mutex>

#include "engine/memory.h"

namespace mmengine {

class BlockCache {
 public:
  using RawAlloc = std::function<void*(size_t)>;  // returns nullptr when out of memory
  using RawFree = std::function<void(void*)>;
  BlockCache(RawAlloc alloc, RawFree release) : alloc_(std::move(alloc)), free_(std::move(release)) {}

  static size_t size_class(size_t bytes) {
    const size_t small = 512, large = size_t(1) << 20;
    if (bytes == 0) bytes = 1;
    return bytes < large ? (bytes + small - 1) / small * small : (bytes + large - 1) / large * large;
  }

  // The deleter returns the block to this cache; the cache must outlive every block (the
  // allocators keep theirs for the whole process).
  std::shared_ptr<void> allocate(size_t bytes) {
    const size_t cls = size_class(bytes);
    void* p = nullptr;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = free_blocks_.find(cls);
      if (it != free_blocks_.end()) {
        p = it->second;
        free_blocks_.erase(it);
        stats_.cache_hits++;
        stats_.bytes_cached -= cls;
      }
    }
    if (!p) {
      p = alloc_(cls);
      if (!p) {  // out of memory: give the cached blocks back and try once more
        release_cached();
        p = alloc_(cls);
      }
      if (!p) return nullptr;
      std::lock_guard<std::mutex> lock(mu_);
      stats_.device_mallocs++;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      stats_.bytes_in_use += cls;
    }
    return std::shared_ptr<void>(p, [this, cls](void* q) {
      std::lock_guard<std::mutex> lock(mu_);
      free_blocks_.emplace(cls, q);
      stats_.bytes_in_use -= cls;
      stats_.bytes_cached += cls;
    });
  }

  void release_cached() {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& kv : free_blocks_) free_(kv.second);
    free_blocks_.clear();
    stats_.bytes_cached = 0;
  }

  CudaAllocatorStats stats() {
    std::lock_guard<std::mutex> lock(mu_);
    return stats_;
  }

 private:
  RawAlloc alloc_;
  RawFree free_;
  std::mutex mu_;
  std::multimap<size_t, void*> free_blocks_;
  CudaAllocatorStats stats_;
};

}  // namespace mmengine
