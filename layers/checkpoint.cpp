#include "layers/checkpoint.h"

#include <cmath>
#include <set>

namespace mmengine {

void require_finite(const Tensor& t, const std::string& name, const std::string& path) {
  const std::vector<double> v = t.to_vector();
  for (size_t i = 0; i < v.size(); ++i)
    MM_CHECK(std::isfinite(v[i]), path, ": tensor '", name, "' holds a non-finite value (", v[i], " at element ", i,
             "); the file is damaged or comes from a diverged run");
}

void append_module_state(Module& m, const std::string& prefix, std::vector<std::pair<std::string, Tensor>>& tensors,
                         std::vector<std::pair<std::string, int64_t>>& integers) {
  for (auto& [name, t] : m.named_state()) tensors.emplace_back(prefix + name, *t);
  for (auto& c : m.named_counters()) integers.emplace_back(prefix + c.name, *c.value);
}

void save_module(const std::string& path, Module& m, const std::map<std::string, std::string>& metadata) {
  std::vector<std::pair<std::string, Tensor>> tensors;
  std::vector<std::pair<std::string, int64_t>> integers;
  append_module_state(m, "", tensors, integers);
  save_safetensors(path, tensors, integers, metadata);
}

void load_module_state(const TensorFile& f, const std::string& path, Module& m, const std::string& prefix, bool strict) {
  std::set<std::string> expected;
  for (auto& [name, t] : m.named_state()) {
    const std::string key = prefix + name;
    expected.insert(key);
    auto it = f.tensors.find(key);
    MM_CHECK(it != f.tensors.end(), path, ": missing tensor '", key, "' (expected ", describe(*t), ")");
    const Tensor& src = it->second;
    MM_CHECK(src.shape() == t->shape(), path, ": tensor '", key, "' has shape ", shape_str(src.shape()), ", expected ",
             shape_str(t->shape()));
    MM_CHECK(src.dtype() == t->dtype(), path, ": tensor '", key, "' has dtype ", dtype_name(src.dtype()), ", expected ",
             dtype_name(t->dtype()));
    require_finite(src, key, path);
  }
  for (auto& c : m.named_counters()) {
    const std::string key = prefix + c.name;
    expected.insert(key);
    MM_CHECK(f.integers.count(key), path, ": missing integer entry '", key, "'");
  }
  if (strict)
    for (auto& name : f.order)
      if (name.compare(0, prefix.size(), prefix) == 0)
        MM_CHECK(expected.count(name), path, ": unexpected tensor '", name, "' (not part of this model)");
  // Everything checked: now copy.
  for (auto& [name, t] : m.named_state()) t->copy_from(f.tensors.at(prefix + name));
  for (auto& c : m.named_counters()) *c.value = f.integers.at(prefix + c.name);
}

void load_module(const std::string& path, Module& m) { load_module_state(load_safetensors(path), path, m, "", true); }

}  // namespace mmengine
