// The engine's execution context on the CUDA device (built only with CUDA or the emulator).
//
// Contract: every launch, cuBLAS/cuDNN call, copy and fill the engine makes goes to one stream,
// cuda_stream(): the device's context stream (non-blocking, created on first use), or the stream
// a CudaStreamScope made current on this host thread. Kernel launchers (kernels/cuda/*.cu) take
// that stream as their last parameter (MM_KERNEL in engine/dispatch.h appends it; the CPU twins
// keep their signatures); kernels/ never reads this context (the layering rule). cuBLAS: the gemm
// family keeps one handle per stream, bound to it once. Host-to-device copies go through pinned
// staging buffers with cudaMemcpyAsync (cuda_upload); device-to-host copies wait for the stream.
// Every place where the host waits for the device counts one host synchronization
// (cuda_host_syncs in engine/memory.h), so a test can assert that a training step has none.
#pragma once
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <memory>

namespace mmengine {

cudaStream_t cuda_stream();

// Makes `stream` current on this host thread until the scope ends (nullptr: the context stream).
class CudaStreamScope {
 public:
  explicit CudaStreamScope(cudaStream_t stream);
  ~CudaStreamScope();
  CudaStreamScope(const CudaStreamScope&) = delete;
  CudaStreamScope& operator=(const CudaStreamScope&) = delete;

 private:
  cudaStream_t previous_;
};

// Stream number `slot` (>= 0) of a process-wide set: non-blocking, created on first use, never
// destroyed (its allocator pool and cuBLAS/cuDNN handles, keyed by the stream, stay valid).
// WorkerStreamScope (engine/runtime.h) makes one current on a host thread.
cudaStream_t cuda_worker_stream(int slot);

// Host memory -> device memory, ordered on cuda_stream(): the bytes are copied into a pinned
// staging buffer, then cudaMemcpyAsync; `src` may be reused as soon as this returns. A staging
// buffer (one set per stream) is reused only after the event recorded behind its copy completed.
void cuda_upload(void* dst, const void* src, size_t bytes);

// Pinned host memory of its own (not a staging slot), freed when the last owner lets go; not
// while a graph is being captured. A captured graph may copy from it (cuda_copy_from_pinned):
// the copy reads it again at every replay, so its bytes must stay as they were at capture.
std::shared_ptr<void> cuda_pinned(size_t bytes);
// pinned (from cuda_pinned) -> device memory on cuda_stream(), no host wait; may be captured.
void cuda_copy_from_pinned(void* dst, const void* pinned, size_t bytes);

// One host wait for the device (a device-to-host copy, a stream or device synchronization).
void note_host_sync();

}  // namespace mmengine
