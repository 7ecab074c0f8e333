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
};

TrainSummary train_mixmatch(const TrainConfig& cfg);

// Files of a run folder.
std::string last_checkpoint_path(const std::string& out_dir);
std::string best_checkpoint_path(const std::string& out_dir);
// True when out_dir's summary.json marks every step of the run as done (a run stopped by
// --time-limit has a summary.json with "complete": false).
bool run_complete(const std::string& out_dir);

}  // namespace mmengine
