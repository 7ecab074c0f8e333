#include "engine/conv_backend.h"

#include "engine/env_setting.h"
#include "kernels/error.h"

namespace mmengine {

bool cudnn_built() {
#ifdef MMENGINE_WITH_CUDNN
  return true;
#else
  return false;
#endif
}

ConvBackend parse_conv_backend(const std::string& name, const char* what) {
  const ConvBackend b = enum_parse(kConvBackends, what, name);
  MM_CHECK(b != ConvBackend::Cudnn || cudnn_built(), what, "=cudnn: this build has no cuDNN (it was not found at configure time)");
  return b;
}

const char* conv_backend_name(ConvBackend b) { return enum_name(kConvBackends, b); }

namespace {
ConvBackend& current() { return env_setting("MMENGINE_CONV", ConvBackend::Own, parse_conv_backend); }
}  // namespace

ConvBackend conv_backend() { return current(); }
IgemmTiling parse_igemm_tiling(const std::string& name, const char* what) { return enum_parse(kIgemmTilings, what, name); }
const char* igemm_tiling_name(IgemmTiling t) { return enum_name(kIgemmTilings, t); }

namespace {
IgemmTiling& tiling() { return env_setting("MMENGINE_IGEMM", IgemmTiling::Gather, parse_igemm_tiling); }
}  // namespace

IgemmTiling igemm_tiling() { return tiling(); }
void set_igemm_tiling(IgemmTiling t) { tiling() = t; }

void set_conv_backend(ConvBackend b) {
  MM_CHECK(b != ConvBackend::Cudnn || cudnn_built(), "cuDNN backend requested but this build has no cuDNN");
  current() = b;
}

}  // namespace mmengine
