// The CUDA emulator's stand-in for <cuda_runtime.h> (MMENGINE_CUDA=EMULATED builds only; see
// docs/emulator.md). It declares the subset of the runtime API the project calls, with host
// memory behind it, and the device-side language: thread indices, __shared__ (thread_local:
// a block runs on one OS thread, one fiber per CUDA thread), __syncthreads, warp collectives,
// atomics. Kernel launches `k<<<grid, block, smem, stream>>>(args)` are rewritten by
// emulator/rewrite_launches.cpp into MMEMU_LAUNCH(...)(args) before compilation.
#pragma once
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <tuple>
#include <type_traits>
#include <utility>

// ---- types ------------------------------------------------------------------------------
struct uint3 {
  unsigned x, y, z;
};
struct dim3 {
  unsigned x, y, z;
  constexpr dim3(unsigned vx = 1, unsigned vy = 1, unsigned vz = 1) : x(vx), y(vy), z(vz) {}
  constexpr dim3(uint3 v) : x(v.x), y(v.y), z(v.z) {}
  constexpr operator uint3() const { return uint3{x, y, z}; }
};

// Values as in CUDA's driver_types.h, for the codes the emulator can return.
enum cudaError {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorInitializationError = 3,
  cudaErrorInvalidConfiguration = 9,
  cudaErrorInvalidDevicePointer = 17,
  cudaErrorInvalidMemcpyDirection = 21,
  cudaErrorNoDevice = 100,
  cudaErrorInvalidDevice = 101,
  cudaErrorInvalidResourceHandle = 400,
  cudaErrorIllegalState = 401,
  cudaErrorNotReady = 600,
  cudaErrorLaunchFailure = 719,
  cudaErrorNotSupported = 801,
  cudaErrorStreamCaptureUnsupported = 900,
  cudaErrorStreamCaptureInvalidated = 901,
  cudaErrorStreamCaptureImplicit = 906,
  cudaErrorStreamCaptureWrongThread = 908,
};
typedef enum cudaError cudaError_t;

enum cudaMemcpyKind {
  cudaMemcpyHostToHost = 0,
  cudaMemcpyHostToDevice = 1,
  cudaMemcpyDeviceToHost = 2,
  cudaMemcpyDeviceToDevice = 3,
  cudaMemcpyDefault = 4,
};

typedef struct mmemu_stream* cudaStream_t;
typedef struct mmemu_event* cudaEvent_t;
typedef struct mmemu_graph* cudaGraph_t;
typedef struct mmemu_graph_exec* cudaGraphExec_t;

enum cudaStreamCaptureMode {
  cudaStreamCaptureModeGlobal = 0,
  cudaStreamCaptureModeThreadLocal = 1,
  cudaStreamCaptureModeRelaxed = 2,
};
enum cudaStreamCaptureStatus {
  cudaStreamCaptureStatusNone = 0,
  cudaStreamCaptureStatusActive = 1,
  cudaStreamCaptureStatusInvalidated = 2,
};

#define cudaStreamDefault 0x00
#define cudaStreamNonBlocking 0x01
#define cudaEventDefault 0x00
#define cudaEventDisableTiming 0x02

