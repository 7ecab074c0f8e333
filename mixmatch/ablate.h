// `mmengine ablate`: the BN mode {interleave, separate, single, single + sqrt LR} x BN sync
// {global, local} (data parallel) x precision {fp32, tf32, bf16} x EMA {on, off} x recipe x
// labels grid, seeds per cell, with equal budgets: every run gets the same steps,
// evaluation points, data, split and initialisation seed. Each run has its own folder
// (<out>/<recipe>/L<labels>/<mode>-ema-<on|off>-seed<k>); a complete run (summary.json with
// "complete": true) is reused, an interrupted one resumed. Runs execute in this process one
// after another (concurrent = 0), or N at once (concurrent = N): as `mmengine train` child
// processes (concurrent_mode processes), or as threads of this process, each on a CUDA stream of
// its own with its train.log written by the thread (streams); `mmengine bench --concurrent-sweep`
// measures which gives more aggregate steps per second. In this process (sequential or streams)
// one Ctrl-C stops the running runs at their next step, checkpointed, and starts no other.
// --time-limit guards the whole invocation: a run is stopped (checkpointed) when time runs
// out, and not started when the time left is shorter than the longest run this invocation
// has completed; the next invocation resumes or starts it. A failed run is reported (and
// makes the invocation fail), never dropped.
// Seeds: `seeds` per cell; with max_seeds > seeds, a cell whose difference to the reference
// cell (interleave, EMA on, same recipe and labels) is under two pooled standard deviations
// gets seeds up to max_seeds, and so does the reference (needs_more_seeds).
// Reported per cell: the selected model's test accuracy at its best validation point (the
// teacher with EMA on, the student with EMA off), the teacher's and the student's, the final
// accuracies and the wall time, as mean ± std over complete seeds; the difference of the
// selected accuracy to the reference cell with a 95 % Welch t-interval. ablate.csv lists
// every run, ablate.md holds the table.
#pragma once
#include <string>
#include <vector>

#include "engine/enum_table.h"
#include "mixmatch/bundle.h"

namespace mmengine {

// How `--concurrent N` runs N trainings at once.
enum class ConcurrentMode { Processes, Streams };
inline constexpr EnumEntry<ConcurrentMode> kConcurrentModes[] = {
    {ConcurrentMode::Processes, "processes", "each run an `mmengine train` child process with its own CUDA context"},
    {ConcurrentMode::Streams, "streams",
     "each run a thread of this process issuing on a CUDA stream of its own (one CUDA context; on the CPU a "
     "thread with cores / N OpenMP threads)"}};

struct AblateConfig {
  std::string preset = "synthetic", dataset, data_dir, device = "auto", out_dir = "runs/ablate";
  std::string recipes = "port", modes = "interleave,separate,single,single-sqrt", emas = "on,off";
  // BN statistics across ranks: "global" cells keep the mode's name, "local" ones are named
  // "<mode>+local"; ranks > 1: every run is `mpirun -np ranks` of the child (needs concurrent
  // >= 1; the launcher is $MMENGINE_MPIRUN, default "mpirun").
  std::string bn_syncs = "global";
  // Arithmetic precision (engine/precision.h): fp32 cells keep the mode's name, the others are
  // named "<mode>@<precision>", so each is compared with the fp32 interleave / EMA-on cell
  // (issue 13's accuracy rule for tf32 and bf16: within 0.5 points of fp32 over 2 seeds).
  std::string precisions = "fp32";
  int ranks = 1;
  std::string labels;  // comma-separated label counts; empty: the preset's
  int64_t steps = 0, eval_every_steps = 0, max_eval_images = -1, depth = 0, widen = 0, log_every = 0;  // 0 / -1: the preset's
  int64_t stop_after = 0;  // > 0: every run stops (checkpointed, resumable) after this many steps of this invocation
  double ema_decay = 0, bn_momentum = 0;  // 0: the preset's / recipe's
  int seeds = 1, max_seeds = 0;           // max_seeds > seeds: the seed-extension rule
  int concurrent = 0;                     // 0: in this process, one after another; N >= 1: N at once
  ConcurrentMode concurrent_mode = ConcurrentMode::Processes;  // how N >= 1 runs at once; ranks > 1 needs processes
  std::string train_exe;                  // the mmengine executable for child processes
  double time_limit_minutes = 0;          // > 0: for this whole invocation, from process start
  bool report_only = false;               // train nothing: collect what the folder holds
  std::vector<std::string> from_bundles;  // merged into out_dir first
  std::string bundle_dir;                 // non-empty: write a results bundle there at the end
  std::vector<std::string> bundle_best;   // runs (folders relative to out_dir) whose best model goes into it
  BundleLimits bundle_limits;
};

enum class RunStatus { Complete, Interrupted, Failed, NotStarted };
const char* run_status_name(RunStatus s);

struct AblateRun {
  std::string recipe, mode, ema, dir;  // dir: relative to out_dir
  int64_t labels = 0;
  uint64_t seed = 0;
  RunStatus status = RunStatus::NotStarted;
  bool reused = false;    // complete before this invocation
  std::string message;    // why a run failed or is not complete
  int64_t steps_done = 0;
  double teacher_at_best = -1, student_at_best = -1, final_teacher = -1, final_student = -1, seconds = 0;
  double selected_at_best() const { return ema == "on" ? teacher_at_best : student_at_best; }
};

struct AblateResult {
  std::vector<AblateRun> runs;
  std::string markdown;
  int failed = 0, incomplete = 0;
  int signal = 0;  // SIGINT / SIGTERM stopped this invocation's in-process runs (checkpointed), or 0
};

AblateResult run_ablation(const AblateConfig& cfg);

// The seed-extension rule: true when |mean(cell) - mean(reference)| < 2 pooled standard
// deviations (both need >= 2 values).
bool needs_more_seeds(const std::vector<double>& cell, const std::vector<double>& reference);

// From a run's metrics.csv: the test accuracy of `who` (teacher or student) at the evaluation
// with its best validation accuracy (the first such, on ties).
double test_at_best_validation(const std::string& metrics_csv, const std::string& who);

}  // namespace mmengine
