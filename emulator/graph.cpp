// Stream capture and CUDA graphs in the emulator (see include/cuda_runtime.h): a capturing
// stream records its work as closures; a graph is the list, replayed in order on the stream it
// is launched on. Captures are tracked in one process-wide set (the emulator has one device).
#include <algorithm>
#include <mutex>
#include <set>

#include "emulator/memory_registry.h"
#include "emulator/stream_state.h"

struct mmemu_graph {
  std::vector<mmemu::Recorded> nodes;
};
struct mmemu_graph_exec {
  std::vector<mmemu::Recorded> nodes;
};

namespace mmemu {
namespace {
std::mutex& capture_mutex() {
  static std::mutex m;
  return m;
}
std::set<cudaStream_t>& active() {  // streams with a capture in progress (valid or invalidated)
  static auto* s = new std::set<cudaStream_t>;
  return *s;
}
}  // namespace

bool capturing(cudaStream_t stream) {
  return stream != nullptr && stream->capture == cudaStreamCaptureStatusActive;
}

void record_work(cudaStream_t stream, Recorded work) { stream->recorded.push_back(std::move(work)); }

void forget_capture(cudaStream_t stream) {
  std::lock_guard<std::mutex> lock(capture_mutex());
  active().erase(stream);
}

void invalidate_capture(cudaStream_t stream) {
  cudaStreamCaptureStatus expected = cudaStreamCaptureStatusActive;
  if (stream) stream->capture.compare_exchange_strong(expected, cudaStreamCaptureStatusInvalidated);
}

bool capture_forbids_device_sync() {
  // "invalid to synchronize ... a device ... when any associated stream is in capture mode"
  // (CUDA Programming Guide, stream capture): every active capture, any mode, any thread.
  std::lock_guard<std::mutex> lock(capture_mutex());
  bool forbids = false;
  for (cudaStream_t s : active()) {
    cudaStreamCaptureStatus expected = cudaStreamCaptureStatusActive;
    if (s->capture.compare_exchange_strong(expected, cudaStreamCaptureStatusInvalidated)) forbids = true;
  }
  return forbids;
}

// CUDA's rule for the calling thread: a Global capture on any thread forbids the call, a
// ThreadLocal one only on the thread that began it, a Relaxed one never.
bool capture_forbids() {
  std::lock_guard<std::mutex> lock(capture_mutex());
  bool forbids = false;
  const std::thread::id self = std::this_thread::get_id();
  for (cudaStream_t s : active())
    if (s->capture == cudaStreamCaptureStatusActive &&
        (s->mode == cudaStreamCaptureModeGlobal || (s->mode == cudaStreamCaptureModeThreadLocal && s->capturer == self))) {
      s->capture = cudaStreamCaptureStatusInvalidated;
      forbids = true;
    }
  return forbids;
}
}  // namespace mmemu

using mmemu::set_last_error;

namespace {
cudaError_t fail(cudaError_t e) {
  set_last_error(e);
  return e;
}
}  // namespace

cudaError_t cudaStreamBeginCapture(cudaStream_t stream, cudaStreamCaptureMode mode) {
  if (!stream) return fail(cudaErrorStreamCaptureUnsupported);  // the legacy stream cannot be captured
  if (mode != cudaStreamCaptureModeGlobal && mode != cudaStreamCaptureModeThreadLocal && mode != cudaStreamCaptureModeRelaxed)
    return fail(cudaErrorInvalidValue);
  std::lock_guard<std::mutex> lock(mmemu::capture_mutex());
  if (stream->capture != cudaStreamCaptureStatusNone) return fail(cudaErrorIllegalState);
  stream->mode = mode;  // written before the status that publishes them
  stream->capturer = std::this_thread::get_id();
  stream->recorded.clear();
  stream->capture = cudaStreamCaptureStatusActive;
  mmemu::active().insert(stream);
  return cudaSuccess;
}

cudaError_t cudaStreamEndCapture(cudaStream_t stream, cudaGraph_t* graph) {
  if (!stream || !graph) return fail(cudaErrorInvalidValue);
  if (stream->capture == cudaStreamCaptureStatusNone) return fail(cudaErrorIllegalState);
  // A Global or ThreadLocal capture ends on the thread that began it (CUDA's rule).
  if (stream->mode != cudaStreamCaptureModeRelaxed && stream->capturer != std::this_thread::get_id())
    return fail(cudaErrorStreamCaptureWrongThread);
  bool valid = false;
  {
    std::lock_guard<std::mutex> lock(mmemu::capture_mutex());  // no invalidation between the read and the end
    mmemu::active().erase(stream);
    valid = stream->capture.exchange(cudaStreamCaptureStatusNone) == cudaStreamCaptureStatusActive;
  }
  *graph = nullptr;
  if (!valid) {
    stream->recorded.clear();
    return fail(cudaErrorStreamCaptureInvalidated);
  }
  *graph = new mmemu_graph{std::move(stream->recorded)};
  stream->recorded.clear();
  return cudaSuccess;
}

cudaError_t cudaStreamIsCapturing(cudaStream_t stream, cudaStreamCaptureStatus* status) {
  if (!status) return fail(cudaErrorInvalidValue);
  *status = stream ? stream->capture.load() : cudaStreamCaptureStatusNone;
  return cudaSuccess;
}

cudaError_t cudaGraphInstantiate(cudaGraphExec_t* exec, cudaGraph_t graph, unsigned long long flags) {
  if (!exec || !graph || flags != 0) return fail(cudaErrorInvalidValue);
  *exec = new mmemu_graph_exec{graph->nodes};
  return cudaSuccess;
}

cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t stream) {
  if (!exec) return fail(cudaErrorInvalidValue);
  if (mmemu::capturing(stream)) return fail(cudaErrorStreamCaptureUnsupported);  // not modelled: child graphs
  mmemu::count_work(stream, mmemu::Work::Graph);
  for (auto& node : exec->nodes) node(stream);
  return cudaSuccess;
}

cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec) {
  delete exec;
  return cudaSuccess;
}

cudaError_t cudaGraphDestroy(cudaGraph_t graph) {
  delete graph;
  return cudaSuccess;
}
