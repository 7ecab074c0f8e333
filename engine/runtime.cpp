#include "engine/runtime.h"

#include <algorithm>
#include <cstdio>
#include <thread>

#include "kernels/error.h"

#ifdef _OPENMP
#include <omp.h>
#endif

#ifdef MMENGINE_WITH_CUDA
#include "engine/cuda/context.h"
#include "kernels/cuda/check.h"
#endif

namespace mmengine {

std::string shape_str(const Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (auto d : s) n *= d;
  return n;
}

bool cuda_emulated() {
#ifdef MMENGINE_CUDA_EMULATED
  return true;
#else
  return false;
#endif
}

bool built_with_cuda() {
#ifdef MMENGINE_WITH_CUDA
  return true;
#else
  return false;
#endif
}

#ifdef MMENGINE_WITH_CUDA
static cudaError_t device_count_status(int* count) {
  struct Answer {
    int count = 0;
    cudaError_t status = cudaSuccess;
  };
  static const Answer answer = [] {  // once, thread-safe (runs started on several threads ask at once)
    Answer a;
    a.status = cudaGetDeviceCount(&a.count);
    if (a.status != cudaSuccess) {
      a.count = 0;
      cudaGetLastError();  // clear the sticky "no device" error for later calls
    }
    return a;
  }();
  *count = answer.count;
  return answer.status;
}
#endif

int cuda_device_count() {
#ifdef MMENGINE_WITH_CUDA
  int n = 0;
  device_count_status(&n);
  return n;
#else
  return 0;
#endif
}

bool cuda_available() { return cuda_device_count() > 0; }

std::string cuda_unavailable_reason() {
#ifdef MMENGINE_WITH_CUDA
  int n = 0;
  cudaError_t st = device_count_status(&n);
  if (st != cudaSuccess) return std::string("no CUDA device: ") + cudaGetErrorString(st);
  if (n == 0) return "no CUDA device: the runtime reports 0 devices";
  return "";
#else
  return "this build has no CUDA support (configured with MMENGINE_CUDA=OFF or without nvcc)";
#endif
}

void synchronize(Device d) {
#ifdef MMENGINE_WITH_CUDA
  if (d == Device::CUDA) {
    note_host_sync();
    MM_CUDA_CHECK(cudaDeviceSynchronize());
  }
#else
  (void)d;
#endif
}

WorkerStreamScope::WorkerStreamScope(Device d, int slot) {
#ifdef MMENGINE_WITH_CUDA
  if (d != Device::CUDA) return;
  const cudaStream_t stream = cuda_worker_stream(slot);
  stream_ = stream;
  scope_ = new CudaStreamScope(stream);
#else
  (void)d, (void)slot;
#endif
}

WorkerStreamScope::~WorkerStreamScope() {
#ifdef MMENGINE_WITH_CUDA
  if (!stream_) return;
  // A destructor does not throw: a failed wait is reported here and by the next call that checks.
  try {
    note_host_sync();
  } catch (...) {
  }
  const cudaError_t st = cudaStreamSynchronize(static_cast<cudaStream_t>(stream_));
  delete static_cast<CudaStreamScope*>(scope_);
  if (st != cudaSuccess) std::fprintf(stderr, "mmengine: warning: waiting for a worker stream: %s\n", cudaGetErrorString(st));
#endif
}

int cpu_threads() {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

int cpu_share(int runs) {
  MM_CHECK(runs >= 1, "internal: cpu_share(", runs, ")");
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency() / static_cast<unsigned>(runs)));
}

void set_cpu_threads(int n) {
  MM_CHECK(n >= 1, "internal: set_cpu_threads(", n, ")");
#ifdef _OPENMP
  omp_set_num_threads(n);
#endif
}

Device resolve_device(const std::string& v, const char* flag) {
  if (v == "cpu") return Device::CPU;
  if (v == "cuda") {
    MM_CHECK(cuda_available(), flag, " cuda: ", cuda_unavailable_reason());
    return Device::CUDA;
  }
  MM_CHECK(v == "auto", flag, ": expected auto, cpu or cuda, got '", v, "'");
  // auto never picks the emulated device: it is for tests, not for runs.
  return cuda_available() && !cuda_emulated() ? Device::CUDA : Device::CPU;
}

void use_cuda_device_of_rank(int local_rank) {
#ifdef MMENGINE_WITH_CUDA
  const int n = cuda_device_count();
  if (n > 0) MM_CUDA_CHECK(cudaSetDevice(local_rank % n));
#else
  (void)local_rank;
#endif
}

}  // namespace mmengine
