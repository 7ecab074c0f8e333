#include "mixmatch/run_folder.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

#include "kernels/error.h"

namespace mmengine {

std::string run_lock_path(const std::string& dir) { return dir + "/run.lock"; }

bool path_exists(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0;
}

void make_dirs(const std::string& dir, const char* flag) {
  for (size_t pos = 1; pos <= dir.size(); ++pos)
    if (pos == dir.size() || dir[pos] == '/') {
      const std::string part = dir.substr(0, pos);
      if (!path_exists(part))
        MM_CHECK(::mkdir(part.c_str(), 0755) == 0 || errno == EEXIST, flag, " ", dir, ": cannot create ", part, " (",
                 std::strerror(errno), ")");
    }
  struct stat st;
  MM_CHECK(::stat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode), flag, " ", dir, ": not a directory");
}

RunLock::RunLock(const std::string& dir) {
  make_dirs(dir, "--out");
  const std::string path = run_lock_path(dir);
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  MM_CHECK(fd_ >= 0, path, ": cannot open the run lock (", std::strerror(errno), ")");
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    char holder[256] = {0};
    const ssize_t n = ::pread(fd_, holder, sizeof(holder) - 1, 0);
    ::close(fd_);
    fd_ = -1;
    std::string who = n > 0 ? std::string(holder, static_cast<size_t>(n)) : std::string("unknown holder");
    while (!who.empty() && (who.back() == '\n' || who.back() == ' ')) who.pop_back();
    MM_CHECK(err != EWOULDBLOCK, "--out ", dir, ": in use by another training (", who,
             "); wait for it to finish, or choose another --out");
    MM_FAIL(path, ": cannot lock (", std::strerror(err), ")");
  }
  // The holder's identity, for the refusal above; written only while holding the lock.
  char host[256] = {0};
  ::gethostname(host, sizeof(host) - 1);
  char when[64];
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);  // not std::gmtime: runs on several threads of one process write at once
  std::strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &utc);
  const std::string who = "pid " + std::to_string(::getpid()) + " on host " + host + ", since " + when + "\n";
  if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, who.data(), who.size(), 0) != static_cast<ssize_t>(who.size())) {
    // The lock itself holds; only the description for a refused second run is missing.
  }
}

RunLock::~RunLock() {
  if (fd_ >= 0) ::close(fd_);  // closing the descriptor releases the flock
}

}  // namespace mmengine
