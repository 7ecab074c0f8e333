#include "engine/adam.h"

#include <map>

#include "engine/dispatch.h"
#include "engine/profiler.h"
#include "kernels/optim.h"

namespace mmengine {

Adam::Adam(std::vector<std::pair<std::string, Tensor*>> params, double lr, double beta1, double beta2, double eps)
    : params_(std::move(params)), lr_(lr), beta1_(beta1), beta2_(beta2), eps_(eps) {
  MM_CHECK(lr > 0, "--lr: must be positive, got ", lr);
  for (auto& [name, p] : params_) {
    m_.push_back(Tensor::zeros(p->shape(), p->dtype(), p->device()));
    v_.push_back(Tensor::zeros(p->shape(), p->dtype(), p->device()));
  }
}

void Adam::step(const int64_t* t_on_device) {
  MM_PROFILE("optimizer (Adam)", params_.empty() ? Device::CPU : params_[0].second->device());
  ++step_;
  kernels::AdamSpec spec{lr_, beta1_, beta2_, eps_, step_, t_on_device};
  for (size_t i = 0; i < params_.size(); ++i) {
    Tensor& p = *params_[i].second;
    Tensor g = p.grad();
    if (!g.defined()) continue;
    MM_DISPATCH_FLOAT(p.dtype(), T,
                      MM_KERNEL(p.device(), adam_update, T)(spec, p.data<T>(), g.data<T>(), m_[i].data<T>(),
                                                           v_[i].data<T>(), p.numel()));
  }
}

std::vector<std::pair<std::string, Tensor>> Adam::state() const {
  std::vector<std::pair<std::string, Tensor>> out;
  for (size_t i = 0; i < params_.size(); ++i) {
    out.emplace_back("m." + params_[i].first, m_[i]);
    out.emplace_back("v." + params_[i].first, v_[i]);
  }
  return out;
}

void Adam::load_state(const std::vector<std::pair<std::string, Tensor>>& named) {
  std::map<std::string, Tensor> by_name(named.begin(), named.end());
  for (size_t i = 0; i < params_.size(); ++i)
    for (auto* pair : {&m_, &v_}) {
      const std::string key = (pair == &m_ ? "m." : "v.") + params_[i].first;
      auto it = by_name.find(key);
      MM_CHECK(it != by_name.end(), "optimizer state: missing '", key, "'");
      MM_CHECK(it->second.shape() == (*pair)[i].shape(), "optimizer state: '", key, "' has shape ",
               shape_str(it->second.shape()));
      (*pair)[i].copy_from(it->second);
    }
}

}  // namespace mmengine
