#include "mixmatch/process_pool.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <climits>
#include <cstring>
#include <map>
#include <thread>

#include "kernels/error.h"

extern char** environ;

namespace mmengine {

namespace {
struct Running {
  size_t index;
  pid_t pid;
  std::chrono::steady_clock::time_point t0;
};

// The inherited environment with `extra` (KEY=VALUE) replacing entries of the same key.
std::vector<std::string> merged_environment(const std::vector<std::string>& extra) {
  std::map<std::string, std::string> by_key;
  std::vector<std::string> order;
  auto put = [&](const std::string& kv) {
    const std::string key = kv.substr(0, kv.find('='));
    if (!by_key.count(key)) order.push_back(key);
    by_key[key] = kv;
  };
  for (char** e = environ; e && *e; ++e) put(*e);
  for (auto& kv : extra) put(kv);
  std::vector<std::string> out;
  for (auto& k : order) out.push_back(by_key[k]);
  return out;
}

ProcessOutcome spawn(const ProcessJob& job, pid_t& pid) {
  ProcessOutcome o;
  MM_CHECK(!job.argv.empty(), "process pool: a job without an executable");
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  if (!job.log.empty()) {
    posix_spawn_file_actions_addopen(&fa, 1, job.log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
  }
  std::vector<char*> argv, envp;
  for (auto& a : job.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const std::vector<std::string> env = merged_environment(job.env);
  for (auto& e : env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  const int rc = posix_spawn(&pid, job.argv[0].c_str(), &fa, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) {
    o.error = job.argv[0] + ": cannot start: " + std::strerror(rc);
    return o;
  }
  o.started = true;
  return o;
}
}  // namespace

std::vector<ProcessOutcome> run_processes(std::vector<ProcessJob> jobs, int parallel,
                                          const std::function<bool(size_t, ProcessJob&)>& before_launch,
                                          const std::function<void(size_t, const ProcessOutcome&)>& after) {
  MM_CHECK(parallel >= 1, "--concurrent: must be >= 1, got ", parallel);
  std::vector<ProcessOutcome> out(jobs.size());
  std::vector<Running> running;
  size_t next = 0;
  while (next < jobs.size() || !running.empty()) {
    while (next < jobs.size() && static_cast<int>(running.size()) < parallel) {
      const size_t i = next++;
      if (before_launch && !before_launch(i, jobs[i])) {
        if (after) after(i, out[i]);
        continue;
      }
      pid_t pid = 0;
      out[i] = spawn(jobs[i], pid);
      if (out[i].started) running.push_back({i, pid, std::chrono::steady_clock::now()});
      else if (after) after(i, out[i]);
    }
    bool reaped = false;
    for (size_t r = 0; r < running.size();) {
      int status = 0;
      const pid_t got = ::waitpid(running[r].pid, &status, WNOHANG);
      if (got == 0 || (got < 0 && errno == EINTR)) {
        ++r;
        continue;
      }
      ProcessOutcome& o = out[running[r].index];
      o.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - running[r].t0).count();
      if (got < 0) o.error = std::string("waitpid: ") + std::strerror(errno);
      else if (WIFEXITED(status)) o.exit_code = WEXITSTATUS(status);
      else if (WIFSIGNALED(status)) o.signal = WTERMSIG(status);
      if (after) after(running[r].index, o);
      running.erase(running.begin() + static_cast<long>(r));
      reaped = true;
    }
    if (!reaped && !running.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return out;
}

std::string self_executable() {
  char buf[PATH_MAX];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  MM_CHECK(n > 0, "/proc/self/exe: cannot read the running executable's path");
  return std::string(buf, static_cast<size_t>(n));
}

}  // namespace mmengine
