// The optional cuDNN convolution, for comparison with the engine's own kernels (NCHW, no
// bias). Full FP32 math (CUDNN_FMA_MATH), or TF32 tensor cores allowed when the CUDA GEMMs run
// in TF32 (MMENGINE_MATMUL=tf32, gemm_set_tf32_cuda): the precision of the kernels it is
// compared with. Fair: per shape, dtype and math mode the descriptors are made once and each
// pass's algorithm is the fastest deterministic one cudnnFind*Algorithm measured at the first
// call; the workspace it needs comes from the caching allocator. Built only with CUDA and cuDNN.
#pragma once
#include "kernels/conv.h"

namespace mmengine {
template <typename T> void cudnn_conv_forward(const kernels::ConvGeometry& g, int64_t out_channels, const T* x, const T* w, T* y);
template <typename T> void cudnn_conv_backward_data(const kernels::ConvGeometry& g, int64_t out_channels, const T* w, const T* gy, T* gx);
template <typename T> void cudnn_conv_backward_filter(const kernels::ConvGeometry& g, int64_t out_channels, const T* x, const T* gy, T* gw);
}  // namespace mmengine
