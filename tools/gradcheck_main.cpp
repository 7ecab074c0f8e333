// mmengine-gradcheck: finite-difference check of every registered op and layer.
#include <CLI/CLI.hpp>
#include <cstdio>

#include "engine/runtime.h"
#include "tools/grad_cases.h"

using namespace mmengine;

int main(int argc, char** argv) {
  CLI::App app{"mmengine-gradcheck: float64 central-difference check of every registered op and layer"};
  std::string device = "all", only;
  bool list = false;
  app.add_option("--device", device, "cpu, cuda or all (all skips CUDA when no device exists)")
      ->check(CLI::IsMember({"cpu", "cuda", "all"}));
  app.add_option("--op", only, "check only the case with this name");
  app.add_flag("--list", list, "print the registered case names and exit");
  CLI11_PARSE(app, argc, argv);

  auto cases = all_grad_cases();
  if (list) {
    for (auto& c : cases) std::printf("%s\n", c.name.c_str());
    return 0;
  }
  if (!only.empty()) {
    std::vector<GradCase> picked;
    for (auto& c : cases)
      if (c.name == only) picked.push_back(c);
    if (picked.empty()) {
      std::fprintf(stderr, "mmengine-gradcheck: --op %s: no such case (see --list)\n", only.c_str());
      return 2;
    }
    cases = picked;
  }
  std::vector<Device> devices;
  if (device != "cuda") devices.push_back(Device::CPU);
  if (device != "cpu") {
    if (cuda_available()) {
      devices.push_back(Device::CUDA);
    } else if (device == "cuda") {
      std::fprintf(stderr, "mmengine-gradcheck: --device cuda: %s\n", cuda_unavailable_reason().c_str());
      return 2;
    } else {
      std::printf("note: CUDA skipped: %s\n", cuda_unavailable_reason().c_str());
    }
  }

  int failures = 0, checked = 0;
  std::printf("%-28s %-15s %-8s %12s %12s %8s  %s\n", "op", "device", "dtype", "max_abs_err", "max_rel_err", "verdict", "");
  for (Device d : devices)
    for (auto& c : cases) {
      GradCheckResult r = gradcheck(c, d);
      ++checked;
      failures += r.passed ? 0 : 1;
      std::printf("%-28s %-15s %-8s %12.3e %12.3e %8s  %s\n", c.name.c_str(), device_name(d), "float64", r.max_abs_error,
                  r.max_rel_error, r.passed ? "PASS" : "FAIL", r.message.c_str());
    }
  std::printf("%d checked, %d failed\n", checked, failures);
  return failures == 0 ? 0 : 1;
}
