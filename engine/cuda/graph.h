// CUDA-graph capture and replay of work the engine queues on the thread's current stream
// (engine/cuda/context.h); built only with CUDA or the emulator.
//
// Contract: a CudaGraph owns a private pool of device blocks. warm(fn) runs fn eagerly with
// every device allocation served from that pool; capture(fn) runs fn's host code with the
// thread's current stream capturing (cudaStreamCaptureModeThreadLocal: other host threads,
// issuing on their own streams, may allocate and wait meanwhile), so its device work is
// recorded, not run, and its allocations again come from the pool: after warm-ups of the same work the pool
// holds every block the capture needs, so no cudaMalloc happens during capture (one that would
// is an error naming --graph). replay() launches the recorded work on the current stream. The
// recorded work reads and writes the addresses it was captured with: inputs must be copied into
// buffers that outlive the graph before each replay, and outputs read from the tensors the
// capture produced. During capture nothing may synchronize or copy to or from host memory (the
// engine's uploads and reads fail with a message naming --graph). Blocks of the private pool
// are never handed to other allocations, so replays cannot overwrite tensors made outside.
#pragma once
#include <functional>

#include <cuda_runtime.h>

namespace mmengine {

class BlockCache;

class CudaGraph {
 public:
  CudaGraph();
  ~CudaGraph();
  CudaGraph(const CudaGraph&) = delete;
  CudaGraph& operator=(const CudaGraph&) = delete;

  void warm(const std::function<void()>& fn);
  void capture(const std::function<void()>& fn);
  void replay();
  bool captured() const { return exec_ != nullptr; }

 private:
  BlockCache* pool_;  // leaked with the process: blocks of the graph's tensors may outlive it
  cudaGraph_t graph_ = nullptr;
  cudaGraphExec_t exec_ = nullptr;
};

// True while this thread captures the context stream (CudaGraph::capture).
bool cuda_capturing();

}  // namespace mmengine
