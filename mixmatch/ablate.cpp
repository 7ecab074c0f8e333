#include "mixmatch/ablate.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>
#include <unistd.h>

#include "kernels/error.h"
#include "engine/safetensors.h"
#include "engine/dist.h"
#include "engine/runtime.h"
#include "mixmatch/config.h"
#include "mixmatch/interrupt.h"
#include "mixmatch/process_pool.h"
#include "mixmatch/stats.h"
#include "mixmatch/trainer.h"

namespace fs = std::filesystem;

namespace mmengine {

namespace {
const auto kInvocationStart = std::chrono::steady_clock::now();
const double kMinSecondsToStart = 10;  // a run needs its set-up, a step, an evaluation and a checkpoint

std::vector<std::string> split_list(const std::string& s, const char* flag) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ','))
    if (!item.empty()) out.push_back(item);
  MM_CHECK(!out.empty(), flag, ": empty list");
  return out;
}

std::vector<std::string> split_csv_line(const std::string& line) {
  std::vector<std::string> out;
  std::stringstream ss(line);
  std::string f;
  while (std::getline(ss, f, ',')) out.push_back(f);
  if (!line.empty() && line.back() == ',') out.push_back("");
  return out;
}

// printf of up to four doubles (every conversion in f must take a double).
std::string fmt(const char* f, double a, double b = 0, double c = 0, double d = 0) {
  char buf[128];
  std::snprintf(buf, sizeof buf, f, a, b, c, d);
  return buf;
}

std::string mean_std(const std::vector<double>& v, int precision = 2) {
  if (v.empty()) return "—";
  char b[64];  // not fmt(): its arguments are doubles, and %.* reads an int
  if (v.size() == 1) std::snprintf(b, sizeof b, "%.*f", precision, mean_of(v));
  else std::snprintf(b, sizeof b, "%.*f ± %.*f", precision, mean_of(v), precision, sample_sd(v));
  return b;
}

double seconds_left(const AblateConfig& a) {
  if (a.time_limit_minutes <= 0) return 1e300;
  return a.time_limit_minutes * 60 -
         std::chrono::duration<double>(std::chrono::steady_clock::now() - kInvocationStart).count();
}

std::string last_line(const std::string& path) {
  std::ifstream in(path);
  std::string line, last;
  while (std::getline(in, line))
    if (!line.empty()) last = line;
  return last;
}

// One planned run: where it lives and how `mmengine train` is configured for it.
struct Planned {
  AblateRun run;
  TrainConfig cfg;
};

Planned plan_run(const AblateConfig& a, const std::string& recipe, int64_t labels, const std::string& mode,
                 const std::string& ema, int seed) {
  TrainConfig c;
  apply_preset(a.preset, c);
  apply_recipe(recipe, c);
  if (!a.dataset.empty()) c.dataset = a.dataset;
  if (!a.data_dir.empty()) c.data_dir = a.data_dir;
  if (labels > 0) c.labels = labels;
  if (a.max_eval_images >= 0) c.max_eval_images = a.max_eval_images;
  if (a.depth > 0) c.depth = a.depth;
  if (a.widen > 0) c.widen = a.widen;
  if (a.log_every > 0) c.log_every = a.log_every;
  if (a.ema_decay > 0) c.ema_decay = a.ema_decay;
  if (a.bn_momentum > 0) c.bn_momentum = a.bn_momentum;
  const int64_t steps = a.steps > 0 ? a.steps : c.total_steps();
  const int64_t every = a.eval_every_steps > 0 ? a.eval_every_steps : std::max<int64_t>(1, steps / 4);
  MM_CHECK(steps % every == 0, "--steps ", steps, " must be a multiple of --eval-every-steps ", every);
  c.steps_per_epoch = every;
  c.epochs = steps / every;
  c.eval_every = c.checkpoint_every = 1;
  // mode = <bn mode>[+<bn sync>][@<precision>]
  const size_t at = mode.find('@');
  c.precision = at == std::string::npos ? Precision::Fp32 : enum_parse(kPrecisions, "--precisions", mode.substr(at + 1));
  const std::string cell = mode.substr(0, at);
  const size_t plus = cell.find('+');
  const std::string base = cell.substr(0, plus);
  c.bn_sync = plus == std::string::npos ? BnSync::Global : parse_bn_sync(cell.substr(plus + 1));
  c.world_size = a.ranks;
  c.bn_mode = parse_bn_mode(base == "single-sqrt" ? "single" : base);
  c.lr_scale_sqrt = base == "single-sqrt";
  c.ema = ema == "on";
  c.seed = static_cast<uint64_t>(seed);
  c.device = a.device;
  c.stop_after = a.stop_after;
  Planned p;
  p.run.recipe = recipe, p.run.mode = mode, p.run.ema = ema, p.run.labels = c.labels, p.run.seed = c.seed;
  p.run.dir = recipe + "/L" + std::to_string(c.labels) + "/" + mode + "-ema-" + ema + "-seed" + std::to_string(seed);
  c.out_dir = a.out_dir + "/" + p.run.dir;
  validate(c);
  p.cfg = c;
  return p;
}

