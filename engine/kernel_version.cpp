#include "engine/kernel_version.h"

#include "engine/env_setting.h"
#include "kernels/error.h"

namespace mmengine {

const char* kernel_version_name(KernelVersion v) {
  return v == KernelVersion::V0 ? "v0" : v == KernelVersion::V1 ? "v1" : "current";
}

KernelVersion parse_kernel_version(const std::string& name, const char* what) {
  if (name == "current") return KernelVersion::Current;
  if (name == "v1") return KernelVersion::V1;
  if (name == "v0") return KernelVersion::V0;
  MM_FAIL(what, ": expected 'current', 'v1' or 'v0', got '", name, "'");
}

namespace {
KernelVersion& current() { return env_setting("MMENGINE_KERNELS", KernelVersion::Current, parse_kernel_version); }
}  // namespace

KernelVersion kernel_version() { return current(); }
void set_kernel_version(KernelVersion v) { current() = v; }

}  // namespace mmengine
