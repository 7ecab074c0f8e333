// Stream capture and CUDA graphs: the emulator records work queued on a capturing stream and
// replays it in order, refusing what CUDA refuses during a capture (emulated device only: on a
// GPU these are CUDA's own rules); the engine's CudaGraph refuses uploads and reads inside a
// capture with errors naming --graph (both devices).
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "engine/memory.h"
#include "engine/runtime.h"
#include "engine/tensor.h"
#include "kernels/elementwise.h"
#include "kernels/gemm.h"
#include "tests/test_util.h"
#ifdef MMENGINE_WITH_CUDA
#include "engine/cuda/context.h"
#include "engine/cuda/graph.h"
#include "kernels/cuda/check.h"
#endif

using namespace mmengine;
using namespace mmengine::testing;

#ifdef MMENGINE_WITH_CUDA
namespace {
struct Captured {
  cudaStream_t stream = nullptr;
  Captured() { MM_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking)); }
  ~Captured() { cudaStreamDestroy(stream); }
};
std::vector<float> read(const float* d, size_t n) {
  std::vector<float> h(n);
  MM_CUDA_CHECK(cudaMemcpy(h.data(), d, n * sizeof(float), cudaMemcpyDeviceToHost));
  return h;
}
}  // namespace

TEST(CudaGraph, CapturedLaunchesAndGemmsReplayInOrderWithTheirCapturedArguments) {
  MM_SKIP_WITHOUT(Device::CUDA);
  Captured c;
  float *x = nullptr, *a = nullptr, *b = nullptr, *y = nullptr;
  for (float** p : {&x, &a, &b, &y}) MM_CUDA_CHECK(cudaMalloc(p, 4 * sizeof(float)));
  const std::vector<float> ones(4, 1.0f), eye{1, 0, 0, 1};
  MM_CUDA_CHECK(cudaMemcpy(x, ones.data(), sizeof(float) * 4, cudaMemcpyHostToDevice));
  MM_CUDA_CHECK(cudaMemcpy(a, eye.data(), sizeof(float) * 4, cudaMemcpyHostToDevice));
  MM_CUDA_CHECK(cudaStreamBeginCapture(c.stream, cudaStreamCaptureModeGlobal));
  auto capturing = std::make_unique<kernels::GraphCaptureMark>();  // as CudaGraph::capture (no
  float two = 2.0f;                                                // MMENGINE_SYNC_LAUNCH wait inside)
  kernels::unary_forward_cuda<float>(kernels::Unary::MulScalar, two, x, x, 4, c.stream);  // x = 2x, then x + 1
  kernels::unary_forward_cuda<float>(kernels::Unary::AddScalar, 1.0f, x, x, 4, c.stream);
  MM_CUDA_CHECK(cudaMemcpyAsync(b, x, 4 * sizeof(float), cudaMemcpyDeviceToDevice, c.stream));
  kernels::gemm_cuda<float>(false, false, 2, 2, 2, two, a, b, 0.0f, y, c.stream);  // y = 2 a b
  two = 100.0f;  // the captured launch and GEMM keep the value they were given
  capturing.reset();
  cudaGraph_t graph = nullptr;
  MM_CUDA_CHECK(cudaStreamEndCapture(c.stream, &graph));
  EXPECT_EQ(read(x, 4), ones) << "captured work must not run before the graph is launched";
  cudaGraphExec_t exec = nullptr;
  MM_CUDA_CHECK(cudaGraphInstantiate(&exec, graph, 0));
  MM_CUDA_CHECK(cudaGraphLaunch(exec, c.stream));
  MM_CUDA_CHECK(cudaStreamSynchronize(c.stream));
  EXPECT_EQ(read(x, 4), std::vector<float>(4, 3.0f));  // (1 * 2) + 1: in order
  EXPECT_EQ(read(y, 4), std::vector<float>(4, 6.0f));
  MM_CUDA_CHECK(cudaGraphLaunch(exec, c.stream));
  MM_CUDA_CHECK(cudaStreamSynchronize(c.stream));
  EXPECT_EQ(read(x, 4), std::vector<float>(4, 7.0f));
  EXPECT_EQ(read(y, 4), std::vector<float>(4, 14.0f));
  MM_CUDA_CHECK(cudaGraphExecDestroy(exec));
  MM_CUDA_CHECK(cudaGraphDestroy(graph));
  for (float* p : {x, a, b, y}) MM_CUDA_CHECK(cudaFree(p));
}

