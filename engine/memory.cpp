#include "engine/memory.h"

#include <cstdlib>
#include <cstring>
#include <mutex>

#include "engine/block_cache.h"
#include "kernels/error.h"
#ifdef MMENGINE_WITH_CUDA
#include "engine/cuda/cuda_memory.h"
#include "engine/cuda/context.h"
#include "engine/cuda/graph.h"
#endif

namespace mmengine {

namespace {
constexpr size_t kCpuAlignment = 64;

// Host blocks are cached like device blocks: a step's large activations would otherwise go
// through mmap/munmap and fresh page faults on every allocation.
BlockCache& cpu_cache() {
  static BlockCache* c = new BlockCache(  // leaked: blocks may return during static destruction
      [](size_t bytes) { return std::aligned_alloc(kCpuAlignment, (bytes + kCpuAlignment - 1) / kCpuAlignment * kCpuAlignment); },
      [](void* p) { std::free(p); });
  return *c;
}

std::shared_ptr<void> allocate_cpu(size_t bytes) {
  auto p = cpu_cache().allocate(bytes);
  MM_CHECK(p != nullptr, "out of host memory allocating ", bytes, " bytes");
  return p;
}
}  // namespace

#ifndef MMENGINE_WITH_CUDA
[[noreturn]] static void no_cuda() { MM_FAIL("this build has no CUDA support: use --device cpu"); }
#endif

std::shared_ptr<void> allocate(Device d, size_t bytes) {
  if (d == Device::CPU) return allocate_cpu(bytes);
#ifdef MMENGINE_WITH_CUDA
  return cuda_allocate(bytes);
#else
  no_cuda();
#endif
}

std::shared_ptr<void> upload_bytes(Device d, const void* host, size_t bytes) {
  std::shared_ptr<void> p = allocate(d, bytes);
  copy_bytes(p.get(), d, host, Device::CPU, bytes);
  return p;
}

const void* DeviceTable::get(Device d, const void* host, size_t bytes) {
  const auto* h = static_cast<const unsigned char*>(host);
  // After an in-place rewrite inside a capture, table_ holds host_ only once the graph has run:
  // an eager call cannot take it as it is (a new copy below), a later capture can.
  const bool same = table_ && d == device_ && host_.size() == bytes && std::memcmp(host_.data(), h, bytes) == 0;
#ifdef MMENGINE_WITH_CUDA
  const bool capturing = d == Device::CUDA && cuda_capturing();
#else
  const bool capturing = false;
#endif
  if (same && (capturing || !rewritten_in_capture_)) {
    captured_ = captured_ || capturing;
    return table_.get();
  }
  if (capturing) {
#ifdef MMENGINE_WITH_CUDA
    // In place, from the pinned buffer, as part of the graph.
    if (!table_ || captured_ || device_ != d || host_.size() != bytes || !pinned_) return nullptr;
    std::memcpy(pinned_.get(), h, bytes);
    cuda_copy_from_pinned(table_.get(), pinned_.get(), bytes);
    host_.assign(h, h + bytes);
    captured_ = true;
    rewritten_in_capture_ = true;
    return table_.get();
#endif
  }
  if (captured_) {  // a graph still reads the old copies: keep them for the process's lifetime
    static std::mutex m;
    static auto* kept = new std::vector<std::shared_ptr<void>>;  // leaked on purpose, like graph pools
    std::lock_guard<std::mutex> lock(m);
    kept->push_back(table_);
    kept->push_back(pinned_);
    pinned_.reset();
  }
  table_ = upload_bytes(d, host, bytes);
#ifdef MMENGINE_WITH_CUDA
  if (d == Device::CUDA && (!pinned_ || host_.size() != bytes)) pinned_ = cuda_pinned(bytes);
#endif
  device_ = d;
  host_.assign(h, h + bytes);
  captured_ = false;
  rewritten_in_capture_ = false;
  return table_.get();
}

void copy_bytes(void* dst, Device dst_dev, const void* src, Device src_dev, size_t bytes) {
  if (bytes == 0) return;
  if (dst_dev == Device::CPU && src_dev == Device::CPU) {
    std::memcpy(dst, src, bytes);
    return;
  }
#ifdef MMENGINE_WITH_CUDA
  cuda_copy(dst, dst_dev == Device::CUDA, src, src_dev == Device::CUDA, bytes);
#else
  no_cuda();
#endif
}

void fill_bytes(void* dst, Device d, int byte_value, size_t bytes) {
  if (bytes == 0) return;
  if (d == Device::CPU) {
    std::memset(dst, byte_value, bytes);
    return;
  }
#ifdef MMENGINE_WITH_CUDA
  cuda_fill_bytes(dst, byte_value, bytes);
#else
  no_cuda();
#endif
}

#ifndef MMENGINE_WITH_CUDA
int64_t cuda_host_syncs() { return 0; }
#endif

CudaAllocatorStats cuda_allocator_stats() {
#ifdef MMENGINE_WITH_CUDA
  return cuda_stats();
#else
  return {};
#endif
}

}  // namespace mmengine
