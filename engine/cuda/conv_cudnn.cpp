#ifdef MMENGINE_WITH_CUDNN
#include "engine/cuda/conv_cudnn.h"

#include <cudnn.h>

#include <array>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>

#include "engine/cuda/context.h"
#include "engine/memory.h"
#include "kernels/cuda/check.h"
#include "kernels/gemm.h"

namespace mmengine {

namespace {
// One cuDNN handle per stream, bound to it once and kept for the process (as the cuBLAS handles
// in kernels/cuda/gemm.cu): a handle is not shared between host threads, and runs trained at
// once on several threads each issue on their own stream.
cudnnHandle_t handle() {
  static std::mutex mu;
  static auto* handles = new std::map<cudaStream_t, cudnnHandle_t>;  // leaked: used until exit
  const cudaStream_t stream = cuda_stream();  // the context's current stream, like every launch
  std::lock_guard<std::mutex> lock(mu);
  cudnnHandle_t& h = (*handles)[stream];
  if (!h) {
    MM_CUDA_CHECK(cudnnCreate(&h));
    MM_CUDA_CHECK(cudnnSetStream(h, stream));
    static const bool registered = std::atexit([] {  // before the CUDA runtime's teardown; best effort
      for (auto& kv : *handles) cudnnDestroy(kv.second);
      handles->clear();
    }) == 0;
    (void)registered;
  }
  return h;
}

// Descriptors of one convolution shape, kept for the life of the process.
struct Descriptors {
  cudnnTensorDescriptor_t x, y;
  cudnnFilterDescriptor_t w;
  cudnnConvolutionDescriptor_t conv;
  Descriptors(const kernels::ConvGeometry& g, int64_t cout, cudnnDataType_t dt, bool tf32) {
    MM_CUDA_CHECK(cudnnCreateTensorDescriptor(&x));
    MM_CUDA_CHECK(cudnnCreateTensorDescriptor(&y));
    MM_CUDA_CHECK(cudnnCreateFilterDescriptor(&w));
    MM_CUDA_CHECK(cudnnCreateConvolutionDescriptor(&conv));
    MM_CUDA_CHECK(cudnnSetTensor4dDescriptor(x, CUDNN_TENSOR_NCHW, dt, g.batch, g.in_channels, g.height, g.width));
    MM_CUDA_CHECK(cudnnSetTensor4dDescriptor(y, CUDNN_TENSOR_NCHW, dt, g.batch, cout, g.out_h(), g.out_w()));
    MM_CUDA_CHECK(cudnnSetFilter4dDescriptor(w, dt, CUDNN_TENSOR_NCHW, cout, g.in_channels, g.kernel_h, g.kernel_w));
    MM_CUDA_CHECK(cudnnSetConvolution2dDescriptor(conv, g.padding, g.padding, g.stride, g.stride, 1, 1,
                                                CUDNN_CROSS_CORRELATION, dt));
    // FP32 compares with the own FP32 kernels; TF32 (MMENGINE_MATMUL=tf32) with igemm.
    MM_CUDA_CHECK(cudnnSetConvolutionMathType(conv, tf32 ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH));
  }
  ~Descriptors() {
    cudnnDestroyTensorDescriptor(x);
    cudnnDestroyTensorDescriptor(y);
    cudnnDestroyFilterDescriptor(w);
    cudnnDestroyConvolutionDescriptor(conv);
  }
  Descriptors(const Descriptors&) = delete;
  Descriptors& operator=(const Descriptors&) = delete;
};

// The algorithm cuDNN measured fastest for one pass among the deterministic ones (the engine's
// kernels are deterministic), with its math type and workspace size.
template <typename Algo>
struct Choice {
  Algo algo{};
  cudnnMathType_t math = CUDNN_DEFAULT_MATH;
  size_t bytes = 0;
};
template <typename Algo, typename Perf>
Choice<Algo> fastest_deterministic(const Perf* results, int count, const char* pass) {
  for (int i = 0; i < count; ++i)  // cuDNN returns them fastest first
    if (results[i].status == CUDNN_STATUS_SUCCESS && results[i].determinism == CUDNN_DETERMINISTIC)
      return {results[i].algo, results[i].mathType, results[i].memory};
  MM_FAIL("cuDNN: no deterministic ", pass, " algorithm for this convolution");
}

// Per shape, dtype and math mode: the descriptors and the three passes' algorithms, measured
// once by cudnnFind*Algorithm at the first call (cuDNN's best, not a fixed algorithm) and
// reused by every later call.
struct Plan {
  Descriptors d;
  Choice<cudnnConvolutionFwdAlgo_t> fwd;
  Choice<cudnnConvolutionBwdDataAlgo_t> data;
  Choice<cudnnConvolutionBwdFilterAlgo_t> filter;
  std::mutex use;  // held from setting the pass's math type on d.conv to the call that reads it
  Plan(const kernels::ConvGeometry& g, int64_t cout, cudnnDataType_t dt, bool tf32) : d(g, cout, dt, tf32) {
    constexpr int kMax = 16;
    int n = 0;
    cudnnConvolutionFwdAlgoPerf_t f[kMax];
    MM_CUDA_CHECK(cudnnFindConvolutionForwardAlgorithm(handle(), d.x, d.w, d.conv, d.y, kMax, &n, f));
    fwd = fastest_deterministic<cudnnConvolutionFwdAlgo_t>(f, n, "forward");
    cudnnConvolutionBwdDataAlgoPerf_t b[kMax];
    MM_CUDA_CHECK(cudnnFindConvolutionBackwardDataAlgorithm(handle(), d.w, d.y, d.conv, d.x, kMax, &n, b));
    data = fastest_deterministic<cudnnConvolutionBwdDataAlgo_t>(b, n, "input-gradient");
    cudnnConvolutionBwdFilterAlgoPerf_t w[kMax];
    MM_CUDA_CHECK(cudnnFindConvolutionBackwardFilterAlgorithm(handle(), d.x, d.y, d.conv, d.w, kMax, &n, w));
    filter = fastest_deterministic<cudnnConvolutionBwdFilterAlgo_t>(w, n, "weight-gradient");
  }
};

template <typename T>
Plan& plan(const kernels::ConvGeometry& g, int64_t cout) {
  const bool tf32 = sizeof(T) == 4 && kernels::gemm_tf32_cuda();
  using Key = std::array<int64_t, 10>;
  static std::map<Key, std::unique_ptr<Plan>> plans;
  static std::mutex mutex;
  const Key key{g.batch, g.in_channels, g.height, g.width, g.kernel_h, g.kernel_w, g.stride, g.padding, cout,
                int64_t(sizeof(T)) * 2 + (tf32 ? 1 : 0)};
  std::lock_guard<std::mutex> lock(mutex);
  auto& p = plans[key];
  if (!p) p = std::make_unique<Plan>(g, cout, sizeof(T) == 4 ? CUDNN_DATA_FLOAT : CUDNN_DATA_DOUBLE, tf32);
  return *p;
}

template <typename T>
struct Scalars {
  T one = 1, zero = 0;
};
}  // namespace

template <typename T>
void cudnn_conv_forward(const kernels::ConvGeometry& g, int64_t cout, const T* x, const T* w, T* y) {
  Plan& p = plan<T>(g, cout);
  Scalars<T> s;
  auto ws = allocate(Device::CUDA, p.fwd.bytes);
  const std::lock_guard<std::mutex> lock(p.use);  // the math type is the shared descriptor's
  MM_CUDA_CHECK(cudnnSetConvolutionMathType(p.d.conv, p.fwd.math));
  MM_CUDA_CHECK(cudnnConvolutionForward(handle(), &s.one, p.d.x, x, p.d.w, w, p.d.conv, p.fwd.algo, ws.get(), p.fwd.bytes,
                                        &s.zero, p.d.y, y));
}

template <typename T>
void cudnn_conv_backward_data(const kernels::ConvGeometry& g, int64_t cout, const T* w, const T* gy, T* gx) {
  Plan& p = plan<T>(g, cout);
  Scalars<T> s;
  auto ws = allocate(Device::CUDA, p.data.bytes);
  const std::lock_guard<std::mutex> lock(p.use);  // the math type is the shared descriptor's
  MM_CUDA_CHECK(cudnnSetConvolutionMathType(p.d.conv, p.data.math));
  MM_CUDA_CHECK(cudnnConvolutionBackwardData(handle(), &s.one, p.d.w, w, p.d.y, gy, p.d.conv, p.data.algo, ws.get(),
                                             p.data.bytes, &s.zero, p.d.x, gx));
}

template <typename T>
void cudnn_conv_backward_filter(const kernels::ConvGeometry& g, int64_t cout, const T* x, const T* gy, T* gw) {
  Plan& p = plan<T>(g, cout);
  Scalars<T> s;
  auto ws = allocate(Device::CUDA, p.filter.bytes);
  const std::lock_guard<std::mutex> lock(p.use);  // the math type is the shared descriptor's
  MM_CUDA_CHECK(cudnnSetConvolutionMathType(p.d.conv, p.filter.math));
  MM_CUDA_CHECK(cudnnConvolutionBackwardFilter(handle(), &s.one, p.d.x, x, p.d.y, gy, p.d.conv, p.filter.algo, ws.get(),
                                               p.filter.bytes, &s.zero, p.d.w, gw));
}

#define MM_INSTANTIATE(T)                                                                                      \
  template void cudnn_conv_forward<T>(const kernels::ConvGeometry&, int64_t, const T*, const T*, T*);          \
  template void cudnn_conv_backward_data<T>(const kernels::ConvGeometry&, int64_t, const T*, const T*, T*);    \
  template void cudnn_conv_backward_filter<T>(const kernels::ConvGeometry&, int64_t, const T*, const T*, T*);
MM_INSTANTIATE(float)
MM_INSTANTIATE(double)

}  // namespace mmengine
#endif  // MMENGINE_WITH_CUDNN