// ---- runtime API (emulator/runtime.cpp) ----------------------------------------------------
cudaError_t cudaGetDeviceCount(int* count);
cudaError_t cudaSetDevice(int device);
cudaError_t cudaGetDevice(int* device);
cudaError_t cudaMalloc(void** ptr, size_t bytes);
template <typename T>
inline cudaError_t cudaMalloc(T** ptr, size_t bytes) {
  return cudaMalloc(reinterpret_cast<void**>(ptr), bytes);
}
cudaError_t cudaFree(void* ptr);
// Pinned host memory: plain host memory here (not a device range), 256-byte aligned.
cudaError_t cudaMallocHost(void** ptr, size_t bytes);
template <typename T>
inline cudaError_t cudaMallocHost(T** ptr, size_t bytes) {
  return cudaMallocHost(reinterpret_cast<void**>(ptr), bytes);
}
cudaError_t cudaFreeHost(void* ptr);
cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind);
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind, cudaStream_t stream = nullptr);
cudaError_t cudaMemset(void* dst, int value, size_t bytes);
cudaError_t cudaMemsetAsync(void* dst, int value, size_t bytes, cudaStream_t stream = nullptr);
cudaError_t cudaDeviceSynchronize();
cudaError_t cudaStreamCreate(cudaStream_t* stream);
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned flags);
cudaError_t cudaStreamDestroy(cudaStream_t stream);
cudaError_t cudaStreamSynchronize(cudaStream_t stream);
cudaError_t cudaGetLastError();
cudaError_t cudaPeekAtLastError();
const char* cudaGetErrorName(cudaError_t error);
const char* cudaGetErrorString(cudaError_t error);
cudaError_t cudaEventCreate(cudaEvent_t* event);
cudaError_t cudaEventCreateWithFlags(cudaEvent_t* event, unsigned flags);
cudaError_t cudaEventQuery(cudaEvent_t event);  // cudaSuccess once recorded work is done (at once here)
cudaError_t cudaEventDestroy(cudaEvent_t event);
cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream = nullptr);
cudaError_t cudaEventSynchronize(cudaEvent_t event);
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end);

// Stream capture and graphs (emulator/graph.cpp): between Begin- and EndCapture the work queued
// on the stream (launches, cuBLAS calls, async copies and fills) is recorded, not run, kernel
// parameters and cuBLAS scalars by value as CUDA records them; a graph launch runs it again in
// order. While a capture is active (global or thread-local mode), synchronizing calls,
// cudaMalloc/cudaFree, synchronous copies, device-to-host copies on the capturing stream and
// launches on the legacy stream are refused (cudaErrorStreamCaptureUnsupported / -Implicit)
// and invalidate the capture, whose EndCapture then fails (cudaErrorStreamCaptureInvalidated).
cudaError_t cudaStreamBeginCapture(cudaStream_t stream, cudaStreamCaptureMode mode);
cudaError_t cudaStreamEndCapture(cudaStream_t stream, cudaGraph_t* graph);
cudaError_t cudaStreamIsCapturing(cudaStream_t stream, cudaStreamCaptureStatus* status);
cudaError_t cudaGraphInstantiate(cudaGraphExec_t* exec, cudaGraph_t graph, unsigned long long flags = 0);
cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t stream);
cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec);
cudaError_t cudaGraphDestroy(cudaGraph_t graph);

// ---- emulator-only: what each stream was given -------------------------------------------
namespace mmemu {
// Work queued on one stream so far (nullptr: the legacy default stream), so tests can check
// that the engine sends everything to its context stream and count the work of a step.
struct StreamWork {
  long long kernels = 0;  // launches that passed the configuration checks
  long long gemms = 0;    // cuBLAS calls (a strided batch counts once)
  long long copies = 0;   // cudaMemcpyAsync
  long long fills = 0;    // cudaMemsetAsync
  long long graphs = 0;   // cudaGraphLaunch (the graph's work is counted as it runs)
};
StreamWork stream_work(cudaStream_t stream);
enum class Work { Kernel, Gemm, Copy, Fill, Graph };
void count_work(cudaStream_t stream, Work what);

// Capture (emulator/graph.cpp). A recorded item runs later on the stream the graph is launched on.
using Recorded = std::function<void(cudaStream_t)>;
bool capturing(cudaStream_t stream);                     // an active (not invalidated) capture
void record_work(cudaStream_t stream, Recorded work);    // appends to the stream's capture
// A call that an active capture forbids on the calling thread (a Global one begun on any thread,
// a ThreadLocal one begun on this thread): invalidates those captures and returns true (the
// caller then returns cudaErrorStreamCaptureUnsupported).
bool capture_forbids();
// A device-wide synchronization while any stream captures (any mode, any thread): invalidates
// every active capture and returns true.
bool capture_forbids_device_sync();
void invalidate_capture(cudaStream_t stream);
void forget_capture(cudaStream_t stream);  // a stream destroyed mid-capture leaves the active set
}  // namespace mmemu

