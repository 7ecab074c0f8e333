#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <thread>

#include "engine/runtime.h"
#ifdef MMENGINE_WITH_CUDA
#include "engine/cuda/cuda_memory.h"
#endif
#include "kernels/error.h"
#include "mixmatch/ablate.h"
#include "mixmatch/config.h"
#include "mixmatch/interrupt.h"
#include "mixmatch/process_pool.h"
#include "mixmatch/trainer.h"
#include "tools/bench_concurrent.h"

namespace fs = std::filesystem;

namespace mmengine {

namespace {
struct Rates {
  std::vector<double> per_run;  // steps / training seconds of each run
  std::string failure;          // the first run that failed, and why
};

std::vector<std::string> train_argv(const ConcurrentSweepOpts& o, const std::string& exe, int seed, const std::string& dir) {
  std::vector<std::string> argv{exe, "train", "--preset", "synthetic", "--dataset", o.dataset, "--depth", std::to_string(o.depth),
                                "--widen", std::to_string(o.widen), "--batch-size", std::to_string(o.batch), "--epochs", "1",
                                "--steps-per-epoch", std::to_string(o.steps), "--max-eval-images", "100", "--log-every",
                                std::to_string(o.steps), "--device", o.device, "--seed", std::to_string(seed), "--out", dir};
  if (!o.data_dir.empty()) argv.insert(argv.end(), {"--data", o.data_dir});
  return argv;
}

// The same run as train_argv, as a TrainConfig for a thread of this process.
TrainConfig train_config(const ConcurrentSweepOpts& o, int seed, const std::string& dir) {
  TrainConfig c;
  apply_preset("synthetic", c);
  c.dataset = o.dataset;
  if (!o.data_dir.empty()) c.data_dir = o.data_dir;
  c.depth = o.depth, c.widen = o.widen, c.batch_size = o.batch;
  c.epochs = 1, c.steps_per_epoch = o.steps, c.max_eval_images = 100, c.log_every = o.steps;
  c.device = o.device, c.seed = static_cast<uint64_t>(seed), c.out_dir = dir;
  validate(c);
  return c;
}

Rates time_processes(const ConcurrentSweepOpts& o, int n, const std::string& root, const std::string& exe) {
  std::vector<ProcessJob> jobs(n);
  for (int i = 0; i < n; ++i) {
    const std::string dir = root + "/" + std::to_string(i);
    fs::create_directories(dir);
    jobs[i].log = dir + "/train.log";
    jobs[i].argv = train_argv(o, exe, i, dir);
    if (!std::getenv("OMP_NUM_THREADS"))
      jobs[i].env.push_back("OMP_NUM_THREADS=" + std::to_string(cpu_share(static_cast<int>(n))));
  }
  auto outcomes = run_processes(jobs, n);
  Rates r;
  for (int i = 0; i < n; ++i) {
    const std::string dir = root + "/" + std::to_string(i);
    std::ifstream sj(dir + "/summary.json");
    auto j = nlohmann::json::parse(sj, nullptr, false);
    if (!outcomes[i].ok() || !j.is_object() || !(j.value("seconds", 0.0) > 0)) {
      std::ifstream log(jobs[i].log);
      std::string line, last;
      while (std::getline(log, line))
        if (!line.empty()) last = line;
      r.failure = "process " + std::to_string(i) +
                  (outcomes[i].error.empty() ? ": exit " + std::to_string(outcomes[i].exit_code) + ": " + last : ": " + outcomes[i].error);
      return r;
    }
    r.per_run.push_back(j.value("steps_done", o.steps) / j["seconds"].get<double>());
  }
  return r;
}

Rates time_streams(const ConcurrentSweepOpts& o, int n, const std::string& root) {
  const Device device = resolve_device(o.device);
  const int cpu_threads = cpu_share(static_cast<int>(n));
  std::vector<TrainConfig> configs;
  for (int i = 0; i < n; ++i) {
    configs.push_back(train_config(o, i, root + "/" + std::to_string(i)));
    fs::create_directories(configs.back().out_dir);
  }
  Rates r;
  r.per_run.assign(n, 0.0);
  std::mutex mu;
  std::vector<std::thread> threads;
  auto join_all = [&] {
    for (auto& t : threads)
      if (t.joinable()) t.join();
  };
  try {
    for (int i = 0; i < n; ++i)
      threads.emplace_back([&, i] {
        std::string error;
        try {
          const WorkerStreamScope stream(device, i);
          if (!std::getenv("OMP_NUM_THREADS")) set_cpu_threads(cpu_threads);
          const TrainSummary s = train_mixmatch_logged(configs[i], configs[i].out_dir + "/train.log");
          MM_CHECK(s.signal == 0, "interrupted by signal ", s.signal);
          MM_CHECK(s.seconds > 0 && s.steps > 0, "thread ", i, ": no timed steps");
          r.per_run[i] = s.steps / s.seconds;
        } catch (const std::exception& e) {
          error = "thread " + std::to_string(i) + ": " + e.what();
        } catch (...) {
          error = "thread " + std::to_string(i) + ": an unknown exception";
        }
        std::lock_guard<std::mutex> lock(mu);
        if (!error.empty() && r.failure.empty()) r.failure = error;
      });
  } catch (...) {  // a thread that could not be started: the started ones finish first
    join_all();
    throw;
  }
  join_all();
#ifdef MMENGINE_WITH_CUDA
  // The N worker streams keep their cached blocks: given back, so the next measurement (another
  // N, or the child processes of the other mode) starts with the device memory free.
  if (device == Device::CUDA) cuda_release_cache();
#endif
  return r;
}
}  // namespace

int run_concurrent_sweep(const ConcurrentSweepOpts& o, nlohmann::ordered_json& out) {
  std::vector<int> counts;
  std::stringstream ss(o.counts);
  for (std::string item; std::getline(ss, item, ',');) {
    char* end = nullptr;
    const long v = std::strtol(item.c_str(), &end, 10);
    MM_CHECK(!item.empty() && *end == 0 && v >= 1 && v <= 64, "--concurrent-sweep: expected run counts 1..64 like 1,2,4,8,16, got '",
             item, "'");
    counts.push_back(static_cast<int>(v));
  }
  MM_CHECK(!counts.empty(), "--concurrent-sweep: empty list");
  MM_CHECK(o.steps >= 2, "--sweep-steps: must be >= 2, got ", o.steps);
  std::vector<ConcurrentMode> modes;
  std::stringstream ms(o.modes);
  for (std::string item; std::getline(ms, item, ',');) {
    const ConcurrentMode m = enum_parse(kConcurrentModes, "--sweep-modes", item);
    MM_CHECK(std::find(modes.begin(), modes.end(), m) == modes.end(), "--sweep-modes: '", item, "' twice");
    modes.push_back(m);
  }
  MM_CHECK(!modes.empty(), "--sweep-modes: empty list");
  const std::string exe = self_executable();
  const std::string root = (fs::temp_directory_path() / ("mmengine-sweep-" + std::to_string(::getpid()))).string();
  int status = 0;
  std::map<int, double> aggregate_of[2];  // per mode: N -> aggregate steps/s
  // One scope over the whole sweep: a Ctrl-C stops the running runs (their rates are then
  // reported as failed, not as measurements) and no further N starts.
  const InterruptScope interrupts;
  for (ConcurrentMode mode : modes) {
    const char* name = enum_name(kConcurrentModes, mode);
    std::printf("concurrent training runs (%s) on %s: WRN-%lld-%lld, B = %lld, %lld steps each, %s data\n", name,
                o.device.c_str(), (long long)o.depth, (long long)o.widen, (long long)o.batch, (long long)o.steps,
                o.dataset.c_str());
    std::printf("%4s %24s %20s %10s %8s\n", "N", "steps/s per run", "aggregate steps/s", "x of N=1", "wall s");
    double first = 0;
    for (int n : counts) {
      if (interrupts.signal() != 0) break;
      const std::string dir = root + "/" + name + "-" + std::to_string(n);
      const auto t0 = std::chrono::steady_clock::now();
      Rates r = mode == ConcurrentMode::Processes ? time_processes(o, n, dir, exe) : time_streams(o, n, dir);
      const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      fs::remove_all(dir);
      if (!r.failure.empty()) {
        std::printf("%4d FAILED: %s\n", n, r.failure.c_str());
        out["concurrent"][name][std::to_string(n)] = {{"error", r.failure}};
        status = 1;
        continue;
      }
      std::sort(r.per_run.begin(), r.per_run.end());
      double aggregate = 0;
      for (double v : r.per_run) aggregate += v;
      if (first == 0) first = aggregate;
      aggregate_of[static_cast<int>(mode)][n] = aggregate;
      const double median = r.per_run[r.per_run.size() / 2];
      std::printf("%4d %24.2f %20.2f %10.2f %8.1f\n", n, median, aggregate, aggregate / first, wall);
      std::fflush(stdout);
      out["concurrent"][name][std::to_string(n)] = {
          {"steps_per_s_per_run_median", median}, {"aggregate_steps_per_s", aggregate}, {"wall_s", wall}};
    }
  }
  if (modes.size() == 2) {
    std::printf("streams / processes, aggregate steps/s:");
    for (int n : counts) {
      const auto& p = aggregate_of[static_cast<int>(ConcurrentMode::Processes)];
      const auto& s = aggregate_of[static_cast<int>(ConcurrentMode::Streams)];
      if (p.count(n) && s.count(n)) {
        std::printf("  N=%d %.2f", n, s.at(n) / p.at(n));
        out["concurrent"]["streams_over_processes"][std::to_string(n)] = s.at(n) / p.at(n);
      }
    }
    std::printf("\n");
  }
  fs::remove_all(root);
  if (interrupts.signal() != 0) {
    std::printf("interrupted by signal %d: the sweep is incomplete\n", interrupts.signal());
    return 128 + interrupts.signal();
  }
  return status;
}

}  // namespace mmengine
