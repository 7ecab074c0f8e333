#include "layers/module.h"

namespace mmengine {

void Module::register_parameter(const std::string& name, Tensor* t) {
  t->set_requires_grad(true);
  params_.emplace_back(name, t);
}
void Module::register_buffer(const std::string& name, Tensor* t) { buffers_.emplace_back(name, t); }
void Module::register_counter(const std::string& name, int64_t* v) { counters_.emplace_back(name, v); }
void Module::register_module(const std::string& name, Module* m) { children_.emplace_back(name, m); }

template <typename F>
void Module::walk(const std::string& prefix, F&& f) {
  f(prefix, *this);
  for (auto& [name, child] : children_) child->walk(prefix + name + ".", f);
}

void Module::train(bool on) {
  walk("", [on](const std::string&, Module& m) { m.training_ = on; });
}

std::vector<std::pair<std::string, Tensor*>> Module::named_parameters() {
  std::vector<std::pair<std::string, Tensor*>> out;
  walk("", [&](const std::string& p, Module& m) {
    for (auto& [n, t] : m.params_) out.emplace_back(p + n, t);
  });
  return out;
}

std::vector<std::pair<std::string, Tensor*>> Module::named_buffers() {
  std::vector<std::pair<std::string, Tensor*>> out;
  walk("", [&](const std::string& p, Module& m) {
    for (auto& [n, t] : m.buffers_) out.emplace_back(p + n, t);
  });
  return out;
}

std::vector<std::pair<std::string, Tensor*>> Module::named_state() {
  std::vector<std::pair<std::string, Tensor*>> out;
  walk("", [&](const std::string& p, Module& m) {
    for (auto& [n, t] : m.params_) out.emplace_back(p + n, t);
    for (auto& [n, t] : m.buffers_) out.emplace_back(p + n, t);
  });
  return out;
}

std::vector<NamedCounter> Module::named_counters() {
  std::vector<NamedCounter> out;
  walk("", [&](const std::string& p, Module& m) {
    for (auto& [n, v] : m.counters_) out.push_back({p + n, v});
  });
  return out;
}

int64_t Module::parameter_count() {
  int64_t n = 0;
  for (auto& [name, t] : named_parameters()) n += t->numel();
  return n;
}

void Module::zero_grad() {
  for (auto& [name, t] : named_parameters()) t->zero_grad();
}

void Module::to(Device d) {
  for (auto& [name, t] : named_state()) {
    if (t->device() == d) continue;
    bool rg = t->requires_grad();
    *t = t->to(d);
    t->set_requires_grad(rg);
  }
}

void Module::cast(DType dt) {
  for (auto& [name, t] : named_state()) {
    if (t->dtype() == dt) continue;
    bool rg = t->requires_grad();
    *t = t->to(dt);
    t->set_requires_grad(rg);
  }
}

Device Module::device() {
  auto state = named_state();
  return state.empty() ? Device::CPU : state.front().second->device();
}

void Module::set_bn_recorder(BnRecorder* r) {
  for (auto& [name, child] : children_) child->set_bn_recorder(r);
}

}  // namespace mmengine
