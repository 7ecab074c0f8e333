// The host side of the CUDA emulator: the runtime API subset the project calls, over host
// memory. Launches are synchronous, so every stream and event is complete as soon as it exists.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>

#include "emulator/memory_registry.h"
#include "emulator/stream_state.h"
#include "cuda_runtime.h"
#include "mmemu_counts.h"

namespace mmemu {

namespace {
std::mutex& counts_mutex() {
  static std::mutex m;
  return m;
}
WorkCounts& counts() {
  static WorkCounts c;
  return c;
}
}  // namespace

WorkCounts work_counts() {
  std::lock_guard<std::mutex> lock(counts_mutex());
  return counts();
}
void count_work(uint64_t WorkCounts::*what) {
  std::lock_guard<std::mutex> lock(counts_mutex());
  ++(counts().*what);
}

namespace {
thread_local cudaError_t last_error = cudaSuccess;  // per host thread, as in CUDA

cudaError_t record(cudaError_t e) {
  if (e != cudaSuccess) last_error = e;
  return e;
}

std::mutex& registry_mutex() {
  static std::mutex m;
  return m;
}
std::map<uintptr_t, size_t>& registry() {  // device allocation start -> bytes
  static auto* r = new std::map<uintptr_t, size_t>;
  return *r;
}
}  // namespace

bool device_range(const void* p, size_t bytes) {
  std::lock_guard<std::mutex> lock(registry_mutex());
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  auto it = registry().upper_bound(a);
  if (it == registry().begin()) return false;
  --it;
  return a >= it->first && a - it->first + bytes <= it->second;
}

std::mutex& work_mutex() {
  static std::mutex m;
  return m;
}
std::map<cudaStream_t, StreamWork>& work() {
  static auto* w = new std::map<cudaStream_t, StreamWork>;
  return *w;
}

StreamWork stream_work(cudaStream_t stream) {
  std::lock_guard<std::mutex> lock(work_mutex());
  auto it = work().find(stream);
  return it == work().end() ? StreamWork{} : it->second;
}

void count_work(cudaStream_t stream, Work what) {
  std::lock_guard<std::mutex> lock(work_mutex());
  StreamWork& w = work()[stream];
  switch (what) {  // and the process-wide totals (mmemu_counts.h): copies and fills together
    case Work::Kernel: ++w.kernels; count_work(&WorkCounts::kernels); break;
    case Work::Gemm: ++w.gemms; count_work(&WorkCounts::gemms); break;
    case Work::Copy: ++w.copies; count_work(&WorkCounts::copies); break;
    case Work::Fill: ++w.fills; count_work(&WorkCounts::copies); break;
    case Work::Graph: ++w.graphs; break;
  }
}

}  // namespace mmemu

using mmemu::record;

namespace {
// A call that an active stream capture forbids (cuda_runtime.h): refused, the capture invalidated.
bool refused_in_capture() { return mmemu::capture_forbids(); }

// cudaMemcpy's checks and the copy, without the capture rules (shared with cudaMemcpyAsync).
cudaError_t copy_now(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind) {
  if (bytes == 0) return cudaSuccess;
  if (!dst || !src) return record(cudaErrorInvalidValue);
  const bool dst_dev = mmemu::device_range(dst, bytes), src_dev = mmemu::device_range(src, bytes);
  switch (kind) {
    case cudaMemcpyHostToHost: break;
    case cudaMemcpyHostToDevice:
      if (!dst_dev) return record(cudaErrorInvalidValue);
      break;
    case cudaMemcpyDeviceToHost:
      if (!src_dev) return record(cudaErrorInvalidValue);
      break;
    case cudaMemcpyDeviceToDevice:
      if (!dst_dev || !src_dev) return record(cudaErrorInvalidValue);
      break;
    case cudaMemcpyDefault: break;
    default: return record(cudaErrorInvalidMemcpyDirection);
  }
  std::memmove(dst, src, bytes);
  return cudaSuccess;
}
}  // namespace

struct mmemu_event {
  std::chrono::steady_clock::time_point when{};
  bool recorded = false;
};

cudaError_t cudaGetDeviceCount(int* count) {
  if (!count) return record(cudaErrorInvalidValue);
  *count = 1;
  return cudaSuccess;
}
cudaError_t cudaSetDevice(int device) { return device == 0 ? cudaSuccess : record(cudaErrorInvalidDevice); }
cudaError_t cudaGetDevice(int* device) {
  if (!device) return record(cudaErrorInvalidValue);
  *device = 0;
  return cudaSuccess;
}

