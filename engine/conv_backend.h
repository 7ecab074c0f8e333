// Which convolution implementation CUDA tensors use: the engine's own im2col + cuBLAS kernels
// (default), the engine's implicit-GEMM TF32 tensor-core kernels (kernels/conv_igemm.h; float32
// only, float64 convolutions keep the own kernels; on the CPU igemm runs their CPU twins, the
// reference convolution on TF32-rounded inputs), or cuDNN, picked at run time by
// MMENGINE_CONV=own|igemm|cudnn (read once) or by set_conv_backend(). A convolution's backward
// uses the backend its forward used. cuDNN is optional: asking for it in a build without it is
// an error.
#pragma once
#include <string>

#include "engine/enum_table.h"

namespace mmengine {

enum class ConvBackend { Own, Igemm, Cudnn };
inline constexpr EnumEntry<ConvBackend> kConvBackends[] = {
    {ConvBackend::Own, "own", "the engine's im2col + cuBLAS kernels"},
    {ConvBackend::Igemm, "igemm", "the engine's implicit-GEMM TF32 tensor-core kernels, float32"},
    {ConvBackend::Cudnn, "cudnn", "cuDNN, for comparison (builds that found it)"}};
ConvBackend conv_backend();
void set_conv_backend(ConvBackend b);
bool cudnn_built();
ConvBackend parse_conv_backend(const std::string& name, const char* what);
const char* conv_backend_name(ConvBackend b);

// Sets the backend for its lifetime (tests, the bench's side-by-side rows).
class ConvBackendScope {
 public:
  explicit ConvBackendScope(ConvBackend b) : saved_(conv_backend()) { set_conv_backend(b); }
  ~ConvBackendScope() { set_conv_backend(saved_); }
  ConvBackendScope(const ConvBackendScope&) = delete;
  ConvBackendScope& operator=(const ConvBackendScope&) = delete;

 private:
  ConvBackend saved_;
};

}  // namespace mmengine
