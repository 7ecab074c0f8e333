// The optional cuDNN convolution, for comparison with the engine's own kernels (NCHW, no
// bias, full-precision math). Built only with CUDA and cuDNN.
#pragma once
#include "kernels/conv.h"

namespace mmengine {
template <typename T> void cudnn_conv_forward(const kernels::ConvGeometry& g, int64_t out_channels, const T* x, const T* w, T* y);
template <typename T> void cudnn_conv_backward_data(const kernels::ConvGeometry& g, int64_t out_channels, const T* w, const T* gy, T* gx);
template <typename T> void cudnn_conv_backward_filter(const kernels::ConvGeometry& g, int64_t out_channels, const T* x, const T* gy, T* gw);
}  // namespace mmengine