// ---- the device side ------------------------------------------------------------------------
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
// Not `__attribute__((noinline))`: libstdc++ writes __attribute__((__noinline__)), which must
// still expand to an attribute when a standard header comes after this one.
#define __noinline__ noinline
#define __launch_bounds__(...)
#define __restrict__ __restrict
// Shared memory: a block's fibers all run on one OS thread, so a thread_local static is one
// copy per block in flight. (Dynamic `extern __shared__` arrays are not supported.)
#define __shared__ static thread_local

namespace mmemu {

// The "special registers" of the CUDA thread currently running on this OS thread.
struct Registers {
  uint3 thread_idx, block_idx, block_dim, grid_dim;
};
inline thread_local Registers regs{};

inline constexpr unsigned full_mask(unsigned mask = 0xffffffffu) { return mask; }
enum class WarpOp { ShflIdx, ShflUp, ShflDown, ShflXor, Ballot, Any, All, Sync };

// Waits at the block barrier; aborts, naming the kernel and both lines, on divergence.
void sync_threads(const char* file, int line);
// Every lane of the warp writes `value`, waits for the others, then gets its result.
uint64_t warp_collective(WarpOp op, const char* what, const char* file, int line, unsigned mask, uint64_t value,
                         int param, int width);

template <typename T>
T shuffle(WarpOp op, const char* what, const char* file, int line, unsigned mask, T value, int param, int width = 32) {
  static_assert(std::is_trivially_copyable<T>::value && sizeof(T) <= 8, "warp shuffle of a type the emulator cannot move");
  uint64_t bits = 0;
  std::memcpy(&bits, &value, sizeof(T));
  bits = warp_collective(op, what, file, line, mask, bits, param, width);
  T out;
  std::memcpy(&out, &bits, sizeof(T));
  return out;
}

// A launch: the configuration is checked as CUDA checks it (errors go to cudaGetLastError),
// then every block runs on the calling thread, its threads as fibers, in the schedule chosen
// by MMENGINE_EMU_SCHEDULE (ascending, descending, random[:seed]).
struct LaunchSite {
  const char* kernel;
  const char* file;
  int line;
};
void run_grid(const LaunchSite& site, dim3 grid, dim3 block, size_t shared_bytes, cudaStream_t stream,
              void (*body)(void*), void* context);
// The configuration checks of a launch (errors go to cudaGetLastError), without running it.
bool launch_config_ok(const LaunchSite& site, dim3 grid, dim3 block, size_t shared_bytes);

template <typename F, typename Params>
void run_with(const LaunchSite& site, F& kernel, dim3 grid, dim3 block, size_t shared_bytes, cudaStream_t stream,
              Params& params) {
  struct Context {
    F* kernel;
    Params* params;
  } ctx{&kernel, &params};
  run_grid(site, grid, block, shared_bytes, stream, [](void* p) {
    auto* c = static_cast<Context*>(p);
    std::apply(*c->kernel, *c->params);
  }, &ctx);
}

template <typename F>
struct Launch {
  LaunchSite site;
  F kernel;
  dim3 grid, block;
  size_t shared_bytes;
  cudaStream_t stream;
  template <typename... Args>
  void operator()(Args&&... args) {
    // Kernel parameters are copied once at launch (or at capture), as CUDA copies them into
    // parameter memory; each thread then receives its own copies of those.
    using Params = std::tuple<std::decay_t<Args>...>;
    if (capturing(stream)) {
      if (!launch_config_ok(site, grid, block, shared_bytes)) return;
      auto params = std::make_shared<Params>(std::forward<Args>(args)...);
      record_work(stream, [site = site, kernel = kernel, grid = grid, block = block, shared = shared_bytes,
                           params](cudaStream_t s) mutable { run_with(site, kernel, grid, block, shared, s, *params); });
      return;
    }
    Params params(std::forward<Args>(args)...);
    run_with(site, kernel, grid, block, shared_bytes, stream, params);
  }
};

template <typename F>
Launch<F> make_launch(const char* kernel, const char* file, int line, F f, dim3 grid, dim3 block,
                      size_t shared_bytes = 0, cudaStream_t stream = nullptr) {
  return Launch<F>{LaunchSite{kernel, file, line}, f, grid, block, shared_bytes, stream};
}

}  // namespace mmemu

