#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "kernels/error.h"
#include "mixmatch/process_pool.h"
#include "tools/bench_concurrent.h"

namespace fs = std::filesystem;

namespace mmengine {

int run_concurrent_sweep(const ConcurrentSweepOpts& o, nlohmann::ordered_json& out) {
  std::vector<int> counts;
  std::stringstream ss(o.counts);
  for (std::string item; std::getline(ss, item, ',');) {
    char* end = nullptr;
    const long v = std::strtol(item.c_str(), &end, 10);
    MM_CHECK(!item.empty() && *end == 0 && v >= 1 && v <= 64, "--concurrent-sweep: expected process counts 1..64 like 1,2,4,8,16, got '",
             item, "'");
    counts.push_back(static_cast<int>(v));
  }
  MM_CHECK(!counts.empty(), "--concurrent-sweep: empty list");
  MM_CHECK(o.steps >= 2, "--sweep-steps: must be >= 2, got ", o.steps);
  const std::string exe = self_executable();
  const std::string root = (fs::temp_directory_path() / ("mmengine-sweep-" + std::to_string(::getpid()))).string();
  std::printf("concurrent training processes on %s: WRN-%lld-%lld, B = %lld, %lld steps each, %s data\n", o.device.c_str(),
              (long long)o.depth, (long long)o.widen, (long long)o.batch, (long long)o.steps, o.dataset.c_str());
  std::printf("%4s %24s %20s %10s %8s\n", "N", "steps/s per process", "aggregate steps/s", "x of N=1", "wall s");
  int status = 0;
  double first = 0;
  for (int n : counts) {
    std::vector<ProcessJob> jobs(n);
    for (int i = 0; i < n; ++i) {
      const std::string dir = root + "/n" + std::to_string(n) + "-" + std::to_string(i);
      fs::create_directories(dir);
      jobs[i].log = dir + "/train.log";
      jobs[i].argv = {exe, "train", "--preset", "synthetic", "--dataset", o.dataset, "--depth", std::to_string(o.depth),
                      "--widen", std::to_string(o.widen), "--batch-size", std::to_string(o.batch), "--epochs", "1",
                      "--steps-per-epoch", std::to_string(o.steps), "--max-eval-images", "100", "--log-every",
                      std::to_string(o.steps), "--device", o.device, "--seed", std::to_string(i), "--out", dir};
      if (!o.data_dir.empty()) jobs[i].argv.insert(jobs[i].argv.end(), {"--data", o.data_dir});
      if (!std::getenv("OMP_NUM_THREADS"))
        jobs[i].env.push_back("OMP_NUM_THREADS=" + std::to_string(std::max(1u, std::thread::hardware_concurrency() / n)));
    }
    const auto t0 = std::chrono::steady_clock::now();
    auto outcomes = run_processes(jobs, n);
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::vector<double> rates;
    std::string failure;
    for (int i = 0; i < n; ++i) {
      const std::string dir = root + "/n" + std::to_string(n) + "-" + std::to_string(i);
      std::ifstream sj(dir + "/summary.json");
      auto j = nlohmann::json::parse(sj, nullptr, false);
      if (!outcomes[i].ok() || !j.is_object() || !(j.value("seconds", 0.0) > 0)) {
        std::ifstream log(jobs[i].log);
        std::string line, last;
        while (std::getline(log, line))
          if (!line.empty()) last = line;
        failure = "process " + std::to_string(i) + (outcomes[i].error.empty() ? ": exit " + std::to_string(outcomes[i].exit_code) + ": " + last : ": " + outcomes[i].error);
        break;
      }
      rates.push_back(j.value("steps_done", o.steps) / j["seconds"].get<double>());
    }
    if (!failure.empty()) {
      std::printf("%4d FAILED: %s\n", n, failure.c_str());
      out["concurrent"][std::to_string(n)] = {{"error", failure}};
      status = 1;
      continue;
    }
    std::sort(rates.begin(), rates.end());
    double aggregate = 0;
    for (double r : rates) aggregate += r;
    if (first == 0) first = aggregate;
    std::printf("%4d %24.2f %20.2f %10.2f %8.1f\n", n, rates[rates.size() / 2], aggregate, aggregate / first, wall);
    std::fflush(stdout);
    out["concurrent"][std::to_string(n)] = {{"steps_per_s_per_process_median", rates[rates.size() / 2]},
                                            {"aggregate_steps_per_s", aggregate},
                                            {"wall_s", wall}};
  }
  fs::remove_all(root);
  return status;
}

}  // namespace mmengine
