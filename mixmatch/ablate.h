// `mmengine ablate`: the BN mode {interleave, separate, single, single + sqrt LR} x EMA {on, off}
// grid (x recipes x seeds) with equal budgets: every run gets the same steps, evaluation
// points, data, split and initialisation seed. Each run has its own folder; a complete run
// (summary.json) is skipped, an interrupted one resumed. Reports, per cell, the teacher's and
// the student's test accuracy at their best validation point, the final accuracies and the
// wall time, as a markdown table (mean +- std over seeds) and ablate.csv (every run).
#pragma once
#include <string>
#include <vector>

namespace mmengine {

struct AblateConfig {
  std::string preset = "synthetic", dataset, data_dir, device = "auto", out_dir = "runs/ablate";
  std::string recipes = "port", modes = "interleave,separate,single,single-sqrt", emas = "on,off";
  int64_t labels = 0, steps = 0, eval_every_steps = 0, max_eval_images = -1, depth = 0, widen = 0;  // 0 / -1: the preset's
  int seeds = 1;
};

struct AblateRun {
  std::string recipe, mode, ema, dir;
  uint64_t seed = 0;
  double teacher_at_best = -1, student_at_best = -1, final_teacher = -1, final_student = -1, seconds = 0;
  bool reused = false;  // complete before this invocation
};

struct AblateResult {
  std::vector<AblateRun> runs;
  std::string markdown;
};

AblateResult run_ablation(const AblateConfig& cfg);

// From a run's metrics.csv: the test accuracy of `who` (teacher or student) at the evaluation
// with its best validation accuracy (the first such, on ties).
double test_at_best_validation(const std::string& metrics_csv, const std::string& who);

}  // namespace mmengine