cudaError_t cudaMalloc(void** ptr, size_t bytes) {
  if (!ptr) return record(cudaErrorInvalidValue);
  if (refused_in_capture()) return record(cudaErrorStreamCaptureUnsupported);
  *ptr = nullptr;
  if (bytes == 0) return cudaSuccess;
  // 256-byte alignment, as cudaMalloc guarantees, and exactly `bytes`, so that AddressSanitizer
  // reports a kernel's write one element past the end.
  void* p = nullptr;
  if (posix_memalign(&p, 256, bytes) != 0) return record(cudaErrorMemoryAllocation);
  std::lock_guard<std::mutex> lock(mmemu::registry_mutex());
  mmemu::registry()[reinterpret_cast<uintptr_t>(p)] = bytes;
  *ptr = p;
  return cudaSuccess;
}

cudaError_t cudaFree(void* ptr) {
  if (!ptr) return cudaSuccess;
  if (refused_in_capture()) return record(cudaErrorStreamCaptureUnsupported);
  {
    std::lock_guard<std::mutex> lock(mmemu::registry_mutex());
    auto it = mmemu::registry().find(reinterpret_cast<uintptr_t>(ptr));
    if (it == mmemu::registry().end()) return record(cudaErrorInvalidValue);
    mmemu::registry().erase(it);
  }
  std::free(ptr);
  return cudaSuccess;
}

cudaError_t cudaMallocHost(void** ptr, size_t bytes) {
  if (!ptr) return record(cudaErrorInvalidValue);
  if (refused_in_capture()) return record(cudaErrorStreamCaptureUnsupported);
  *ptr = nullptr;
  if (bytes == 0) return cudaSuccess;
  if (posix_memalign(ptr, 256, bytes) != 0) return record(cudaErrorMemoryAllocation);
  return cudaSuccess;
}
cudaError_t cudaFreeHost(void* ptr) {
  if (refused_in_capture()) return record(cudaErrorStreamCaptureUnsupported);
  std::free(ptr);
  return cudaSuccess;
}

cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind) {
  if (refused_in_capture()) return record(cudaErrorStreamCaptureUnsupported);  // it synchronizes
  const cudaError_t e = copy_now(dst, src, bytes, kind);
  if (e == cudaSuccess && bytes > 0) mmemu::count_work(&mmemu::WorkCounts::copies);  // no stream: the total only
  return e;
}

cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind, cudaStream_t stream) {
  if (mmemu::capturing(stream)) {
    // A captured copy must stay inside device memory (or read a host buffer that outlives the
    // graph): copies to the host are refused, as the engine never needs one in a step.
    if (kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyHostToHost || !mmemu::device_range(dst, bytes)) {
      mmemu::invalidate_capture(stream);
      return record(cudaErrorStreamCaptureUnsupported);
    }
    if (bytes == 0) return cudaSuccess;
    if (!src || (kind == cudaMemcpyDeviceToDevice && !mmemu::device_range(src, bytes))) return record(cudaErrorInvalidValue);
    mmemu::record_work(stream, [=](cudaStream_t s) {
      std::memmove(dst, src, bytes);
      mmemu::count_work(s, mmemu::Work::Copy);
    });
    return cudaSuccess;
  }
  if (stream == nullptr && refused_in_capture()) return record(cudaErrorStreamCaptureImplicit);
  const cudaError_t e = copy_now(dst, src, bytes, kind);
  if (e == cudaSuccess) mmemu::count_work(stream, mmemu::Work::Copy);
  return e;
}

cudaError_t cudaMemset(void* dst, int value, size_t bytes) {
  if (refused_in_capture()) return record(cudaErrorStreamCaptureUnsupported);  // it synchronizes
  if (bytes == 0) return cudaSuccess;
  if (!mmemu::device_range(dst, bytes)) return record(cudaErrorInvalidValue);
  std::memset(dst, value, bytes);
  mmemu::count_work(&mmemu::WorkCounts::copies);
  return cudaSuccess;
}
cudaError_t cudaMemsetAsync(void* dst, int value, size_t bytes, cudaStream_t stream) {
  if (mmemu::capturing(stream)) {
    if (bytes == 0) return cudaSuccess;
    if (!mmemu::device_range(dst, bytes)) return record(cudaErrorInvalidValue);
    mmemu::record_work(stream, [=](cudaStream_t s) {
      std::memset(dst, value, bytes);
      mmemu::count_work(s, mmemu::Work::Fill);
    });
    return cudaSuccess;
  }
  if (stream == nullptr && refused_in_capture()) return record(cudaErrorStreamCaptureImplicit);
  if (bytes == 0) return cudaSuccess;
  if (!mmemu::device_range(dst, bytes)) return record(cudaErrorInvalidValue);
  std::memset(dst, value, bytes);
  const cudaError_t e = cudaSuccess;
  if (e == cudaSuccess) mmemu::count_work(stream, mmemu::Work::Fill);
  return e;
}

