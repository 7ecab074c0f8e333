// Per-kernel-family time accounting for `mmengine bench`. Off by default, and then a scope
// costs one branch. When on, a scope synchronizes the device before and after (so the time
// is that family's own), which slows the step: the breakdown is taken in separate runs from
// the headline timings. In CUDA builds every scope is also an NVTX range (always, without a
// sync), so an nsys / ncu timeline of any run is labelled by kernel family.
#pragma once
#include <chrono>
#include <functional>
#include <map>
#include <string>

#include "engine/dtype.h"

namespace mmengine {

class Profiler {
 public:
  static bool enabled();
  static void enable(bool on);
  static void reset();
  static void add(const char* family, double ms);
  static std::map<std::string, std::pair<double, int64_t>> totals();  // family -> (ms, calls)
};

class ProfileScope {
 public:
  ProfileScope(const char* family, Device d);
  ~ProfileScope();
  ProfileScope(const ProfileScope&) = delete;
  ProfileScope& operator=(const ProfileScope&) = delete;

 private:
  const char* family_;
  Device device_;
  bool active_;
  std::chrono::steady_clock::time_point start_;
};

// Milliseconds one call of `fn` takes on `device`: CUDA events on a GPU, the steady clock on
// the CPU; the device is idle before and after.
double time_ms(Device device, const std::function<void()>& fn);

}  // namespace mmengine

#define MM_PROFILE(family, device) ::mmengine::ProfileScope mm_profile_scope_(family, device)
