// The MixMatch training run: data, split, student and EMA teacher, the step loop, periodic
// evaluation of both on validation and test, best-model selection by validation accuracy,
// atomic checkpoints with bit-identical --resume, metrics and progress.
#pragma once
#include <string>

#include "mixmatch/config.h"

namespace mmengine {

struct TrainSummary {
  int64_t steps = 0, best_step = -1;
  double best_val_acc = -1, best_test_acc = -1;  // of the selected model (teacher; student with --ema off)
  double final_teacher_test = -1, final_student_test = -1, final_teacher_val = -1, final_student_val = -1;
  double seconds = 0, images_per_second = 0;
  std::string device;
  bool complete = false;         // every step of the run is done (summary.json says "complete": true)
  bool stopped_on_time = false;  // --time-limit ended this invocation early
  bool already_complete = false; // --resume found a complete run and left it untouched
  int signal = 0;                // SIGINT / SIGTERM ended this invocation early (checkpointed)
};

// Trains (or with cfg.resume continues) the run in cfg.out_dir, holding its RunLock throughout.
// --resume: a complete run is left untouched (already_complete); the run's config.json must
// agree with cfg as an experiment (experiment_differs); a run whose last checkpoint is its final
// step but that has no summary yet gets its final evaluation and summary. A SIGINT / SIGTERM
// ends the run after the current step with a checkpoint (signal is set).
TrainSummary train_mixmatch(const TrainConfig& cfg);

// train_mixmatch on this thread with its output appended to log_path instead of stdout
// (LogOutputScope), an error written there too before it is rethrown, as a child process's log
// would end: a run of `ablate --concurrent-mode streams` or of the bench's streams sweep.
TrainSummary train_mixmatch_logged(const TrainConfig& cfg, const std::string& log_path);

// Files of a run folder.
std::string last_checkpoint_path(const std::string& out_dir);
std::string best_checkpoint_path(const std::string& out_dir);
// True when out_dir's summary.json marks every step of the run as done (a run stopped by
// --time-limit has a summary.json with "complete": false).
bool run_complete(const std::string& out_dir);

}  // namespace mmengine