cudaError_t cudaDeviceSynchronize() {
  return mmemu::capture_forbids_device_sync() ? record(cudaErrorStreamCaptureUnsupported) : cudaSuccess;
}
cudaError_t cudaStreamCreate(cudaStream_t* stream) {
  if (!stream) return record(cudaErrorInvalidValue);
  *stream = new mmemu_stream;
  return cudaSuccess;
}
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned flags) {
  if (flags & ~unsigned(cudaStreamNonBlocking)) return record(cudaErrorInvalidValue);
  return cudaStreamCreate(stream);
}
cudaError_t cudaStreamDestroy(cudaStream_t stream) {
  if (stream) mmemu::forget_capture(stream);  // no dangling entry for the other threads' checks
  delete stream;
  return cudaSuccess;
}
cudaError_t cudaStreamSynchronize(cudaStream_t stream) {
  if (mmemu::capturing(stream)) {
    mmemu::invalidate_capture(stream);
    return record(cudaErrorStreamCaptureUnsupported);
  }
  return refused_in_capture() ? record(cudaErrorStreamCaptureUnsupported) : cudaSuccess;
}

cudaError_t cudaGetLastError() {
  cudaError_t e = mmemu::last_error;
  mmemu::last_error = cudaSuccess;
  return e;
}
cudaError_t cudaPeekAtLastError() { return mmemu::last_error; }

namespace mmemu {
void set_last_error(cudaError_t e) { record(e); }
}  // namespace mmemu

const char* cudaGetErrorName(cudaError_t error) {
  switch (error) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInitializationError: return "cudaErrorInitializationError";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorInvalidDevicePointer: return "cudaErrorInvalidDevicePointer";
    case cudaErrorInvalidMemcpyDirection: return "cudaErrorInvalidMemcpyDirection";
    case cudaErrorNoDevice: return "cudaErrorNoDevice";
    case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
    case cudaErrorInvalidResourceHandle: return "cudaErrorInvalidResourceHandle";
    case cudaErrorNotReady: return "cudaErrorNotReady";
    case cudaErrorLaunchFailure: return "cudaErrorLaunchFailure";
    case cudaErrorNotSupported: return "cudaErrorNotSupported";
    case cudaErrorStreamCaptureImplicit: return "cudaErrorStreamCaptureImplicit";
    case cudaErrorStreamCaptureInvalidated: return "cudaErrorStreamCaptureInvalidated";
    case cudaErrorStreamCaptureUnsupported: return "cudaErrorStreamCaptureUnsupported";
    case cudaErrorStreamCaptureWrongThread: return "cudaErrorStreamCaptureWrongThread";
    case cudaErrorIllegalState: return "cudaErrorIllegalState";
  }
  return "cudaErrorUnknown";
}

const char* cudaGetErrorString(cudaError_t error) {
  switch (error) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInitializationError: return "initialization error";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorInvalidDevicePointer: return "invalid device pointer";
    case cudaErrorInvalidMemcpyDirection: return "invalid copy direction for memcpy";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    case cudaErrorInvalidResourceHandle: return "invalid resource handle";
    case cudaErrorNotReady: return "device not ready";
    case cudaErrorLaunchFailure: return "unspecified launch failure";
    case cudaErrorNotSupported: return "operation not supported";
    case cudaErrorStreamCaptureImplicit: return "operation would make the legacy stream depend on a capturing blocking stream";
    case cudaErrorStreamCaptureInvalidated: return "operation failed due to a previous error during capture";
    case cudaErrorStreamCaptureUnsupported: return "operation not permitted when stream is capturing";
    case cudaErrorStreamCaptureWrongThread: return "attempt to terminate a thread-local capture sequence from another thread";
    case cudaErrorIllegalState: return "operation not permitted when in an illegal state";
  }
  return "unknown error";
}

cudaError_t cudaEventCreate(cudaEvent_t* event) {
  if (!event) return record(cudaErrorInvalidValue);
  *event = new mmemu_event;
  return cudaSuccess;
}
cudaError_t cudaEventCreateWithFlags(cudaEvent_t* event, unsigned flags) {
  if (flags & ~unsigned(cudaEventDisableTiming)) return record(cudaErrorInvalidValue);
  return cudaEventCreate(event);
}
cudaError_t cudaEventQuery(cudaEvent_t event) { return event ? cudaSuccess : record(cudaErrorInvalidResourceHandle); }
cudaError_t cudaEventDestroy(cudaEvent_t event) {
  delete event;
  return cudaSuccess;
}
cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t) {
  if (!event) return record(cudaErrorInvalidResourceHandle);
  event->when = std::chrono::steady_clock::now();
  event->recorded = true;
  return cudaSuccess;
}
cudaError_t cudaEventSynchronize(cudaEvent_t event) {
  if (!event) return record(cudaErrorInvalidResourceHandle);
  return refused_in_capture() ? record(cudaErrorStreamCaptureUnsupported) : cudaSuccess;
}
// Host wall time between the two records: emulated timings are not GPU numbers.
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end) {
  if (!ms || !start || !end) return record(cudaErrorInvalidValue);
  if (!start->recorded || !end->recorded) return record(cudaErrorInvalidResourceHandle);
  *ms = std::chrono::duration<float, std::milli>(end->when - start->when).count();
  return cudaSuccess;
}