// `mmengine train` arguments that reproduce cfg (every value explicit, so the child resolves
// exactly what this process planned).
std::vector<std::string> train_arguments(const AblateConfig& a, const TrainConfig& c) {
  auto num = [](double v) { return fmt("%.17g", v); };
  std::vector<std::string> args{"train", "--preset", a.preset, "--recipe", c.recipe, "--dataset", c.dataset,
                                "--labels", std::to_string(c.labels), "--max-eval-images", std::to_string(c.max_eval_images),
                                "--depth", std::to_string(c.depth), "--widen", std::to_string(c.widen),
                                "--epochs", std::to_string(c.epochs), "--steps-per-epoch", std::to_string(c.steps_per_epoch),
                                "--eval-every", "1", "--checkpoint-every", "1", "--bn-mode", bn_mode_name(c.bn_mode),
                                "--lr-scale", c.lr_scale_sqrt ? "sqrt" : "none", "--ema", c.ema ? "on" : "off",
                                "--seed", std::to_string(c.seed), "--device", c.device, "--out", c.out_dir,
                                "--log-every", std::to_string(c.log_every), "--ema-decay", num(c.ema_decay),
                                "--bn-momentum", num(c.bn_momentum), "--bn-sync", bn_sync_name(c.bn_sync),
                                "--precision", enum_name(kPrecisions, c.precision)};
  if (!c.data_dir.empty()) args.insert(args.end(), {"--data", c.data_dir});
  if (c.stop_after > 0) args.insert(args.end(), {"--stop-after", std::to_string(c.stop_after)});
  return args;
}

// Fills a run's status and numbers from its folder.
void collect(AblateRun& run, const std::string& dir) {
  if (run_complete(dir)) {
    run.status = RunStatus::Complete;
    std::ifstream sj(dir + "/summary.json");
    nlohmann::json s = nlohmann::json::parse(sj);
    run.final_teacher = s["final_teacher_test"];
    run.final_student = s["final_student_test"];
    run.seconds = s["seconds"];
    run.steps_done = s.value("steps_done", int64_t{0});
    run.teacher_at_best = test_at_best_validation(dir + "/metrics.csv", "teacher");
    run.student_at_best = test_at_best_validation(dir + "/metrics.csv", "student");
    return;
  }
  if (run.status == RunStatus::Failed) return;
  if (fs::exists(last_checkpoint_path(dir))) {
    run.status = RunStatus::Interrupted;
    std::ifstream sj(dir + "/summary.json");
    auto s = nlohmann::json::parse(sj, nullptr, false);
    if (s.is_object()) run.steps_done = s.value("steps_done", int64_t{0});
    if (run.message.empty()) run.message = "interrupted: resume with the same command";
  }
}

