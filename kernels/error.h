// Errors a user can read. Every failed check throws mmengine::Error with the file, line and a
// message that says what was expected; nothing in the engine calls exit() or abort().
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

namespace mmengine {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

[[noreturn]] void throw_error(const char* file, int line, const std::string& message);

namespace detail {
inline void stream_all(std::ostringstream&) {}
template <typename First, typename... Rest>
void stream_all(std::ostringstream& os, const First& first, const Rest&... rest) {
  os << first;
  stream_all(os, rest...);
}
template <typename... Args>
std::string concat(const Args&... args) {
  std::ostringstream os;
  stream_all(os, args...);
  return os.str();
}
}  // namespace detail

}  // namespace mmengine

// MM_CHECK(cond, parts...): the parts are streamed together into the message.
#define MM_CHECK(cond, ...)                                                                   \
  do {                                                                                        \
    if (!(cond))                                                                              \
      ::mmengine::throw_error(__FILE__, __LINE__, ::mmengine::detail::concat(__VA_ARGS__)); \
  } while (0)

#define MM_FAIL(...) ::mmengine::throw_error(__FILE__, __LINE__, ::mmengine::detail::concat(__VA_ARGS__))
