// `mmengine bench --concurrent-sweep 1,2,4,8,16`: aggregate training throughput of N
// concurrent `mmengine train` processes on one device, for each N, so that `ablate
// --concurrent` is chosen from a measurement. Each process trains the same short run (its own
// folder under a temporary directory, removed afterwards); a process's rate is steps / its
// training-loop seconds (summary.json, final small evaluation included), the aggregate is the
// sum of the rates of the N processes, which overlap. The wall column includes process start
// and data loading.
#pragma once
#include <string>

#include <nlohmann/json.hpp>

namespace mmengine {

struct ConcurrentSweepOpts {
  std::string counts = "1,2,4,8,16", device = "auto", dataset = "synthetic", data_dir;
  int64_t depth = 28, widen = 2, batch = 64, steps = 60;
};

// Prints the table; fills out["concurrent"]. Returns the exit status (1 if a process failed).
int run_concurrent_sweep(const ConcurrentSweepOpts& o, nlohmann::ordered_json& out);

}  // namespace mmengine