// The runs of `pending` in this process: one after another on this thread (concurrent 0), or
// `concurrent` at once, each on a worker thread holding CUDA stream slot k (WorkerStreamScope) and
// writing its train.log itself (streams). prepare(p) (under the lock: it prints and reads
// `longest`) says whether p may start. One InterruptScope over all of them (mixmatch/interrupt.h):
// a Ctrl-C stops the running runs at their next step, checkpointed, and no further run starts.
template <typename Prepare>
void execute_here(const AblateConfig& a, std::vector<Planned>& plan, const std::vector<size_t>& pending,
                  Prepare& prepare, double& longest) {
  if (pending.empty()) return;  // a complete grid, --report-only, or no seed the rule asks for
  const bool threads = a.concurrent > 0;
  const int workers = threads ? static_cast<int>(std::min<size_t>(a.concurrent, pending.size())) : 1;
  const int cpu_threads = cpu_share(workers);
  const InterruptScope interrupts;
  std::mutex mu;  // guards next, prepare, longest, the plan's statuses and stdout
  size_t next = 0;
  std::exception_ptr worker_error;  // a failure outside any run (a stream that cannot be made)
  auto train_one = [&](Planned& p) {
    // In this process the trainer measures --time-limit from process start: the whole limit.
    if (a.time_limit_minutes > 0) p.cfg.time_limit_minutes = a.time_limit_minutes;
    const auto t0 = std::chrono::steady_clock::now();
    std::string error;
    bool complete = false;
    try {
      complete = (threads ? train_mixmatch_logged(p.cfg, p.cfg.out_dir + "/train.log") : train_mixmatch(p.cfg)).complete;
    } catch (const std::exception& e) {
      error = e.what();
    } catch (...) {
      error = "an unknown exception";
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::lock_guard<std::mutex> lock(mu);
    if (!error.empty()) {
      p.run.status = RunStatus::Failed;
      p.run.message = error;
      std::printf("== ablate: %s FAILED: %s ==\n", p.run.dir.c_str(), error.c_str());
    } else {
      if (complete) longest = std::max(longest, seconds);
      if (threads)
        std::printf("== ablate: %s %s after %.0f s ==\n", p.run.dir.c_str(), complete ? "complete" : "stopped (resumable)",
                    seconds);
    }
    std::fflush(stdout);
  };
  auto work = [&](int slot) {
    try {
      std::optional<WorkerStreamScope> stream;
      if (threads) {
        stream.emplace(resolve_device(a.device), slot);
        if (!std::getenv("OMP_NUM_THREADS")) set_cpu_threads(cpu_threads);
      }
      for (;;) {
        Planned* p = nullptr;
        {
          std::lock_guard<std::mutex> lock(mu);
          while (!p && next < pending.size() && !interrupts.signal()) {
            Planned& q = plan[pending[next++]];
            if (prepare(q)) p = &q;
          }
        }
        if (!p) return;
        train_one(*p);
      }
    } catch (...) {
      std::lock_guard<std::mutex> lock(mu);
      if (!worker_error) worker_error = std::current_exception();
    }
  };
  if (!threads) {
    work(0);
  } else {
    std::vector<std::thread> pool;
    try {
      for (int k = 0; k < workers; ++k) pool.emplace_back(work, k);
    } catch (...) {  // a thread that could not be started: the started ones finish their runs first
      std::lock_guard<std::mutex> lock(mu);
      if (!worker_error) worker_error = std::current_exception();
    }
    for (auto& t : pool) t.join();
  }
  if (worker_error) std::rethrow_exception(worker_error);
}

// Trains every planned run that is not complete; records failures.
void execute(const AblateConfig& a, std::vector<Planned>& plan) {
  std::vector<size_t> pending;
  for (size_t i = 0; i < plan.size(); ++i) {
    auto& p = plan[i];
    const std::string dir = p.cfg.out_dir;
    if (run_complete(dir)) {
      p.run.reused = true;
      std::printf("== ablate: %s: complete, reused ==\n", p.run.dir.c_str());
    } else if (!a.report_only) {
      pending.push_back(i);
    }
  }
  // A run is not started when it would not finish: the time left must cover the longest run
  // this invocation has completed (an interrupted WRN-28-2 run does not fit in a bundle).
  double longest = 0;
  auto prepare = [&](Planned& p) {
    p.cfg.resume = fs::exists(last_checkpoint_path(p.cfg.out_dir));
    const double left = seconds_left(a);
    if (left < std::max(kMinSecondsToStart, longest)) {
      p.run.message = "not started: " + fmt("%.0f", left) + " s left of --time-limit, the longest finished run took " +
                      fmt("%.0f", longest) + " s";
      return false;
    }
    if (a.time_limit_minutes > 0) p.cfg.time_limit_minutes = left / 60;
    std::printf("== ablate: %s%s ==\n", p.run.dir.c_str(), p.cfg.resume ? " (resuming)" : "");
    std::fflush(stdout);
    return true;
  };
  if (a.concurrent <= 0 || a.concurrent_mode == ConcurrentMode::Streams) {
    execute_here(a, plan, pending, prepare, longest);
    return;
  }
  MM_CHECK(!a.train_exe.empty(), "--concurrent: the mmengine executable for the child processes is unknown");
  // ranks > 1: each run is `mpirun -np ranks mmengine train ...`.
  std::vector<std::string> launcher;
  {
    const char* env = std::getenv("MMENGINE_MPIRUN");
    std::istringstream words(env && *env ? env : "mpirun");
    for (std::string w; words >> w;) launcher.push_back(w);
    // The child is started without a shell: find a bare launcher name on PATH.
    if (launcher[0].find('/') == std::string::npos) {
      std::istringstream path(std::getenv("PATH") ? std::getenv("PATH") : "");
      for (std::string dir; std::getline(path, dir, ':');)
        if (!dir.empty() && access((dir + "/" + launcher[0]).c_str(), X_OK) == 0) {
          launcher[0] = dir + "/" + launcher[0];
          break;
        }
    }
    launcher.insert(launcher.end(), {"-np", std::to_string(a.ranks)});
  }
  std::vector<ProcessJob> jobs(pending.size());
  const std::string threads = std::to_string(cpu_share(static_cast<int>(a.concurrent)));
  for (size_t j = 0; j < pending.size(); ++j) {
    const std::string dir = plan[pending[j]].cfg.out_dir;
    fs::create_directories(dir);
    jobs[j].log = dir + "/train.log";
    if (!std::getenv("OMP_NUM_THREADS")) jobs[j].env.push_back("OMP_NUM_THREADS=" + threads);
  }
  run_processes(
      jobs, a.concurrent,
      [&](size_t j, ProcessJob& job) {
        auto& p = plan[pending[j]];
        if (!prepare(p)) return false;
        job.argv = train_arguments(a, p.cfg);
        job.argv.insert(job.argv.begin(), a.train_exe);
        if (a.ranks > 1) job.argv.insert(job.argv.begin(), launcher.begin(), launcher.end());
        if (p.cfg.resume) job.argv.push_back("--resume");
        if (p.cfg.time_limit_minutes > 0) job.argv.insert(job.argv.end(), {"--time-limit", fmt("%.6f", p.cfg.time_limit_minutes)});
        return true;
      },
      [&](size_t j, const ProcessOutcome& o) {
        auto& p = plan[pending[j]];
        if (!o.started && o.error.empty()) return;  // declined: not started
        if (o.ok() && run_complete(p.cfg.out_dir)) longest = std::max(longest, o.seconds);
        if (!o.ok()) {
          p.run.status = RunStatus::Failed;
          p.run.message = !o.error.empty() ? o.error
                          : o.signal ? "killed by signal " + std::to_string(o.signal)
                                     : "exit " + std::to_string(o.exit_code) + ": " + last_line(jobs[j].log);
        }
        std::printf("== ablate: %s %s after %.0f s%s%s ==\n", p.run.dir.c_str(),
                    !o.ok() ? "FAILED" : run_complete(p.cfg.out_dir) ? "complete" : "stopped (resumable)", o.seconds,
                    o.ok() ? "" : ": ", o.ok() ? "" : p.run.message.c_str());
        std::fflush(stdout);
      });
}

const char* const kCsvHeader =
    "recipe,labels,bn_mode,ema,seed,status,steps_done,selected_test_at_best_val,teacher_test_at_best_val,"
    "student_test_at_best_val,final_teacher_test,final_student_test,seconds,dir";

std::string table(const std::vector<AblateRun>& runs) {
  std::ostringstream md;
  md << "| recipe | labels | BN mode | EMA | seeds | selected test @ best val (%) | Δ vs interleave / EMA on [95 % "
        "Welch CI] | teacher @ best val (%) | student @ best val (%) | final teacher (%) | final student (%) | wall "
        "time (s) |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n";
  std::map<std::string, std::vector<const AblateRun*>> cells;
  std::vector<std::string> order;
  auto key = [](const AblateRun& r, const std::string& mode, const std::string& ema) {
    return r.recipe + "|" + std::to_string(r.labels) + "|" + mode + "|" + ema;
  };
  for (auto& r : runs) {
    const std::string k = key(r, r.mode, r.ema);
    if (!cells.count(k)) order.push_back(k);
    if (r.status == RunStatus::Complete) cells[k].push_back(&r);
    else cells[k];
  }
  auto selected = [](const std::vector<const AblateRun*>& rs) {
    std::vector<double> v;
    for (auto* r : rs) v.push_back(r->selected_at_best());
    return v;
  };
  std::map<std::string, size_t> planned;
  for (auto& r : runs) ++planned[key(r, r.mode, r.ema)];
  for (auto& k : order) {
    auto& rs = cells[k];
    const AblateRun* any = nullptr;
    for (auto& r : runs)
      if (key(r, r.mode, r.ema) == k) any = &r;
    std::vector<double> tb, sb, ft, fs, sec;
    for (auto* r : rs) {
      tb.push_back(r->teacher_at_best), sb.push_back(r->student_at_best), ft.push_back(r->final_teacher);
      fs.push_back(r->final_student), sec.push_back(r->seconds);
    }
    std::string delta;
    const std::string ref_key = key(*any, "interleave", "on");
    if (k == ref_key) {
      delta = "(reference)";
    } else if (!cells.count(ref_key)) {
      delta = "— (no reference cell)";
    } else {
      const WelchInterval w = welch_interval(selected(rs), selected(cells[ref_key]));
      if (w.valid)
        delta = fmt("%+.2f [%+.2f, %+.2f], df %.1f", w.difference, w.low, w.high, w.df);
      else if (!rs.empty() && !cells[ref_key].empty())
        delta = fmt("%+.2f (no interval: needs 2+ seeds and spread in both)", mean_of(selected(rs)) - mean_of(selected(cells[ref_key])));
      else
        delta = "—";
    }
    md << "| " << any->recipe << " | " << any->labels << " | " << any->mode << " | " << any->ema << " | " << rs.size();
    if (rs.size() != planned[k]) md << " of " << planned[k];
    md << " | " << mean_std(selected(rs)) << " | " << delta << " | " << mean_std(tb) << " | " << mean_std(sb) << " | "
       << mean_std(ft) << " | " << mean_std(fs) << " | " << mean_std(sec, 0) << " |\n";
  }
  return md.str();
}
}  // namespace

