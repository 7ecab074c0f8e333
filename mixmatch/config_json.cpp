// config.json of a run folder: written at the start of a run, read back by --resume.
#include <cstdio>
#include <nlohmann/json.hpp>

#include "kernels/error.h"
#include "mixmatch/config.h"

namespace mmengine {

namespace {
// Every setting stored as itself, in config.json order: one list serves writing and reading.
template <typename F>
void for_each_plain_setting(F&& f) {
  f("preset", &TrainConfig::preset);
  f("dataset", &TrainConfig::dataset);
  f("data_dir", &TrainConfig::data_dir);
  f("labels", &TrainConfig::labels);
  f("val_per_class", &TrainConfig::val_per_class);
  f("seed", &TrainConfig::seed);
  f("epochs", &TrainConfig::epochs);
  f("steps_per_epoch", &TrainConfig::steps_per_epoch);
  f("batch_size", &TrainConfig::batch_size);
  f("eval_every", &TrainConfig::eval_every);
  f("checkpoint_every", &TrainConfig::checkpoint_every);
  f("max_eval_images", &TrainConfig::max_eval_images);
  f("K", &TrainConfig::K);
  f("T", &TrainConfig::T);
  f("alpha", &TrainConfig::alpha);
  f("lambda_u", &TrainConfig::lambda_u);
  f("lr", &TrainConfig::lr);
  f("ema_decay", &TrainConfig::ema_decay);
  f("ema", &TrainConfig::ema);
  f("recipe", &TrainConfig::recipe);
  f("rampup_steps", &TrainConfig::rampup_steps);
  f("bn_eps", &TrainConfig::bn_eps);
  f("bn_momentum", &TrainConfig::bn_momentum);
  f("conv_bias", &TrainConfig::conv_bias);
  f("depth", &TrainConfig::depth);
  f("widen", &TrainConfig::widen);
  f("eval_batch", &TrainConfig::eval_batch);
  f("log_every", &TrainConfig::log_every);
  f("prefetch", &TrainConfig::prefetch);
  f("out_dir", &TrainConfig::out_dir);
  f("time_limit_minutes", &TrainConfig::time_limit_minutes);  // of the invocation that wrote the file
}

// Keys of one invocation, not of the experiment (see experiment_differs), and the preset name
// (a record: its values are in the other keys).
bool not_compared(const std::string& key) {
  for (const char* k : {"preset", "data_dir", "device", "out_dir", "time_limit_minutes", "git_commit", "eval_batch", "log_every",
                        "prefetch", "graph", "dist", "collective_timeout_s"})
    if (key == k) return true;
  return false;
}
}  // namespace

std::string config_to_json(const TrainConfig& c, const std::string& device_used) {
  nlohmann::ordered_json j;
  for_each_plain_setting([&](const char* key, auto member) { j[key] = c.*member; });
  j["rampup_steps"] = c.resolved_rampup();
  j["total_steps"] = c.total_steps();
  j["effective_lr"] = c.effective_lr();
  j["bn_mode"] = bn_mode_name(c.bn_mode);
  j["lr_scale"] = c.lr_scale_sqrt ? "sqrt" : "none";
  j["bn_update"] = bn_update_name(c.bn_update);
  j["mixup_lambda"] = enum_name(kMixupLambdas, c.mixup_lambda);
  j["ema_scope"] = enum_name(kEmaScopes, c.ema_scope);
  j["decay_scope"] = enum_name(kDecayScopes, c.decay_scope);
  j["graph"] = enum_name(kGraphModes, c.graph);
  j["precision"] = enum_name(kPrecisions, c.precision);
  j["bn_sync"] = bn_sync_name(c.bn_sync);
  j["world_size"] = c.world_size;
  j["dist"] = c.dist;
  j["collective_timeout_s"] = c.collective_timeout_s;
  j["model"] = "WRN-" + std::to_string(c.depth) + "-" + std::to_string(c.widen);
  j["device"] = device_used;
  j["git_commit"] = MMENGINE_GIT_COMMIT;
  return j.dump(2) + "\n";
}

TrainConfig config_from_json(const std::string& text, const std::string& path) {
  const nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  MM_CHECK(!j.is_discarded() && j.is_object(), path, ": not a JSON object (expected the config.json of a run)");
  TrainConfig c;
  auto word = [&](const char* key) {
    MM_CHECK(j.contains(key) && j[key].is_string(), path, ": missing or bad '", key, "' (expected a string)");
    return j[key].get<std::string>();
  };
  // Files written before depth, widen and the per-invocation settings were recorded: the model
  // name gives depth and width; the others keep their defaults (preset: unknown).
  long long depth = 0, widen = 0;
  const bool old_file = !j.contains("depth") && j.contains("model") && j["model"].is_string() &&
                        std::sscanf(j["model"].get<std::string>().c_str(), "WRN-%lld-%lld", &depth, &widen) == 2;
  if (old_file) {
    c.depth = depth;
    c.widen = widen;
  }
  for_each_plain_setting([&](const char* key, auto member) {
    using T = std::remove_reference_t<decltype(c.*member)>;
    const std::string k = key;
    if (!j.contains(key) && (k == "preset" || (old_file && (k == "depth" || k == "widen" || k == "eval_batch" ||
                                                            k == "log_every" || k == "prefetch")))) {
      if (k == "preset") c.preset.clear();
      return;
    }
    MM_CHECK(j.contains(key), path, ": missing '", key, "' (written by an older mmengine? start a new run)");
    try {
      c.*member = j[key].get<T>();
    } catch (const std::exception&) {
      MM_FAIL(path, ": '", key, "' has the wrong type: ", j[key].dump());
    }
  });
  try {
    c.bn_mode = parse_bn_mode(word("bn_mode"));
    c.bn_update = parse_bn_update(word("bn_update"));
    c.mixup_lambda = parse_mixup_lambda(word("mixup_lambda"));
    c.ema_scope = parse_ema_scope(word("ema_scope"));
    c.decay_scope = parse_decay_scope(word("decay_scope"));
    if (j.contains("graph")) c.graph = enum_parse(kGraphModes, "graph", word("graph"));  // absent in files of earlier versions
    if (j.contains("precision")) c.precision = enum_parse(kPrecisions, "precision", word("precision"));  // likewise: fp32
  } catch (const Error& e) {
    MM_FAIL(path, ": ", e.what());
  }
  // Written before data-parallel training: one rank, synchronized (= single-rank) statistics.
  if (j.contains("bn_sync")) {
    try {
      c.bn_sync = parse_bn_sync(word("bn_sync"));
    } catch (const Error& e) {
      MM_FAIL(path, ": ", e.what());
    }
  }
  if (j.contains("world_size")) {
    MM_CHECK(j["world_size"].is_number_integer() && j["world_size"].get<int64_t>() >= 1, path,
             ": 'world_size' must be a positive integer, got ", j["world_size"].dump());
    c.world_size = j["world_size"].get<int64_t>();
  }
  if (j.contains("dist") && j["dist"].is_string()) c.dist = j["dist"].get<std::string>();
  if (j.contains("collective_timeout_s") && j["collective_timeout_s"].is_number())
    c.collective_timeout_s = j["collective_timeout_s"].get<double>();
  const std::string scale = word("lr_scale");
  MM_CHECK(scale == "sqrt" || scale == "none", path, ": 'lr_scale' must be sqrt or none, got '", scale, "'");
  c.lr_scale_sqrt = scale == "sqrt";
  return c;
}

bool experiment_differs(const TrainConfig& before, const TrainConfig& after, SettingChange* first_change) {
  const auto a = nlohmann::json::parse(config_to_json(before, "")), b = nlohmann::json::parse(config_to_json(after, ""));
  for (auto it = a.begin(); it != a.end(); ++it) {
    if (not_compared(it.key()) || b[it.key()] == it.value()) continue;
    if (first_change) *first_change = {it.key(), it.value().dump(), b[it.key()].dump()};
    return true;
  }
  return false;
}

}  // namespace mmengine
