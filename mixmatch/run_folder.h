// A training run folder and who may write it. Contract: while a RunLock on a folder is held (by
// this or any other process on a local file system), every other RunLock on it fails with an
// error naming the holder (pid, host, start time), so two trainings never mix their files.
// The lock is an flock on DIR/run.lock; the kernel drops it when the holder exits or is killed,
// so a crashed run never leaves a stale lock behind (the file itself stays, harmlessly).
#pragma once
#include <string>

namespace mmengine {

class RunLock {
 public:
  // Creates `dir` (and its parents) if needed, then locks it or throws.
  explicit RunLock(const std::string& dir);
  ~RunLock();
  RunLock(const RunLock&) = delete;
  RunLock& operator=(const RunLock&) = delete;

 private:
  int fd_ = -1;
};

std::string run_lock_path(const std::string& dir);
bool path_exists(const std::string& path);
// mkdir -p; the error names `flag` (e.g. "--out") and the part that could not be made.
void make_dirs(const std::string& dir, const char* flag);

}  // namespace mmengine