// Each forbidden call fails during the capture and invalidates it.
TEST(CudaGraph, SynchronizationAndCopiesToTheHostAreRefusedDuringCapture) {
  MM_SKIP_WITHOUT(Device::CUDA);
#ifndef MMENGINE_CUDA_EMULATED
  GTEST_SKIP() << "checks the emulator's capture rules (on a GPU, CUDA's own)";
#else
  Captured c;
  float* d = nullptr;
  MM_CUDA_CHECK(cudaMalloc(&d, 16));
  float host[4];
  void* p = nullptr;
  const std::vector<std::pair<const char*, std::function<cudaError_t()>>> forbidden{
      {"cudaStreamSynchronize", [&] { return cudaStreamSynchronize(c.stream); }},
      {"cudaDeviceSynchronize", [&] { return cudaDeviceSynchronize(); }},
      {"cudaMemcpy", [&] { return cudaMemcpy(host, d, 16, cudaMemcpyDeviceToHost); }},
      {"cudaMemcpyAsync to the host", [&] { return cudaMemcpyAsync(host, d, 16, cudaMemcpyDeviceToHost, c.stream); }},
      {"cudaMalloc", [&] { return cudaMalloc(&p, 16); }},
  };
  for (auto& [name, call] : forbidden) {
    MM_CUDA_CHECK(cudaStreamBeginCapture(c.stream, cudaStreamCaptureModeGlobal));
    EXPECT_EQ(call(), cudaErrorStreamCaptureUnsupported) << name;
    cudaStreamCaptureStatus st;
    MM_CUDA_CHECK(cudaStreamIsCapturing(c.stream, &st));
    EXPECT_EQ(st, cudaStreamCaptureStatusInvalidated) << name;
    cudaGraph_t g = nullptr;
    EXPECT_EQ(cudaStreamEndCapture(c.stream, &g), cudaErrorStreamCaptureInvalidated) << name;
    EXPECT_EQ(g, nullptr);
    cudaGetLastError();
  }
  EXPECT_EQ(cudaStreamBeginCapture(nullptr, cudaStreamCaptureModeGlobal), cudaErrorStreamCaptureUnsupported)
      << "the legacy stream cannot be captured";
  cudaGetLastError();
  // Across threads: under a Global capture another thread's cudaMalloc is refused (and breaks it);
  // under ThreadLocal it is allowed, a device-wide synchronization still is not (it encompasses
  // the capture), and only the thread that began the capture may end it.
  for (const cudaStreamCaptureMode mode : {cudaStreamCaptureModeGlobal, cudaStreamCaptureModeThreadLocal}) {
    MM_CUDA_CHECK(cudaStreamBeginCapture(c.stream, mode));
    cudaError_t malloc_status = cudaSuccess, sync_status = cudaSuccess, end_status = cudaSuccess;
    std::thread other([&] {
      void* q = nullptr;
      malloc_status = cudaMalloc(&q, 16);
      if (q) cudaFree(q);
      cudaGraph_t g = nullptr;
      end_status = cudaStreamEndCapture(c.stream, &g);
      if (mode == cudaStreamCaptureModeThreadLocal) sync_status = cudaDeviceSynchronize();
      cudaGetLastError();
    });
    other.join();
    const bool local = mode == cudaStreamCaptureModeThreadLocal;
    EXPECT_EQ(malloc_status, local ? cudaSuccess : cudaErrorStreamCaptureUnsupported) << (local ? "ThreadLocal" : "Global");
    EXPECT_EQ(end_status, cudaErrorStreamCaptureWrongThread);
    if (local) {
      EXPECT_EQ(sync_status, cudaErrorStreamCaptureUnsupported) << "a device synchronization during a capture";
    }
    cudaGraph_t g = nullptr;
    EXPECT_EQ(cudaStreamEndCapture(c.stream, &g), cudaErrorStreamCaptureInvalidated) << "broken by the other thread's call";
    cudaGetLastError();
  }
  MM_CUDA_CHECK(cudaFree(d));
#endif
}

