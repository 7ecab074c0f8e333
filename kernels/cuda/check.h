// One status check for every CUDA runtime, cuBLAS and cuDNN call (MM_CUDA_CHECK), and the check
// after every kernel launch (MM_LAUNCH_CHECK). Only included by sources compiled with CUDA (or
// with the emulator, whose stand-in headers have the same names).
#pragma once
#include <cublas_v2.h>
#include <cuda_runtime.h>
#ifdef MMENGINE_WITH_CUDNN
#include <cudnn.h>
#endif

#include <cstdlib>
#include <string>

#include "kernels/error.h"

namespace mmengine::kernels {
// What a failed status says, per library; MM_CUDA_CHECK picks the overload by the status type.
inline bool status_ok(cudaError_t s) { return s == cudaSuccess; }
inline std::string status_text(cudaError_t s) {
  return std::string("CUDA: ") + cudaGetErrorName(s) + " (" + cudaGetErrorString(s) + ")";
}
inline bool status_ok(cublasStatus_t s) { return s == CUBLAS_STATUS_SUCCESS; }
inline std::string status_text(cublasStatus_t s) { return std::string("cuBLAS: ") + cublasGetStatusString(s); }
#ifdef MMENGINE_WITH_CUDNN
inline bool status_ok(cudnnStatus_t s) { return s == CUDNN_STATUS_SUCCESS; }
inline std::string status_text(cudnnStatus_t s) { return std::string("cuDNN: ") + cudnnGetErrorString(s); }
#endif

// MMENGINE_SYNC_LAUNCH=1 makes every launch check wait for the kernel, so a fault inside a
// kernel is reported at its own launch (file and line) rather than at the next copy. Read once.
inline bool sync_every_launch() {
  static const bool on = [] {
    const char* v = std::getenv("MMENGINE_SYNC_LAUNCH");
    return v && *v && std::string(v) != "0";
  }();
  return on;
}

// True while this thread captures a CUDA graph (set by engine/cuda/graph.cpp's CudaGraph::capture).
// A capture cannot synchronize: MMENGINE_SYNC_LAUNCH=1 skips the wait there (a fault in a captured
// kernel shows at the replay that runs it).
inline thread_local bool t_graph_capture = false;
// Sets t_graph_capture for its lifetime (cleared on every exit, an exception's too).
class GraphCaptureMark {
 public:
  GraphCaptureMark() { t_graph_capture = true; }
  ~GraphCaptureMark() { t_graph_capture = false; }
  GraphCaptureMark(const GraphCaptureMark&) = delete;
  GraphCaptureMark& operator=(const GraphCaptureMark&) = delete;
};
}  // namespace mmengine::kernels

// MM_CUDA_CHECK(call): throws mmengine::Error naming the call, the library and its status.
#define MM_CUDA_CHECK(expr)                                                                              \
  do {                                                                                                   \
    const auto mm_st_ = (expr);                                                                          \
    if (!::mmengine::kernels::status_ok(mm_st_))                                                         \
      ::mmengine::throw_error(__FILE__, __LINE__,                                                        \
                              std::string("call failed: ") + #expr + ": " + ::mmengine::kernels::status_text(mm_st_)); \
  } while (0)

// After every <<<...>>> launch: catches bad launch configurations at once, and with
// MMENGINE_SYNC_LAUNCH=1 (outside graph captures) also faults inside the kernel.
#define MM_LAUNCH_CHECK()                                                              \
  do {                                                                                 \
    MM_CUDA_CHECK(cudaGetLastError());                                                 \
    if (::mmengine::kernels::sync_every_launch() && !::mmengine::kernels::t_graph_capture) \
      MM_CUDA_CHECK(cudaDeviceSynchronize());                                          \
  } while (0)
