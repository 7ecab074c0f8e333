#include "engine/precision.h"

#include "engine/conv_backend.h"
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
}  // namespace

PrecisionScope::PrecisionScope(Precision p, Device device, DType dtype)
    : saved_tf32_(gemm_tf32()), saved_backend_(conv_backend()) {
  const ConvBackend backend = saved_backend_;
  if (p == Precision::Fp32) {
    MM_CHECK(backend != ConvBackend::Igemm, "--precision fp32: MMENGINE_CONV=igemm computes in TF32 (use --precision "
                                            "tf32, or MMENGINE_CONV=own|cudnn)");
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
  set_conv_backend(saved_backend_);
#ifdef MMENGINE_WITH_CUDA
  kernels::gemm_set_tf32_cuda(saved_tf32_);
#endif
}

}  // namespace mmengine
