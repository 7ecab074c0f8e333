// Which convolution implementation CUDA tensors use: the engine's own im2col + cuBLAS kernels
// (default), the engine's implicit-GEMM TF32 tensor-core kernels (kernels/conv_igemm.h; float32
// only, float64 convolutions keep the own kernels; on the CPU igemm runs their CPU twins, the
// reference convolution on TF32-rounded inputs), the same kernels with 3xTF32 products
// (FP32-class; on the CPU the plain FP32 reference), or cuDNN, picked at run time by
// MMENGINE_CONV=own|igemm|igemm-3xtf32|cudnn (read once) or by set_conv_backend() (per host
// thread: engine/env_setting.h). A
// convolution's backward uses the backend its forward used. cuDNN is optional: asking for it in
// a build without it is an error.
#pragma once
#include <string>

#include "engine/enum_table.h"
#include "engine/env_setting.h"

namespace mmengine {

enum class ConvBackend { Own, Igemm, Igemm3xTf32, Cudnn };
inline constexpr EnumEntry<ConvBackend> kConvBackends[] = {
    {ConvBackend::Own, "own", "the engine's im2col + cuBLAS kernels"},
    {ConvBackend::Igemm, "igemm", "the engine's implicit-GEMM TF32 tensor-core kernels, float32"},
    {ConvBackend::Igemm3xTf32, "igemm-3xtf32",
     "the implicit-GEMM kernels with 3xTF32 products (each operand as two TF32 parts): FP32-class accuracy on tensor "
     "cores, float32"},
    {ConvBackend::Cudnn, "cudnn", "cuDNN, for comparison (builds that found it)"}};
ConvBackend conv_backend();
void set_conv_backend(ConvBackend b);
// The implicit-GEMM kernels, in TF32 or in 3xTF32 (the same launchers' two forms).
inline bool uses_igemm(ConvBackend b) { return b == ConvBackend::Igemm || b == ConvBackend::Igemm3xTf32; }
bool cudnn_built();
ConvBackend parse_conv_backend(const std::string& name, const char* what);
const char* conv_backend_name(ConvBackend b);

// Sets the backend for its lifetime (tests, the bench's side-by-side rows).
using ConvBackendScope = SettingScope<ConvBackend, conv_backend, set_conv_backend>;

// Which implicit-GEMM kernels run the stride-1 forward and input gradient of float32 and bf16
// convolutions with 1x1 or 3x3 kernels, and their weight gradient with 3x3 kernels
// (kernels/conv_igemm.h): the gather kernels, or the spatial-tile halo kernels that stage each
// input window once per block. The same function (within FP32 summation order); the rest
// (strided, other kernels, 1x1 weight gradients) runs the gather kernels either way. halo-rows
// is halo with the 3x3 weight gradient's (TF32, bf16) warps owning kernel rows instead of
// columns (kernels/conv_igemm.h; the same bits, fewer shared loads per product).
// MMENGINE_IGEMM=gather|halo|halo-rows (read once) or set_igemm_tiling() (per thread).
enum class IgemmTiling { Gather, Halo, HaloRows };
inline constexpr EnumEntry<IgemmTiling> kIgemmTilings[] = {
    {IgemmTiling::Gather, "gather", "every tap gathered from memory per element (measured on an H100, 2026-11-27)"},
    {IgemmTiling::Halo, "halo", "the input window staged once per 64-pixel tile (stride-1 1x1/3x3 float32 and bf16, 3x3 weight gradients; not yet timed)"},
    {IgemmTiling::HaloRows, "halo-rows", "halo, the 3x3 weight gradient's warps owning kernel rows (not yet timed)"}};
IgemmTiling igemm_tiling();
void set_igemm_tiling(IgemmTiling t);
IgemmTiling parse_igemm_tiling(const std::string& name, const char* what);
const char* igemm_tiling_name(IgemmTiling t);
using IgemmTilingScope = SettingScope<IgemmTiling, igemm_tiling, set_igemm_tiling>;

}  // namespace mmengine
