#include "engine/precision.h"

#include "engine/conv_backend.h"
#include "engine/kernel_version.h"
#include "kernels/error.h"
#ifdef MMENGINE_WITH_CUDA
#include "kernels/gemm.h"
#endif

namespace mmengine {

namespace {
bool gemm_tf32() {
#ifdef MMENGINE_WITH_CUDA
  return kernels::gemm_tf32_cuda();
#else
  return false;
#endif
}
void set_gemm_tf32(bool on) {
#ifdef MMENGINE_WITH_CUDA
  kernels::gemm_set_tf32_cuda(on);
#else
  MM_CHECK(!on, "--precision tf32: this build has no CUDA");
#endif
}
thread_local DType g_activations = DType::F32;  // per host thread, like the switches (engine/env_setting.h)
}  // namespace

DType activation_dtype() { return g_activations; }

PrecisionScope::PrecisionScope(Precision p, Device device, DType dtype)
    : saved_tf32_(gemm_tf32()), saved_backend_(conv_backend()), saved_activations_(g_activations) {
  const ConvBackend backend = saved_backend_;
  if (p == Precision::Bf16) {
    MM_CHECK(dtype == DType::F32, "--precision bf16: needs float32 parameters (the master weights), got ",
             dtype_name(dtype));
    MM_CHECK(backend != ConvBackend::Cudnn && backend != ConvBackend::Igemm3xTf32, "--precision bf16: MMENGINE_CONV=",
             enum_name(kConvBackends, backend), " has no bfloat16 path here (the bf16 convolutions are the implicit-GEMM "
             "TF32 kernels; unset MMENGINE_CONV)");
    MM_CHECK(fusion_enabled(Fusion::BnLeakyRelu), "--precision bf16: needs the bn-leaky-relu fusion (bfloat16 "
                                                  "activations go through the fused BatchNorm kernels; it is off by "
                                                  "MMENGINE_UNFUSED or MMENGINE_KERNELS)");
    if (device == Device::CUDA) set_gemm_tf32(true);
    set_conv_backend(ConvBackend::Igemm);
    g_activations = DType::BF16;
    return;
  }
  if (p == Precision::Fp32) {
    MM_CHECK(backend != ConvBackend::Igemm, "--precision fp32: MMENGINE_CONV=igemm computes in TF32 (use --precision "
                                            "tf32, or MMENGINE_CONV=own|igemm-3xtf32|cudnn)");
    MM_CHECK(!saved_tf32_, "--precision fp32: MMENGINE_MATMUL=tf32 asks for TF32 GEMMs (use --precision tf32, or "
                           "MMENGINE_MATMUL=full)");
    return;
  }
  MM_CHECK(device == Device::CUDA, "--precision tf32: needs --device cuda (TF32 is a tensor-core format)");
  MM_CHECK(dtype == DType::F32, "--precision tf32: needs float32 parameters, got ", dtype_name(dtype));
  set_gemm_tf32(true);
  if (backend == ConvBackend::Own) set_conv_backend(ConvBackend::Igemm);
}

PrecisionScope::~PrecisionScope() {
  g_activations = saved_activations_;
  set_conv_backend(saved_backend_);
#ifdef MMENGINE_WITH_CUDA
  kernels::gemm_set_tf32_cuda(saved_tf32_);
#endif
}

}  // namespace mmengine
