#include "engine/file_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "kernels/error.h"

namespace mmengine {

namespace {
// Writes all of `bytes` to fd; false (errno set) on any failure, a short write included.
bool write_all(int fd, const std::string& bytes) {
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (n == 0) errno = ENOSPC;
      return false;
    }
    done += static_cast<size_t>(n);
  }
  return true;
}
}  // namespace

uint64_t require_regular_file(const std::string& path, const std::string& what) {
  struct stat st;
  MM_CHECK(::stat(path.c_str(), &st) == 0, path, ": cannot open (", std::strerror(errno), "), expected ", what);
  MM_CHECK(!S_ISDIR(st.st_mode), path, ": is a directory, expected ", what);
  MM_CHECK(S_ISREG(st.st_mode), path, ": is not a regular file, expected ", what);
  return static_cast<uint64_t>(st.st_size);
}

std::string read_text_file(const std::string& path, const std::string& what) {
  const uint64_t size = require_regular_file(path, what);
  MM_CHECK(size <= (uint64_t(64) << 20), path, ": ", size, " bytes, too large for ", what);
  FILE* f = std::fopen(path.c_str(), "rb");
  MM_CHECK(f != nullptr, path, ": cannot open (", std::strerror(errno), ")");
  std::string text(size, '\0');
  const size_t got = std::fread(text.data(), 1, size, f);
  std::fclose(f);
  MM_CHECK(got == size, path, ": read failed");
  return text;
}

void write_file_atomically(const std::string& path, const std::string& bytes) {
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  MM_CHECK(fd >= 0, path, ": cannot open for writing (", std::strerror(errno), ")");
  const bool ok = write_all(fd, bytes) && ::fsync(fd) == 0;
  const int err = errno;
  if (::close(fd) != 0 || !ok) {
    std::remove(tmp.c_str());
    MM_FAIL(path, ": write failed (", std::strerror(ok ? errno : err), "; disk full?)");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int rename_err = errno;
    std::remove(tmp.c_str());
    MM_FAIL(path, ": cannot rename the temporary file into place: ", std::strerror(rename_err));
  }
}

void append_to_file(const std::string& path, const std::string& bytes) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  MM_CHECK(fd >= 0, path, ": cannot open for appending (", std::strerror(errno), ")");
  const bool ok = write_all(fd, bytes);
  const int err = errno;
  MM_CHECK(::close(fd) == 0 && ok, path, ": write failed (", std::strerror(ok ? errno : err), "; disk full?)");
}

}  // namespace mmengine
