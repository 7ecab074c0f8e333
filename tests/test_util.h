// Helpers shared by the test files.
#pragma once
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <climits>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>

#include "engine/runtime.h"
#include "engine/tensor.h"

namespace mmengine::testing {

// A CUDA test without a device must show as skipped, never as passed.
#define MM_SKIP_WITHOUT(device)                                                            \
  do {                                                                                     \
    if ((device) == ::mmengine::Device::CUDA && !::mmengine::cuda_available())             \
      GTEST_SKIP() << "CUDA test skipped: " << ::mmengine::cuda_unavailable_reason();     \
  } while (0)

struct Tolerance {
  double rtol, atol;
};
// The design note's starting tolerances.
inline Tolerance elementwise_tol(DType t) { return t == DType::F32 ? Tolerance{1e-6, 1e-7} : Tolerance{1e-12, 1e-14}; }
inline Tolerance reduction_tol(DType t) { return t == DType::F32 ? Tolerance{1e-4, 1e-5} : Tolerance{1e-10, 1e-12}; }

// Fails on any element with !(|a - e| <= atol + rtol |e|) (NaN fails too); reports the worst.
inline ::testing::AssertionResult all_close(const Tensor& actual, const Tensor& expected, Tolerance tol) {
  if (actual.shape() != expected.shape())
    return ::testing::AssertionFailure() << "shape " << describe(actual) << " vs " << describe(expected);
  auto a = actual.to_vector(), e = expected.to_vector();
  int64_t bad = 0, worst = -1;
  double worst_excess = -1;
  for (size_t i = 0; i < a.size(); ++i) {
    double err = std::fabs(a[i] - e[i]), allowed = tol.atol + tol.rtol * std::fabs(e[i]);
    if (!(err <= allowed)) {
      ++bad;
      double excess = std::isnan(err) ? INFINITY : err / allowed;
      if (excess > worst_excess) worst_excess = excess, worst = static_cast<int64_t>(i);
    }
  }
  if (bad == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << bad << " of " << a.size() << " elements differ; worst at " << worst << ": "
                                       << a[worst] << " vs expected " << e[worst] << " (rtol " << tol.rtol << ", atol "
                                       << tol.atol << ")";
}

// The `mmengine` executable the CLI tests run: $MMENGINE_CLI if set, else one beside the test
// binary (a packed copy on a GPU machine), else the one this build made (an absolute path of the
// build machine).
inline std::string cli_path() {
  if (const char* env = std::getenv("MMENGINE_CLI"); env && *env) return env;
  char self[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n > 0) {
    std::string dir(self, static_cast<size_t>(n));
    dir = dir.substr(0, dir.rfind('/'));
    for (std::string candidate : {dir + "/mmengine", dir + "/../tools/mmengine"})
      if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return MMENGINE_CLI;
}

// Runs `mmengine ARGS`; returns (exit status, stdout + stderr).
inline std::pair<int, std::string> run_cli(const std::string& args) {
  std::string cmd = cli_path() + " " + args + " 2>&1";
  char buf[4096];
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  while (p && fgets(buf, sizeof buf, p)) out += buf;
  int rc = p ? pclose(p) : -1;
  return {WIFEXITED(rc) ? WEXITSTATUS(rc) : -1, out};
}

inline std::string param_name(Device d) { return d == Device::CPU ? "cpu" : "cuda"; }
}  // namespace mmengine::testing
namespace mmengine {
inline void PrintTo(Device d, std::ostream* os) { *os << device_name(d); }
}  // namespace mmengine
namespace mmengine::testing {

// Turns NaN-poisoning of fresh tensors on for the lifetime of the object.
struct PoisonScope {
  PoisonScope() { set_poison_new_tensors(true); }
  ~PoisonScope() { set_poison_new_tensors(false); }
};

}  // namespace mmengine::testing
