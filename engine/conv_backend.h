// Which convolution implementation CUDA tensors use: the engine's own im2col + cuBLAS kernels
// (default), `own-v0` (the same, but the weight gradient as one cuBLAS GEMM per image, the
// first GPU version: kept as the baseline `mmengine bench` measures against) or cuDNN, picked
// at run time by MMENGINE_CONV=own|own-v0|cudnn (read once) or by set_conv_backend(). cuDNN is
// optional: asking for it in a build without it is an error. CPU tensors always use the own
// kernels.
#pragma once
#include <string>

namespace mmengine {

enum class ConvBackend { Own, OwnV0, Cudnn };
const char* conv_backend_name(ConvBackend b);
ConvBackend conv_backend();
void set_conv_backend(ConvBackend b);
bool cudnn_built();
ConvBackend parse_conv_backend(const std::string& name, const char* what);

}  // namespace mmengine
