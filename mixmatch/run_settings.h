// The model and data settings a checkpoint records in its metadata (best.safetensors and
// last.safetensors), so that eval and bn-probe rebuild the network and the validation split
// of the run that wrote it instead of trusting flags.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "mixmatch/config.h"

namespace mmengine {

struct RunSettings {
  std::string dataset = "cifar10", recipe = "port";
  int64_t depth = 28, widen = 2, labels = 4000, val_per_class = 500;
  uint64_t seed = 0;
  double bn_eps = 1e-5;
  bool conv_bias = false;
};

RunSettings run_settings(const TrainConfig& c);
// The metadata entries ("dataset", "depth", ...) of a checkpoint written by this run.
std::map<std::string, std::string> run_settings_metadata(const RunSettings& s);
// Takes every setting the checkpoint records; a flag given explicitly (given("--depth")) that
// contradicts the checkpoint is an error naming the flag, the file and both values. Settings the
// checkpoint does not record (files from other tools) keep the value in `s` (flag or default).
void apply_checkpoint_settings(const std::map<std::string, std::string>& metadata, const std::string& path,
                               const std::function<bool(const char*)>& given, RunSettings& s);

}  // namespace mmengine
