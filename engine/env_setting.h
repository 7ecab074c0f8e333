// A process-wide setting whose initial value comes from an environment variable (read once,
// at first use; a bad value is an error naming the variable), changeable by a setter. One
// setting per enum type E: the value is a static of the E instantiation.
#pragma once
#include <cstdlib>
#include <string>

namespace mmengine {

template <typename E>
E& env_setting(const char* variable, E fallback, E (*parse)(const std::string& value, const char* what)) {
  static E value = [&] {
    const char* env = std::getenv(variable);
    return env ? parse(env, variable) : fallback;
  }();
  return value;
}

// Sets a process-wide setting (its getter and setter) for the scope's lifetime, then back to
// what it was (tests, the bench's side-by-side rows).
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
