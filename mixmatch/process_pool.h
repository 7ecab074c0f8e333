// Child processes for the study: runs jobs (an executable and its arguments, stdout and stderr
// appended to a log file) with at most `parallel` alive at once, and waits for each by its own
// process id (never for "any child"). posix_spawn, so it is safe in a process with threads.
#pragma once
#include <functional>
#include <string>
#include <vector>

namespace mmengine {

struct ProcessJob {
  std::vector<std::string> argv;  // argv[0] is the executable's path
  std::string log;                // stdout and stderr are appended here
  std::vector<std::string> env;   // extra KEY=VALUE entries (override the inherited ones)
};

struct ProcessOutcome {
  bool started = false;  // false: before_launch declined it, or the spawn failed (see error)
  int exit_code = -1;    // the exit status; -1 when it did not exit normally
  int signal = 0;        // the terminating signal, if any
  double seconds = 0;
  std::string error;
  bool ok() const { return started && exit_code == 0; }
};

// Runs jobs[i] in order, at most `parallel` at a time. before_launch(i, job), if given, runs
// just before job i starts and may edit it or return false to leave it unstarted; after(i,
// outcome) runs as each one ends. Returns the outcomes in job order.
std::vector<ProcessOutcome> run_processes(std::vector<ProcessJob> jobs, int parallel,
                                          const std::function<bool(size_t, ProcessJob&)>& before_launch = {},
                                          const std::function<void(size_t, const ProcessOutcome&)>& after = {});

// The running executable's absolute path (/proc/self/exe).
std::string self_executable();

}  // namespace mmengine