const char* run_status_name(RunStatus s) {
  switch (s) {
    case RunStatus::Complete: return "complete";
    case RunStatus::Interrupted: return "interrupted";
    case RunStatus::Failed: return "failed";
    case RunStatus::NotStarted: return "not-started";
  }
  return "?";
}

bool needs_more_seeds(const std::vector<double>& cell, const std::vector<double>& reference) {
  if (cell.size() < 2 || reference.size() < 2) return false;
  return std::fabs(mean_of(cell) - mean_of(reference)) < 2 * pooled_sd(cell, reference);
}

double test_at_best_validation(const std::string& path, const std::string& who) {
  std::ifstream in(path);
  MM_CHECK(in.good(), path, ": cannot open");
  std::string line;
  std::getline(in, line);
  auto header = split_csv_line(line);
  auto col = [&](const std::string& name) {
    for (size_t i = 0; i < header.size(); ++i)
      if (header[i] == name) return static_cast<int>(i);
    MM_FAIL(path, ": no column ", name);
  };
  const int val = col("val_acc_" + who), test = col("test_acc_" + who);
  double best_val = -1, at_best = -1;
  while (std::getline(in, line)) {
    auto f = split_csv_line(line);
    if (static_cast<int>(f.size()) <= std::max(val, test) || f[val].empty()) continue;
    const double v = std::atof(f[val].c_str());
    if (v > best_val) best_val = v, at_best = std::atof(f[test].c_str());
  }
  return at_best;
}

