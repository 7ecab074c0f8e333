// The arithmetic precision of a training run (`mmengine train --precision`), over the
// lower-level switches it sets for its lifetime: the CUDA GEMM math mode (kernels/gemm.h,
// MMENGINE_MATMUL), the convolution backend (engine/conv_backend.h, MMENGINE_CONV) and the
// activation dtype (activation_dtype() below).
//   fp32: every float GEMM and convolution in full FP32 (the default; what the tests and the
//         PyTorch fp32 comparison hold the engine to). Convolutions: the own kernels, cuDNN
//         (FP32) when MMENGINE_CONV=cudnn, or the implicit-GEMM kernels with 3xTF32 products
//         (FP32-class) when MMENGINE_CONV=igemm-3xtf32; MMENGINE_CONV=igemm and
//         MMENGINE_MATMUL=tf32 are refused.
//   tf32: CUDA only: cuBLAS GEMMs with TF32 tensor-core inputs, convolutions by the engine's
//         implicit-GEMM TF32 kernels (cuDNN with TF32 allowed when MMENGINE_CONV=cudnn; the
//         3xTF32 kernels kept when MMENGINE_CONV=igemm-3xtf32 asks for them); FP32
//         accumulation, activations, BatchNorm statistics, losses and optimizer state.
//   bf16: the model's activations (and their gradients) stored as bfloat16 from the first
//         convolution to the last BatchNorm (kernels/bf16.h): implicit-GEMM convolutions on
//         bf16 inputs with the FP32 master weights rounded to bf16 (exact products, FP32 sums),
//         the fused BatchNorm kernels reading and writing bf16 with FP32 statistics, residual
//         adds in float rounded once; pooling, the classifier, losses, optimizer and EMA in FP32;
//         cuBLAS GEMMs TF32 on CUDA (the classifier; FP32 on the CPU). CPU or CUDA: the bf16
//         kernels' CPU twins round as the CUDA kernels do. Needs the bn-leaky-relu fusion; refuses
//         MMENGINE_CONV=cudnn|igemm-3xtf32 (no bf16 path there); with --conv-bias on the bias is added in
//         FP32; data parallel, synchronized BN exchanges float64 statistics (no bf16 collective).
// A run's precision is part of its experiment (config.json; --resume refuses another).
#pragma once
#include <string>

#include "engine/conv_backend.h"
#include "engine/dtype.h"
#include "engine/enum_table.h"

namespace mmengine {

enum class Precision { Fp32, Tf32, Bf16 };
inline constexpr EnumEntry<Precision> kPrecisions[] = {
    {Precision::Fp32, "fp32", "full FP32 GEMMs and convolutions"},
    {Precision::Tf32, "tf32",
     "CUDA: TF32 tensor-core GEMMs and implicit-GEMM convolutions, FP32 accumulation, activations and state"},
    {Precision::Bf16, "bf16",
     "bfloat16 activations through convolutions and BatchNorm, FP32 accumulation, weights, statistics and state"}};

// The dtype the model's activations are stored in: BF16 while a bf16 PrecisionScope lives, else
// float32 (layers/wideresnet.cpp casts at the model's entry and before its pooling).
DType activation_dtype();

// Applies a precision for its lifetime and restores the switches after. Errors name
// --precision: tf32 needs the CUDA device and float32; bf16 float32 parameters and the
// conditions above; fp32 refuses the environment's TF32 switches (MMENGINE_CONV=igemm,
// MMENGINE_MATMUL=tf32) rather than override them silently.
class PrecisionScope {
 public:
  PrecisionScope(Precision p, Device device, DType dtype);
  ~PrecisionScope();
  PrecisionScope(const PrecisionScope&) = delete;
  PrecisionScope& operator=(const PrecisionScope&) = delete;

 private:
  bool saved_tf32_ = false;
  ConvBackend saved_backend_;
  DType saved_activations_;
};

}  // namespace mmengine
