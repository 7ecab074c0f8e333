// Progress output: on a terminal a one-line bar redrawn in place (epoch, step, losses,
// accuracy, it/s, ETA); in a pipe or CI plain log lines every `every` steps.
#pragma once
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

namespace mmengine {

// Where this host thread's training output goes: stdout, unless a LogOutputScope on the thread
// names a file (a run trained on a thread of `mmengine ablate --concurrent-mode streams` writes
// its train.log there, as a child process's stdout would be).
std::FILE* log_output();
class LogOutputScope {
 public:
  explicit LogOutputScope(std::FILE* out);
  ~LogOutputScope();
  LogOutputScope(const LogOutputScope&) = delete;
  LogOutputScope& operator=(const LogOutputScope&) = delete;

 private:
  std::FILE* saved_;
};

class Progress {
 public:
  Progress(int64_t total_steps, int64_t steps_per_epoch, int64_t first_step, int64_t every);
  // last_acc: the latest test accuracy of the selected model, NaN (not shown) before the first evaluation.
  void update(int64_t step, double loss, double lx, double lu, double last_acc);
  void message(const std::string& line);  // a full line that does not disturb the bar
  double steps_per_second() const;

 private:
  int64_t total_, per_epoch_, first_, every_;
  std::FILE* out_;  // log_output() at construction
  bool tty_;
  std::chrono::steady_clock::time_point start_;
  int64_t last_step_ = 0;
};

}  // namespace mmengine
