#ifdef MMENGINE_WITH_CUDNN
#include "engine/cuda/conv_cudnn.h"

#include <cudnn.h>

#include <cstdlib>

#include "engine/cuda/context.h"
#include "engine/memory.h"
#include "kernels/cuda/check.h"

namespace mmengine {

namespace {
cudnnHandle_t handle() {
  static cudnnHandle_t h = [] {
    cudnnHandle_t created;
    MM_CUDA_CHECK(cudnnCreate(&created));
    std::atexit([] { cudnnDestroy(h); });  // before the CUDA runtime's teardown; best effort
    return created;
  }();
  MM_CUDA_CHECK(cudnnSetStream(h, cuda_stream()));  // the context's current stream, like every launch
  return h;
}

// RAII set of descriptors for one call (descriptors are cheap; this path is for comparison).
template <typename T>
struct Descriptors {
  cudnnTensorDescriptor_t x, y;
  cudnnFilterDescriptor_t w;
  cudnnConvolutionDescriptor_t conv;
  Descriptors(const kernels::ConvGeometry& g, int64_t cout) {
    const cudnnDataType_t dt = sizeof(T) == 4 ? CUDNN_DATA_FLOAT : CUDNN_DATA_DOUBLE;
    MM_CUDA_CHECK(cudnnCreateTensorDescriptor(&x));
    MM_CUDA_CHECK(cudnnCreateTensorDescriptor(&y));
    MM_CUDA_CHECK(cudnnCreateFilterDescriptor(&w));
    MM_CUDA_CHECK(cudnnCreateConvolutionDescriptor(&conv));
    MM_CUDA_CHECK(cudnnSetTensor4dDescriptor(x, CUDNN_TENSOR_NCHW, dt, g.batch, g.in_channels, g.height, g.width));
    MM_CUDA_CHECK(cudnnSetTensor4dDescriptor(y, CUDNN_TENSOR_NCHW, dt, g.batch, cout, g.out_h(), g.out_w()));
    MM_CUDA_CHECK(cudnnSetFilter4dDescriptor(w, dt, CUDNN_TENSOR_NCHW, cout, g.in_channels, g.kernel_h, g.kernel_w));
    MM_CUDA_CHECK(cudnnSetConvolution2dDescriptor(conv, g.padding, g.padding, g.stride, g.stride, 1, 1,
                                                CUDNN_CROSS_CORRELATION, dt));
    MM_CUDA_CHECK(cudnnSetConvolutionMathType(conv, CUDNN_FMA_MATH));  // no TF32: compare like with like
  }
  ~Descriptors() {
    cudnnDestroyTensorDescriptor(x);
    cudnnDestroyTensorDescriptor(y);
    cudnnDestroyFilterDescriptor(w);
    cudnnDestroyConvolutionDescriptor(conv);
  }
};

template <typename T>
struct Scalars {
  T one = 1, zero = 0;
};
}  // namespace

template <typename T>
void cudnn_conv_forward(const kernels::ConvGeometry& g, int64_t cout, const T* x, const T* w, T* y) {
  Descriptors<T> d(g, cout);
  Scalars<T> s;
  const auto algo = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM;  // needs no workspace, supports float64
  MM_CUDA_CHECK(cudnnConvolutionForward(handle(), &s.one, d.x, x, d.w, w, d.conv, algo, nullptr, 0, &s.zero, d.y, y));
}

template <typename T>
void cudnn_conv_backward_data(const kernels::ConvGeometry& g, int64_t cout, const T* w, const T* gy, T* gx) {
  Descriptors<T> d(g, cout);
  Scalars<T> s;
  const auto algo = CUDNN_CONVOLUTION_BWD_DATA_ALGO_0;
  size_t bytes = 0;
  MM_CUDA_CHECK(cudnnGetConvolutionBackwardDataWorkspaceSize(handle(), d.w, d.y, d.conv, d.x, algo, &bytes));
  auto ws = allocate(Device::CUDA, bytes);
  MM_CUDA_CHECK(cudnnConvolutionBackwardData(handle(), &s.one, d.w, w, d.y, gy, d.conv, algo, ws.get(), bytes, &s.zero,
                                           d.x, gx));
}

template <typename T>
void cudnn_conv_backward_filter(const kernels::ConvGeometry& g, int64_t cout, const T* x, const T* gy, T* gw) {
  Descriptors<T> d(g, cout);
  Scalars<T> s;
  const auto algo = CUDNN_CONVOLUTION_BWD_FILTER_ALGO_0;
  size_t bytes = 0;
  MM_CUDA_CHECK(cudnnGetConvolutionBackwardFilterWorkspaceSize(handle(), d.x, d.y, d.conv, d.w, algo, &bytes));
  auto ws = allocate(Device::CUDA, bytes);
  MM_CUDA_CHECK(cudnnConvolutionBackwardFilter(handle(), &s.one, d.x, x, d.y, gy, d.conv, algo, ws.get(), bytes, &s.zero,
                                             d.w, gw));
}

#define MM_INSTANTIATE(T)                                                                                      \
  template void cudnn_conv_forward<T>(const kernels::ConvGeometry&, int64_t, const T*, const T*, T*);          \
  template void cudnn_conv_backward_data<T>(const kernels::ConvGeometry&, int64_t, const T*, const T*, T*);    \
  template void cudnn_conv_backward_filter<T>(const kernels::ConvGeometry&, int64_t, const T*, const T*, T*);
MM_INSTANTIATE(float)
MM_INSTANTIATE(double)

}  // namespace mmengine
#endif  // MMENGINE_WITH_CUDNN