// What `name<<<cfg>>>(args)` becomes (emulator/rewrite_launches.cpp).
#define MMEMU_LAUNCH(name, kernel, ...)                                                              \
  ::mmemu::make_launch(                                                                             \
      name, __FILE__, __LINE__, [](auto&... mmemu_args) { kernel(mmemu_args...); }, __VA_ARGS__)

#define threadIdx (static_cast<const uint3&>(::mmemu::regs.thread_idx))
#define blockIdx (static_cast<const uint3&>(::mmemu::regs.block_idx))
#define blockDim (static_cast<const uint3&>(::mmemu::regs.block_dim))
#define gridDim (static_cast<const uint3&>(::mmemu::regs.grid_dim))
constexpr int warpSize = 32;

#define __syncthreads() ::mmemu::sync_threads(__FILE__, __LINE__)
#define __syncwarp(...)                                                                                    \
  ((void)::mmemu::warp_collective(::mmemu::WarpOp::Sync, "__syncwarp", __FILE__, __LINE__, ::mmemu::full_mask(__VA_ARGS__), \
                                  0, 0, 32))
#define __shfl_sync(...) ::mmemu::shuffle(::mmemu::WarpOp::ShflIdx, "__shfl_sync", __FILE__, __LINE__, __VA_ARGS__)
#define __shfl_up_sync(...) ::mmemu::shuffle(::mmemu::WarpOp::ShflUp, "__shfl_up_sync", __FILE__, __LINE__, __VA_ARGS__)
#define __shfl_down_sync(...) \
  ::mmemu::shuffle(::mmemu::WarpOp::ShflDown, "__shfl_down_sync", __FILE__, __LINE__, __VA_ARGS__)
#define __shfl_xor_sync(...) ::mmemu::shuffle(::mmemu::WarpOp::ShflXor, "__shfl_xor_sync", __FILE__, __LINE__, __VA_ARGS__)
#define __ballot_sync(mask, pred) \
  static_cast<unsigned>(::mmemu::warp_collective(::mmemu::WarpOp::Ballot, "__ballot_sync", __FILE__, __LINE__, mask, (pred) != 0, 0, 32))
#define __any_sync(mask, pred) \
  static_cast<int>(::mmemu::warp_collective(::mmemu::WarpOp::Any, "__any_sync", __FILE__, __LINE__, mask, (pred) != 0, 0, 32))
#define __all_sync(mask, pred) \
  static_cast<int>(::mmemu::warp_collective(::mmemu::WarpOp::All, "__all_sync", __FILE__, __LINE__, mask, (pred) != 0, 0, 32))

// Memory fences order nothing here: fibers switch only at barriers and collectives.
inline void __threadfence() {}
inline void __threadfence_block() {}
template <typename T>
inline T __ldg(const T* p) {
  return *p;
}

// Atomics: one fiber runs at a time and blocks run one after another, so a plain
// read-modify-write is atomic. The overloads are CUDA's.
#define MMEMU_ATOMIC(name, T, expr) \
  inline T name(T* address, T val) { \
    T old = *address;                 \
    *address = (expr);                \
    return old;                       \
  }
MMEMU_ATOMIC(atomicAdd, int, old + val)
MMEMU_ATOMIC(atomicAdd, unsigned, old + val)
MMEMU_ATOMIC(atomicAdd, unsigned long long, old + val)
MMEMU_ATOMIC(atomicAdd, float, old + val)
MMEMU_ATOMIC(atomicAdd, double, old + val)
MMEMU_ATOMIC(atomicSub, int, old - val)
MMEMU_ATOMIC(atomicSub, unsigned, old - val)
MMEMU_ATOMIC(atomicExch, int, val)
MMEMU_ATOMIC(atomicExch, unsigned, val)
MMEMU_ATOMIC(atomicExch, float, val)
MMEMU_ATOMIC(atomicMax, int, old > val ? old : val)
MMEMU_ATOMIC(atomicMin, int, old < val ? old : val)
#undef MMEMU_ATOMIC
inline int atomicCAS(int* address, int compare, int val) {
  int old = *address;
  *address = old == compare ? val : old;
  return old;
}
