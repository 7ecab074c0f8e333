// A setting whose initial value comes from an environment variable (read once per process, at
// first use; a bad value is an error naming the variable), changeable by a setter. One setting
// per enum type E. The value is per host thread: every thread starts at the environment's value
// and a setter (or SettingScope) changes only its own thread's, so runs trained at once on
// several threads of one process (`mmengine ablate --concurrent-mode streams`) each keep their
// own precision, kernels and convolution backend. Code that sets a switch must run the work it
// governs on the same thread (every op reads the switches on the thread that issues it).
#pragma once
#include <cstdlib>
#include <string>

namespace mmengine {

template <typename E>
E& env_setting(const char* variable, E fallback, E (*parse)(const std::string& value, const char* what)) {
  static const E initial = [&] {
    const char* env = std::getenv(variable);
    return env ? parse(env, variable) : fallback;
  }();
  thread_local E value = initial;
  return value;
}

// Sets a thread's setting (its getter and setter) for the scope's lifetime, then back to what it
// was (the trainer's precision, tests, the bench's side-by-side rows).
template <typename E, E (*Get)(), void (*Set)(E)>
class SettingScope {
 public:
  explicit SettingScope(E value) : saved_(Get()) { Set(value); }
  ~SettingScope() { Set(saved_); }
  SettingScope(const SettingScope&) = delete;
  SettingScope& operator=(const SettingScope&) = delete;

 private:
  E saved_;
};

}  // namespace mmengine
