// The training checkpoint (last.safetensors): student and teacher state under "student." and
// "teacher.", Adam moments under "adam.", and the integers that make --resume continue
// bit-identically (step, Adam's step count, the stream positions); every random draw of the
// engine is keyed by (seed, step), so no generator state needs saving beyond these.
#pragma once
#include <map>
#include <string>

#include "data/stream.h"
#include "engine/adam.h"
#include "layers/module.h"

namespace mmengine {

struct TrainState {
  int64_t step = 0;  // steps completed
  LoaderPosition loader;
  std::map<std::string, std::string> metadata;  // best-so-far numbers, as text
};

void save_train_state(const std::string& path, Module& student, Module& teacher, const Adam& adam, const TrainState& s);
TrainState load_train_state(const std::string& path, Module& student, Module& teacher, Adam& adam);

}  // namespace mmengine
