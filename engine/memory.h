// Raw memory on either device: allocation (CUDA through a caching allocator), copies between
// and within devices, byte fills. Tensor storage is built on these.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "engine/dtype.h"

namespace mmengine {

// Owning pointer; the deleter returns CUDA blocks to the cache instead of freeing them.
std::shared_ptr<void> allocate(Device d, size_t bytes);
void copy_bytes(void* dst, Device dst_dev, const void* src, Device src_dev, size_t bytes);
void fill_bytes(void* dst, Device d, int byte_value, size_t bytes);
// A copy of `bytes` host bytes on device d (e.g. a multi-tensor kernel's chunk table).
std::shared_ptr<void> upload_bytes(Device d, const void* host, size_t bytes);

// A host table (a multi-tensor kernel's chunk list) kept on a device between calls. get()
// returns the device copy, uploading only when the bytes or the device differ from the last
// call's, so a steady training step uploads nothing. While the CUDA context stream captures a
// graph (engine/cuda/graph.h), the table is rewritten in place from a pinned copy of the bytes
// (a captured copy: every replay repeats it), which needs the table's size to be the last eager
// call's; otherwise get() returns nullptr and the caller takes its per-launch path. A device or
// pinned copy that a capture used is never freed or rewritten afterwards: the graph reads it.
class DeviceTable {
 public:
  const void* get(Device d, const void* host, size_t bytes);

 private:
  Device device_ = Device::CPU;
  std::vector<unsigned char> host_;
  std::shared_ptr<void> table_;
  std::shared_ptr<void> pinned_;  // CUDA: the bytes a capture copies from, host_.size() of them
  bool captured_ = false;         // table_ and pinned_ were handed to a capture
  bool rewritten_in_capture_ = false;  // table_ holds host_ only once the graph has run
};

struct CudaAllocatorStats {
  size_t device_mallocs = 0;  // cudaMalloc calls so far
  size_t cache_hits = 0;      // allocations served from the cache
  size_t bytes_in_use = 0;
  size_t bytes_cached = 0;    // free blocks held for reuse
};
CudaAllocatorStats cuda_allocator_stats();

// How many times the host has waited for the CUDA device so far (device-to-host copies,
// stream / device / staging-event synchronizations; engine/cuda/context.h); 0 without CUDA.
// A single-process training step adds none: its losses stay on the device until they are logged
// (a data-parallel one waits for its collectives).
int64_t cuda_host_syncs();

}  // namespace mmengine