// A multi-tensor kernel's chunk table (engine/memory.h): uploaded only when its bytes change;
// inside a capture rewritten in place by a captured copy that every replay repeats (so not
// taken as it is by an eager call before the graph has run); once a graph reads it, never
// rewritten or freed by later eager calls.
TEST(CudaGraph, DeviceTableUploadsOnChangeAndIsRewrittenByTheGraphInCapture) {
  MM_SKIP_WITHOUT(Device::CUDA);
  auto read_table = [](const void* d, size_t n) {
    MM_CUDA_CHECK(cudaStreamSynchronize(cuda_stream()));
    std::vector<int64_t> h(n);
    MM_CUDA_CHECK(cudaMemcpy(h.data(), d, n * sizeof(int64_t), cudaMemcpyDeviceToHost));
    return h;
  };
  const std::vector<int64_t> v1{1, 2, 3}, v2{4, 5, 6}, longer{7, 8, 9, 10};
  const size_t bytes = v1.size() * sizeof(int64_t);
  DeviceTable table;
  const void* p = table.get(Device::CUDA, v1.data(), bytes);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(read_table(p, 3), v1);
#ifdef MMENGINE_CUDA_EMULATED
  const mmemu::StreamWork w0 = mmemu::stream_work(cuda_stream());
#endif
  EXPECT_EQ(table.get(Device::CUDA, v1.data(), bytes), p) << "the same bytes: the kept copy";
#ifdef MMENGINE_CUDA_EMULATED
  EXPECT_EQ(mmemu::stream_work(cuda_stream()).copies, w0.copies) << "the same bytes must not be uploaded again";
#endif
  CudaGraph graph;
  const void* in_capture = nullptr;
  graph.capture([&] { in_capture = table.get(Device::CUDA, v2.data(), bytes); });
  EXPECT_EQ(in_capture, p) << "rewritten in place";
  EXPECT_EQ(read_table(p, 3), v1) << "the captured copy runs with the graph, not before";
  // Eager, before any replay: the captured table does not hold v2 yet, so a new copy does.
  const void* fresh = table.get(Device::CUDA, v2.data(), bytes);
  EXPECT_NE(fresh, p);
  EXPECT_EQ(read_table(fresh, 3), v2);
  graph.replay();
  EXPECT_EQ(read_table(p, 3), v2);
  // Another size cannot be rewritten in place during a capture: the caller's per-launch path.
  CudaGraph other;
  other.capture([&] { in_capture = table.get(Device::CUDA, longer.data(), longer.size() * sizeof(int64_t)); });
  EXPECT_EQ(in_capture, nullptr);
  // Eager again with other bytes: a new copy; the graph keeps writing its own.
  const void* q = table.get(Device::CUDA, v1.data(), bytes);
  EXPECT_NE(q, p);
  EXPECT_EQ(read_table(q, 3), v1);
  graph.replay();
  EXPECT_EQ(read_table(p, 3), v2);
  EXPECT_EQ(read_table(q, 3), v1);
}

