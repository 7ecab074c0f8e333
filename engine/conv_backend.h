// Which convolution implementation CUDA tensors use: the engine's own im2col + cuBLAS kernels
// (default) or cuDNN, picked at run time by MMENGINE_CONV=own|cudnn (read once) or by
// set_conv_backend(). cuDNN is optional: asking for it in a build without it is an error.
#pragma once
#include <string>

namespace mmengine {

enum class ConvBackend { Own, Cudnn };
ConvBackend conv_backend();
void set_conv_backend(ConvBackend b);
bool cudnn_built();
ConvBackend parse_conv_backend(const std::string& name, const char* what);

}  // namespace mmengine
