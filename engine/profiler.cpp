#include "engine/profiler.h"

#include <mutex>

#include "engine/runtime.h"
#ifdef MMENGINE_WITH_CUDA
#include <nvtx3/nvToolsExt.h>  // the emulated build has a no-op twin (emulator/include/nvtx3)

#include "engine/cuda/context.h"
#include "kernels/cuda/check.h"
#endif

namespace mmengine {

namespace {
bool g_enabled = false;
thread_local int g_depth = 0;  // only the outermost scope records: nested ops count once
std::mutex g_mu;
std::map<std::string, std::pair<double, int64_t>>& table() {
  static std::map<std::string, std::pair<double, int64_t>> t;
  return t;
}
}  // namespace

bool Profiler::enabled() { return g_enabled; }
void Profiler::enable(bool on) { g_enabled = on; }
void Profiler::reset() {
  std::lock_guard<std::mutex> lock(g_mu);
  table().clear();
}
void Profiler::add(const char* family, double ms) {
  std::lock_guard<std::mutex> lock(g_mu);
  auto& e = table()[family];
  e.first += ms;
  e.second += 1;
}
std::map<std::string, std::pair<double, int64_t>> Profiler::totals() {
  std::lock_guard<std::mutex> lock(g_mu);
  return table();
}

ProfileScope::ProfileScope(const char* family, Device d)
    : family_(family), device_(d), active_(g_enabled && g_depth == 0) {
#ifdef MMENGINE_WITH_CUDA
  nvtxRangePushA(family);  // always: an nsys / ncu timeline shows the families without syncs
#endif
  if (g_enabled) ++g_depth;
  if (!active_) return;
  synchronize(device_);
  start_ = std::chrono::steady_clock::now();
}

ProfileScope::~ProfileScope() {
#ifdef MMENGINE_WITH_CUDA
  nvtxRangePop();
#endif
  if (g_enabled && g_depth > 0) --g_depth;
  if (!active_) return;
  try {
    synchronize(device_);
  } catch (...) {  // a destructor never throws; the error resurfaces at the next CUDA call
  }
  Profiler::add(family_, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start_).count());
}

double time_ms(Device device, const std::function<void()>& fn) {
  synchronize(device);
#ifdef MMENGINE_WITH_CUDA
  if (device == Device::CUDA) {
    // The two events live until the scope ends, also when fn or a check throws.
    struct Events {
      cudaEvent_t a = nullptr, b = nullptr;
      ~Events() {  // a destructor never throws; a failed destroy's error is cleared, not left to
                   // be blamed on the next kernel launch (a sticky error shows at the next call anyway)
        if (a && cudaEventDestroy(a) != cudaSuccess) (void)cudaGetLastError();
        if (b && cudaEventDestroy(b) != cudaSuccess) (void)cudaGetLastError();
      }
    } e;
    MM_CUDA_CHECK(cudaEventCreate(&e.a));
    MM_CUDA_CHECK(cudaEventCreate(&e.b));
    MM_CUDA_CHECK(cudaEventRecord(e.a, cuda_stream()));
    fn();
    MM_CUDA_CHECK(cudaEventRecord(e.b, cuda_stream()));
    note_host_sync();
    MM_CUDA_CHECK(cudaEventSynchronize(e.b));
    float ms = 0;
    MM_CUDA_CHECK(cudaEventElapsedTime(&ms, e.a, e.b));
    return ms;
  }
#endif
  auto t0 = std::chrono::steady_clock::now();
  fn();
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace mmengine
