// CUDA graphs of the context stream's work (engine/cuda/graph.h).
#include "engine/cuda/graph.h"

#include "engine/cuda/context.h"
#include "engine/cuda/cuda_memory.h"
#include "kernels/cuda/check.h"

namespace mmengine {

bool cuda_capturing() { return kernels::t_graph_capture; }

CudaGraph::CudaGraph() : pool_(cuda_new_private_pool()) {}

CudaGraph::~CudaGraph() {
  if (exec_) cudaGraphExecDestroy(exec_);  // best effort: destructors never throw
  if (graph_) cudaGraphDestroy(graph_);
}

void CudaGraph::warm(const std::function<void()>& fn) {
  CudaPoolScope pool(pool_);
  fn();
}

void CudaGraph::capture(const std::function<void()>& fn) {
  MM_CHECK(!captured(), "--graph on: internal: the step graph was captured twice");
  const cudaStream_t stream = cuda_stream();
  CudaPoolScope pool(pool_);
  // ThreadLocal: a forbidden call (an allocation, a synchronization) on this thread breaks the
  // capture, while runs trained at once on other threads of the process (each on its own stream)
  // go on allocating; Global would fail their calls.
  MM_CUDA_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
  try {
    const kernels::GraphCaptureMark capturing;
    fn();
  } catch (...) {
    cudaGraph_t broken = nullptr;
    cudaStreamEndCapture(stream, &broken);  // ends the capture; its error is the one thrown
    if (broken) cudaGraphDestroy(broken);
    cudaGetLastError();
    throw;
  }
  MM_CUDA_CHECK(cudaStreamEndCapture(stream, &graph_));
  MM_CUDA_CHECK(cudaGraphInstantiate(&exec_, graph_, 0));
}

void CudaGraph::replay() {
  MM_CHECK(captured(), "--graph on: internal: replay before capture");
  MM_CUDA_CHECK(cudaGraphLaunch(exec_, cuda_stream()));
}

}  // namespace mmengine
