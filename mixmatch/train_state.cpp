#include "mixmatch/train_state.h"

#include "layers/checkpoint.h"

namespace mmengine {

void save_train_state(const std::string& path, Module& student, Module& teacher, const Adam& adam, const TrainState& s) {
  std::vector<std::pair<std::string, Tensor>> tensors;
  std::vector<std::pair<std::string, int64_t>> ints;
  append_module_state(student, "student.", tensors, ints);
  append_module_state(teacher, "teacher.", tensors, ints);
  for (auto& [name, t] : adam.state()) tensors.emplace_back("adam." + name, t);
  ints.emplace_back("train.step", s.step);
  ints.emplace_back("train.adam_step", adam.steps());
  ints.emplace_back("train.loader_step", s.loader.step);
  ints.emplace_back("train.labeled_pass", s.loader.labeled.pass);
  ints.emplace_back("train.labeled_offset", s.loader.labeled.offset);
  ints.emplace_back("train.unlabeled_pass", s.loader.unlabeled.pass);
  ints.emplace_back("train.unlabeled_offset", s.loader.unlabeled.offset);
  save_safetensors(path, tensors, ints, s.metadata);
}

TrainState load_train_state(const std::string& path, Module& student, Module& teacher, Adam& adam) {
  TensorFile f = load_safetensors(path);
  load_module_state(f, path, student, "student.", false);
  load_module_state(f, path, teacher, "teacher.", false);
  std::vector<std::pair<std::string, Tensor>> moments;
  for (auto& [name, t] : f.tensors)
    if (name.rfind("adam.", 0) == 0) {
      require_finite(t, name, path);
      moments.emplace_back(name.substr(5), t);
    }
  adam.load_state(moments);
  auto get = [&](const char* key) {
    auto it = f.integers.find(key);
    MM_CHECK(it != f.integers.end(), path, ": missing '", key, "' (not a training checkpoint?)");
    return it->second;
  };
  adam.set_steps(get("train.adam_step"));
  TrainState s;
  s.step = get("train.step");
  s.loader.step = get("train.loader_step");
  s.loader.labeled = {get("train.labeled_pass"), get("train.labeled_offset")};
  s.loader.unlabeled = {get("train.unlabeled_pass"), get("train.unlabeled_offset")};
  s.metadata = f.metadata;
  return s;
}

}  // namespace mmengine
