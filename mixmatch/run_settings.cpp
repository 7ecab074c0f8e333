#include "mixmatch/run_settings.h"

#include <cstdio>
#include <type_traits>

#include "kernels/error.h"

namespace mmengine {

namespace {
std::string text(const std::string& v) { return v; }
std::string text(int64_t v) { return std::to_string(v); }
std::string text(uint64_t v) { return std::to_string(v); }
std::string text(bool v) { return v ? "on" : "off"; }
std::string text(double v) {
  char b[64];
  std::snprintf(b, sizeof(b), "%.17g", v);
  return b;
}

void parse(const std::string& in, std::string& out) { out = in; }
void parse(const std::string& in, bool& out) {
  MM_CHECK(in == "on" || in == "off", "expected on or off, got '", in, "'");
  out = in == "on";
}
template <typename T>
void parse(const std::string& in, T& out) {  // integers and doubles: the whole text must be a number
  size_t used = 0;
  if constexpr (std::is_same_v<T, double>) out = std::stod(in, &used);
  else if constexpr (std::is_same_v<T, uint64_t>) out = std::stoull(in, &used);
  else out = std::stoll(in, &used);
  MM_CHECK(used == in.size() && !(std::is_same_v<T, uint64_t> && in[0] == '-'), "not a number: '", in, "'");
}

// Every recorded setting: metadata key, the flag that sets it, the field.
template <typename F>
void for_each_setting(F&& f) {
  f("dataset", "--dataset", &RunSettings::dataset);
  f("recipe", "--recipe", &RunSettings::recipe);
  f("depth", "--depth", &RunSettings::depth);
  f("widen", "--widen", &RunSettings::widen);
  f("labels", "--labels", &RunSettings::labels);
  f("val_per_class", "--val-per-class", &RunSettings::val_per_class);
  f("seed", "--seed", &RunSettings::seed);
  f("bn_eps", "--bn-eps", &RunSettings::bn_eps);
  f("conv_bias", "--conv-bias", &RunSettings::conv_bias);
}
}  // namespace

RunSettings run_settings(const TrainConfig& c) {
  return {c.dataset, c.recipe, c.depth, c.widen, c.labels, c.val_per_class, c.seed, c.bn_eps, c.conv_bias};
}

std::map<std::string, std::string> run_settings_metadata(const RunSettings& s) {
  std::map<std::string, std::string> m;
  for_each_setting([&](const char* key, const char*, auto field) { m[key] = text(s.*field); });
  return m;
}

void apply_checkpoint_settings(const std::map<std::string, std::string>& metadata, const std::string& path,
                               const std::function<bool(const char*)>& given, RunSettings& s) {
  for_each_setting([&](const char* key, const char* flag, auto field) {
    auto it = metadata.find(key);
    if (it == metadata.end()) return;
    auto recorded = s.*field;
    try {
      parse(it->second, recorded);
    } catch (const std::exception& e) {
      MM_FAIL(path, ": metadata '", key, "': ", e.what());
    }
    MM_CHECK(!given(flag) || text(recorded) == text(s.*field), flag, " ", text(s.*field), " contradicts ", path,
             ", which was trained with ", key, " = ", text(recorded), " (drop the flag: the checkpoint's settings are used)");
    s.*field = recorded;
  });
}

}  // namespace mmengine
