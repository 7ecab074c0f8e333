// `mmengine bench --concurrent-sweep 1,2,4,8,16`: aggregate training throughput of N runs
// trained at once on one device, for each N, in each way `ablate --concurrent-mode` can run them
// (processes: N `mmengine train` child processes; streams: N threads of this process, each
// issuing on a CUDA stream of its own), so that both N and the mode are chosen from a
// measurement. Each run trains the same short run (its own folder under a temporary directory,
// removed afterwards); a run's rate is steps / its training-loop seconds (final small evaluation
// included), the aggregate is the sum of the N rates, which overlap. The wall column includes
// start-up and data loading (process start only in the processes mode).
#pragma once
#include <string>

#include <nlohmann/json.hpp>

namespace mmengine {

struct ConcurrentSweepOpts {
  std::string counts = "1,2,4,8,16", device = "auto", dataset = "synthetic", data_dir;
  std::string modes = "processes,streams";  // which --concurrent-mode ways are timed, in this order
  int64_t depth = 28, widen = 2, batch = 64, steps = 60;
};

// Prints a table per mode and, with both, the streams / processes ratio per N; fills
// out["concurrent"][mode][N]. Returns the exit status (1 if a run failed).
int run_concurrent_sweep(const ConcurrentSweepOpts& o, nlohmann::ordered_json& out);

}  // namespace mmengine
