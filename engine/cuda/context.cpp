// The CUDA execution context (engine/cuda/context.h): the context stream, the current-stream
// override, pinned staging for uploads, and the host-synchronization counter.
#include "engine/cuda/context.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <map>
#include <mutex>
#include <vector>

#include "engine/cuda/graph.h"
#include "engine/memory.h"
#include "kernels/cuda/check.h"

namespace mmengine {

namespace {
std::atomic<int64_t> g_host_syncs{0};
thread_local cudaStream_t t_current = nullptr;  // nullptr: the context stream

cudaStream_t context_stream() {
  // Non-blocking: it does not wait for the legacy default stream, which the engine never uses.
  // Leaked on purpose: blocks may be freed during static destruction and name this stream.
  static cudaStream_t s = [] {
    cudaStream_t created = nullptr;
    MM_CUDA_CHECK(cudaStreamCreateWithFlags(&created, cudaStreamNonBlocking));
    return created;
  }();
  return s;
}

// A pinned buffer and the event recorded on the stream after the copy that reads it.
struct StagingSlot {
  void* host = nullptr;
  cudaEvent_t done = nullptr;
  bool pending = false;
};
constexpr size_t kSlotBytes = size_t(4) << 20;  // larger uploads go in 4 MiB chunks
constexpr size_t kMaxSlots = 8;

class Staging {
 public:
  // A slot whose previous copy has finished: a free one, a new one (up to kMaxSlots), or the
  // oldest after waiting for it (counted as a host synchronization).
  StagingSlot& acquire() {
    for (size_t k = 0; k < slots_.size(); ++k) {
      StagingSlot& s = slots_[(next_ + k) % slots_.size()];
      if (!s.pending) return take(s);
      const cudaError_t st = cudaEventQuery(s.done);
      if (st == cudaSuccess) return take(s);
      if (st != cudaErrorNotReady) MM_CUDA_CHECK(st);
    }
    if (slots_.size() < kMaxSlots) {
      StagingSlot s;
      MM_CUDA_CHECK(cudaMallocHost(&s.host, kSlotBytes));
      MM_CUDA_CHECK(cudaEventCreateWithFlags(&s.done, cudaEventDisableTiming));
      slots_.push_back(s);
      return take(slots_.back());
    }
    StagingSlot& oldest = slots_[next_ % slots_.size()];
    note_host_sync();
    MM_CUDA_CHECK(cudaEventSynchronize(oldest.done));
    return take(oldest);
  }

 private:
  StagingSlot& take(StagingSlot& s) {
    next_ = static_cast<size_t>(&s - slots_.data()) + 1;
    s.pending = false;
    return s;
  }
  std::vector<StagingSlot> slots_;  // reserved below: references stay valid
  size_t next_ = 0;

 public:
  Staging() { slots_.reserve(kMaxSlots); }
};

// One set of staging slots per stream, each with its own lock: a slot is reused only after the
// copy that read it, which is queued behind that stream's kernels, so runs trained at once on
// several streams (`ablate --concurrent-mode streams`) never wait for each other's work here.
struct StreamStaging {
  std::mutex mu;
  Staging slots;
};
StreamStaging& staging(cudaStream_t stream) {
  static std::mutex mu;
  static auto* all = new std::map<cudaStream_t, StreamStaging*>;  // leaked: pinned memory goes with the process
  std::lock_guard<std::mutex> lock(mu);
  StreamStaging*& s = (*all)[stream];
  if (!s) s = new StreamStaging;
  return *s;
}
}  // namespace

cudaStream_t cuda_stream() { return t_current ? t_current : context_stream(); }

cudaStream_t cuda_worker_stream(int slot) {
  MM_CHECK(slot >= 0 && slot < 1024, "internal: worker stream slot ", slot, " outside 0..1023");
  static std::mutex mu;
  static auto* streams = new std::vector<cudaStream_t>;  // leaked like the context stream
  std::lock_guard<std::mutex> lock(mu);
  while (static_cast<int>(streams->size()) <= slot) {
    cudaStream_t created = nullptr;
    MM_CUDA_CHECK(cudaStreamCreateWithFlags(&created, cudaStreamNonBlocking));
    streams->push_back(created);
  }
  return (*streams)[slot];
}

CudaStreamScope::CudaStreamScope(cudaStream_t stream) : previous_(t_current) { t_current = stream; }
CudaStreamScope::~CudaStreamScope() { t_current = previous_; }

void cuda_upload(void* dst, const void* src, size_t bytes) {
  MM_CHECK(!cuda_capturing(), "--graph on: the captured step (training step or evaluation forward) copied ",
           bytes, " bytes from the host; a replay would not repeat it (inputs go into static buffers before the replay)");
  const cudaStream_t stream = cuda_stream();
  StreamStaging& staged = staging(stream);
  std::lock_guard<std::mutex> lock(staged.mu);
  for (size_t done = 0; done < bytes;) {
    const size_t n = std::min(kSlotBytes, bytes - done);
    StagingSlot& slot = staged.slots.acquire();
    std::memcpy(slot.host, static_cast<const char*>(src) + done, n);
    MM_CUDA_CHECK(cudaMemcpyAsync(static_cast<char*>(dst) + done, slot.host, n, cudaMemcpyHostToDevice, stream));
    MM_CUDA_CHECK(cudaEventRecord(slot.done, stream));
    slot.pending = true;
    done += n;
  }
}

std::shared_ptr<void> cuda_pinned(size_t bytes) {
  MM_CHECK(!cuda_capturing(), "--graph on: internal: pinned memory requested during capture");
  void* p = nullptr;
  MM_CUDA_CHECK(cudaMallocHost(&p, std::max<size_t>(bytes, 1)));
  return std::shared_ptr<void>(p, [](void* q) { cudaFreeHost(q); });  // at exit: nothing to report to
}

void cuda_copy_from_pinned(void* dst, const void* pinned, size_t bytes) {
  if (bytes == 0) return;
  MM_CUDA_CHECK(cudaMemcpyAsync(dst, pinned, bytes, cudaMemcpyHostToDevice, cuda_stream()));
}

void note_host_sync() {
  MM_CHECK(!cuda_capturing(), "--graph on: the captured step (training step or evaluation forward) waited for the "
           "device (a read of a device value or a synchronization); a captured step must not");
  g_host_syncs.fetch_add(1, std::memory_order_relaxed);
}

int64_t cuda_host_syncs() { return g_host_syncs.load(std::memory_order_relaxed); }

}  // namespace mmengine
