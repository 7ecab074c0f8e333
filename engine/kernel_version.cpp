#include "engine/kernel_version.h"

#include "engine/env_setting.h"
#include "kernels/error.h"

#include <algorithm>
#include <iterator>

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

const char* fusion_name(Fusion f) {
  switch (f) {
    case Fusion::GroupedBatchNorm: return "grouped-bn";
    case Fusion::BnRunningInKernel: return "bn-running";
    case Fusion::BnLeakyRelu: return "bn-leaky-relu";
    case Fusion::MultiTensor: return "multi-tensor";
  }
  return "?";
}

namespace {
// Bit i set: kAllFusions[i] is switched off.
struct UnfusedMask {
  unsigned bits = 0;
};
UnfusedMask parse_unfused(const std::string& list, const char* what) {
  UnfusedMask m;
  size_t begin = 0;
  while (begin <= list.size()) {
    const size_t end = std::min(list.find(',', begin), list.size());
    const std::string name = list.substr(begin, end - begin);
    bool known = name.empty();
    for (size_t i = 0; i < std::size(kAllFusions); ++i)
      if (name == "all" || name == fusion_name(kAllFusions[i])) {
        m.bits |= 1u << i;
        known = true;
      }
    MM_CHECK(known, what, ": unknown fusion '", name,
             "' (expected a comma-separated list of grouped-bn, bn-running, bn-leaky-relu, multi-tensor, or all)");
    begin = end + 1;
  }
  return m;
}
UnfusedMask& unfused() { return env_setting("MMENGINE_UNFUSED", UnfusedMask{}, parse_unfused); }
unsigned fusion_bit(Fusion f) { return 1u << static_cast<unsigned>(f); }
}  // namespace

bool fusion_enabled(Fusion f) { return current() == KernelVersion::Current && !(unfused().bits & fusion_bit(f)); }
void set_fusion_enabled(Fusion f, bool on) {
  if (on) unfused().bits &= ~fusion_bit(f);
  else unfused().bits |= fusion_bit(f);
}

}  // namespace mmengine