TEST(CudaGraph, EngineRefusesUploadsAndReadsInsideACaptureNamingTheFlag) {
  MM_SKIP_WITHOUT(Device::CUDA);
  Tensor t = Tensor::zeros({8}, DType::F32, Device::CUDA);
  for (int which = 0; which < 2; ++which) {
    CudaGraph g;
    try {
      g.capture([&] {
        if (which == 0) t.copy_from(Tensor::zeros({8}, DType::F32, Device::CPU));  // an upload
        else (void)t.to_vector();                                                  // a read
      });
      ADD_FAILURE() << "expected an error";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("--graph"), std::string::npos) << e.what();
    }
    EXPECT_FALSE(g.captured());
    // The stream works again after the failed capture.
    EXPECT_EQ(t.to_vector(), std::vector<double>(8, 0.0));
  }
}
// Runs trained at once on threads of one process (`ablate --concurrent-mode streams`): while one
// thread captures on its own stream, another allocates, launches, copies to the host and waits on
// its own (CudaGraph captures in ThreadLocal mode; under Global those calls fail and break the
// capture), and the graph replays what it captured. The capturing thread's own forbidden calls
// still break its capture (SynchronizationAndCopiesToTheHostAreRefusedDuringCapture). Known
// limit: MMENGINE_SYNC_LAUNCH=1 (a debugging switch) makes every launch wait for the whole
// device, which another thread's capture forbids; so streams runs with --graph on need it off.
TEST(CudaGraph, ACaptureOnOneThreadLeavesOtherThreadsFreeToAllocateAndWait) {
  MM_SKIP_WITHOUT(Device::CUDA);
  std::promise<void> capturing, other_done;
  std::shared_future<void> capturing_seen = capturing.get_future(), other_seen = other_done.get_future();
  std::string error_a, error_b;
  std::vector<float> replayed, other_values;
  float* other_block = nullptr;
  std::thread a([&] {
    bool signalled = false;
    try {
      const WorkerStreamScope stream(Device::CUDA, 0);
      float* x = nullptr;
      MM_CUDA_CHECK(cudaMalloc(&x, 4 * sizeof(float)));
      MM_CUDA_CHECK(cudaMemsetAsync(x, 0, 4 * sizeof(float), cuda_stream()));
      CudaGraph g;
      g.capture([&] {
        capturing.set_value();
        signalled = true;
        other_seen.wait();  // the other thread's calls happen inside this capture
        kernels::unary_forward_cuda<float>(kernels::Unary::AddScalar, 1.0f, x, x, 4, cuda_stream());
      });
      g.replay();
      g.replay();
      MM_CUDA_CHECK(cudaStreamSynchronize(cuda_stream()));
      replayed.resize(4);
      MM_CUDA_CHECK(cudaMemcpy(replayed.data(), x, 4 * sizeof(float), cudaMemcpyDeviceToHost));
      MM_CUDA_CHECK(cudaFree(x));
    } catch (const std::exception& e) {
      error_a = e.what();
    }
    if (!signalled) capturing.set_value();
  });
  std::thread b([&] {
    capturing_seen.wait();
    try {
      const WorkerStreamScope stream(Device::CUDA, 1);
      float* y = nullptr;
      MM_CUDA_CHECK(cudaMalloc(&y, size_t(1) << 20));  // a fresh allocation, not from a pool
      MM_CUDA_CHECK(cudaMemsetAsync(y, 0, 4 * sizeof(float), cuda_stream()));
      if (!kernels::sync_every_launch()) {
        kernels::unary_forward_cuda<float>(kernels::Unary::AddScalar, 2.0f, y, y, 4, cuda_stream());
      } else {  // MMENGINE_SYNC_LAUNCH=1 waits for the whole device after a launch, which a capture
                // on another thread forbids (CUDA's rule): the same values by a copy instead
        const std::vector<float> twos(4, 2.0f);
        MM_CUDA_CHECK(cudaMemcpyAsync(y, twos.data(), 4 * sizeof(float), cudaMemcpyHostToDevice, cuda_stream()));
        MM_CUDA_CHECK(cudaStreamSynchronize(cuda_stream()));
      }
      other_values.resize(4);
      MM_CUDA_CHECK(cudaMemcpyAsync(other_values.data(), y, 4 * sizeof(float), cudaMemcpyDeviceToHost, cuda_stream()));
      MM_CUDA_CHECK(cudaStreamSynchronize(cuda_stream()));
      other_block = y;  // freed after the capture: cudaFree may synchronize the device
    } catch (const std::exception& e) {
      error_b = e.what();
    }
    other_done.set_value();
  });
  a.join();
  b.join();
  if (other_block) MM_CUDA_CHECK(cudaFree(other_block));
  EXPECT_EQ(error_b, "") << "the other thread's calls during the capture";
  EXPECT_EQ(error_a, "") << "the capture";
  EXPECT_EQ(other_values, std::vector<float>(4, 2.0f));
  EXPECT_EQ(replayed, std::vector<float>(4, 2.0f)) << "two replays of x += 1";
}
#endif