AblateResult run_ablation(const AblateConfig& a) {
  MM_CHECK(a.seeds >= 1, "--seeds: must be >= 1, got ", a.seeds);
  MM_CHECK(a.steps >= 0 && a.eval_every_steps >= 0, "--steps and --eval-every-steps: must be positive");
  MM_CHECK(a.max_seeds == 0 || a.max_seeds >= a.seeds, "--max-seeds: must be >= --seeds (", a.seeds, "), got ", a.max_seeds);
  MM_CHECK(a.concurrent >= 0, "--concurrent: must be >= 0, got ", a.concurrent);
  MM_CHECK(a.ranks >= 1, "--ranks: must be >= 1, got ", a.ranks);
  MM_CHECK(a.ranks == 1 || a.concurrent >= 1, "--ranks ", a.ranks,
           ": each run is an mpirun of the ranks, so it needs --concurrent 1 or more");
  MM_CHECK(a.ranks == 1 || a.concurrent_mode == ConcurrentMode::Processes, "--ranks ", a.ranks,
           ": each run is an mpirun of the ranks, so it needs --concurrent-mode processes");
  // Under mpirun every thread's run would take the process's one communicator (engine/dist.h).
  MM_CHECK(a.concurrent == 0 || a.concurrent_mode == ConcurrentMode::Processes || !launched_by_mpi(),
           "--concurrent-mode streams: not under an MPI launcher (the runs' threads would share its communicator); "
           "use --ranks with --concurrent-mode processes");
  const auto recipes = split_list(a.recipes, "--recipes"), base_modes = split_list(a.modes, "--modes"),
             emas = split_list(a.emas, "--ema"), syncs = split_list(a.bn_syncs, "--bn-syncs"),
             precisions = split_list(a.precisions, "--precisions");
  for (auto& m : base_modes)
    MM_CHECK(m == "interleave" || m == "separate" || m == "single" || m == "single-sqrt", "--modes: unknown cell '", m,
             "', expected interleave, separate, single or single-sqrt");
  // The BN mode x BN sync x precision cells: "<mode>" (global, fp32), "<mode>+local", "<mode>@bf16", ...
  std::vector<std::string> modes;
  for (auto& m : base_modes)
    for (auto& s : syncs)
      for (auto& p : precisions) {
        const Precision pr = enum_parse(kPrecisions, "--precisions", p);
        modes.push_back((parse_bn_sync(s) == BnSync::Global ? m : m + "+local") +
                        (pr == Precision::Fp32 ? "" : "@" + std::string(enum_name(kPrecisions, pr))));
      }
  for (auto& e : emas) MM_CHECK(e == "on" || e == "off", "--ema: expected on and/or off, got '", e, "'");
  std::vector<int64_t> labels;  // 0: the preset's
  if (a.labels.empty()) labels.push_back(0);
  else
    for (auto& l : split_list(a.labels, "--labels")) {
      char* end = nullptr;
      const long long v = std::strtoll(l.c_str(), &end, 10);
      MM_CHECK(*end == 0 && v > 0, "--labels: expected comma-separated positive label counts, got '", l, "'");
      labels.push_back(v);
    }
  fs::create_directories(a.out_dir);
  for (auto& b : a.from_bundles) {
    MergeReport m = merge_bundle(b, a.out_dir);
    std::printf("== ablate: merged %s: %s ==\n", b.c_str(), m.summary().c_str());
  }

  auto plan_seeds = [&](const std::string& recipe, int64_t l, const std::string& mode, const std::string& ema, int from,
                        int to, std::vector<Planned>& into) {
    for (int seed = from; seed < to; ++seed) into.push_back(plan_run(a, recipe, l, mode, ema, seed));
  };
  std::vector<Planned> plan;
  for (auto& recipe : recipes)
    for (int64_t l : labels)
      for (auto& mode : modes)
        for (auto& ema : emas) plan_seeds(recipe, l, mode, ema, 0, a.seeds, plan);
  // Runs trained in this process share one interrupt scope for the whole invocation (the seed
  // rule's later runs included): after a Ctrl-C nothing more starts. Child processes get the
  // terminal's signal themselves; this process then keeps the default handling.
  std::optional<InterruptScope> interrupts;
  if (a.concurrent <= 0 || a.concurrent_mode == ConcurrentMode::Streams) interrupts.emplace();
  execute(a, plan);
  for (auto& p : plan) collect(p.run, p.cfg.out_dir);

  // The seed-extension rule, per recipe and labels, against the interleave / EMA-on cell.
  const bool has_reference = std::find(modes.begin(), modes.end(), "interleave") != modes.end() &&
                             std::find(emas.begin(), emas.end(), "on") != emas.end();
  if (a.max_seeds > a.seeds && !has_reference)
    std::printf("== ablate: --max-seeds: no interleave / EMA-on cell in the grid to compare with: no seeds added ==\n");
  if (a.max_seeds > a.seeds && has_reference) {
    std::vector<Planned> extra;
    std::map<std::string, std::vector<double>> done;  // cell -> selected accuracies of complete base seeds
    std::map<std::string, bool> extend;
    auto cell = [](const AblateRun& r) { return r.recipe + "/L" + std::to_string(r.labels) + "/" + r.mode + "-ema-" + r.ema; };
    for (auto& p : plan)
      if (p.run.status == RunStatus::Complete) done[cell(p.run)].push_back(p.run.selected_at_best());
    for (auto& recipe : recipes)
      for (int64_t l : labels) {
        AblateRun ref;
        ref.recipe = recipe, ref.labels = plan_run(a, recipe, l, "interleave", "on", 0).run.labels;
        ref.mode = "interleave", ref.ema = "on";
        const auto& rv = done[cell(ref)];
        for (auto& mode : modes)
          for (auto& ema : emas) {
            AblateRun r = ref;
            r.mode = mode, r.ema = ema;
            if (cell(r) == cell(ref)) continue;
            const auto& cv = done[cell(r)];
            if (static_cast<int>(cv.size()) < a.seeds || static_cast<int>(rv.size()) < a.seeds) {
              std::printf("== ablate: seeds %d-%d of %s: undecided until its first %d seeds and the reference's are complete ==\n",
                          a.seeds, a.max_seeds - 1, cell(r).c_str(), a.seeds);
            } else if (needs_more_seeds(cv, rv)) {
              extend[cell(r)] = extend[cell(ref)] = true;
            }
          }
        for (auto& mode : modes)
          for (auto& ema : emas) {
            AblateRun r = ref;
            r.mode = mode, r.ema = ema;
            if (extend[cell(r)]) {
              std::printf("== ablate: %s gets seeds %d-%d (a difference under two pooled standard deviations) ==\n",
                          cell(r).c_str(), a.seeds, a.max_seeds - 1);
              plan_seeds(recipe, l, mode, ema, a.seeds, a.max_seeds, extra);
            }
          }
      }
    execute(a, extra);
    for (auto& p : extra) collect(p.run, p.cfg.out_dir);
    plan.insert(plan.end(), extra.begin(), extra.end());
  }

  AblateResult result;
  result.signal = interrupts ? interrupts->signal() : 0;
  std::ostringstream csv;
  csv << kCsvHeader << "\n";
  int reused = 0, complete = 0, not_started = 0;
  for (auto& p : plan) {
    auto& r = p.run;
    result.runs.push_back(r);
    csv << r.recipe << "," << r.labels << "," << r.mode << "," << r.ema << "," << r.seed << "," << run_status_name(r.status)
        << "," << r.steps_done << "," << r.selected_at_best() << "," << r.teacher_at_best << "," << r.student_at_best << ","
        << r.final_teacher << "," << r.final_student << "," << r.seconds << "," << r.dir << "\n";
    complete += r.status == RunStatus::Complete;
    reused += r.reused;
    result.failed += r.status == RunStatus::Failed;
    result.incomplete += r.status == RunStatus::Interrupted;
    not_started += r.status == RunStatus::NotStarted;
  }
  write_file_atomically(a.out_dir + "/ablate.csv", csv.str());
  std::ostringstream md;
  md << table(result.runs) << "\n"
     << plan.size() << " runs: " << complete << " complete (" << reused << " of them before this invocation), "
     << result.incomplete << " interrupted (resumable), " << not_started << " not started, " << result.failed
     << " failed\n";
  for (auto& r : result.runs)
    if (r.status == RunStatus::Failed) md << "- FAILED " << r.dir << ": " << r.message << "\n";
  for (auto& r : result.runs)
    if (r.status == RunStatus::NotStarted && !r.message.empty()) {
      md << "- " << not_started << " not started; the first, " << r.dir << ", " << r.message << "\n";
      break;
    }
  result.markdown = md.str();
  write_file_atomically(a.out_dir + "/ablate.md", result.markdown);

  if (!a.bundle_dir.empty()) {
    std::vector<std::string> dirs, best = a.bundle_best;
    for (auto& r : result.runs) dirs.push_back(r.dir);
    if (best.empty()) {  // default: seed 0 of the first two BN modes with EMA on (bn-probe's input)
      std::vector<std::string> modes_taken;
      for (auto& r : result.runs)
        if (best.size() < 2 && r.seed == 0 && r.ema == "on" && r.status == RunStatus::Complete &&
            std::find(modes_taken.begin(), modes_taken.end(), r.mode) == modes_taken.end())
          best.push_back(r.dir), modes_taken.push_back(r.mode);
    }
    BundleReport b = write_bundle(a.out_dir, dirs, best, a.bundle_dir, a.bundle_limits);
    std::printf("== ablate: bundle %s: %zu files, %.1f MiB:", a.bundle_dir.c_str(), b.files.size(), b.total_bytes / 1048576.0);
    for (auto& f : b.files) std::printf(" %s", f.c_str());
    std::printf(" ==\n");
    for (auto& n : b.notes) std::printf("   %s\n", n.c_str());
  }
  return result;
}

}  // namespace mmengine
