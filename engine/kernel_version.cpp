#include "engine/kernel_version.h"

#include "engine/env_setting.h"
#include "kernels/error.h"

#include <algorithm>
#include <iterator>

namespace mmengine {

const char* kernel_version_name(KernelVersion v) { return enum_name(kKernelVersions, v); }

KernelVersion parse_kernel_version(const std::string& name, const char* what) {
  return enum_parse(kKernelVersions, what, name);
}

namespace {
KernelVersion& current() { return env_setting("MMENGINE_KERNELS", KernelVersion::Current, parse_kernel_version); }
}  // namespace

KernelVersion kernel_version() { return current(); }
void set_kernel_version(KernelVersion v) { current() = v; }

const char* fusion_name(Fusion f) { return enum_name(kFusions, f); }

namespace {
// Bit f set: fusion f is switched off.
struct UnfusedMask {
  unsigned bits = 0;
};
UnfusedMask parse_unfused(const std::string& list, const char* what) { return {enum_parse_mask(kFusions, what, list)}; }
UnfusedMask& unfused() { return env_setting("MMENGINE_UNFUSED", UnfusedMask{}, parse_unfused); }
}  // namespace

bool fusion_enabled(Fusion f) { return current() == KernelVersion::Current && !(unfused().bits & enum_bit(f)); }
void set_fusion_enabled(Fusion f, bool on) {
  if (on) unfused().bits &= ~enum_bit(f);
  else unfused().bits |= enum_bit(f);
}

}  // namespace mmengine
