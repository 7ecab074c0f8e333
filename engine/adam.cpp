#include "engine/adam.h"

#include <map>

#include "engine/dispatch.h"
#include "engine/kernel_version.h"
#include "engine/memory.h"
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

namespace {
// One multi-tensor launch over every parameter with a gradient (kernels/optim.h); false when
// the parameters do not share a device and dtype (then the caller updates them one by one).
// The chunk list goes to the device through `table` (uploaded only when it changes); false
// also while a graph capture would need a new upload.
template <typename T>
bool adam_multi(const kernels::AdamSpec& spec, const std::vector<std::pair<std::string, Tensor*>>& params,
                std::vector<Tensor>& m, std::vector<Tensor>& v, DeviceTable& table) {
  std::vector<kernels::AdamChunk<T>> chunks;
  const Device dev = params[0].second->device();
  for (size_t i = 0; i < params.size(); ++i) {
    Tensor& p = *params[i].second;
    Tensor g = p.grad();
    if (!g.defined()) continue;
    if (p.device() != dev || p.dtype() != params[0].second->dtype()) return false;
    chunks.push_back({p.data<T>(), g.data<T>(), m[i].data<T>(), v[i].data<T>(), p.numel(), 0});
  }
  const int64_t count = static_cast<int64_t>(chunks.size());
  const int64_t tiles = kernels::multi_tensor_tiles(chunks.data(), count);
  if (tiles == 0) return true;
  // A replaced table goes back to the stream's pool inside get(), before this launch: safe,
  // since the pool hands a block only to later work on the same stream.
  const void* dev_chunks = table.get(dev, chunks.data(), chunks.size() * sizeof(chunks[0]));
  if (!dev_chunks) return false;
  MM_KERNEL(dev, adam_update_multi, T)(spec, static_cast<const kernels::AdamChunk<T>*>(dev_chunks), count, tiles);
  return true;
}
}  // namespace

void Adam::step(const int64_t* t_on_device) {
  MM_PROFILE("optimizer (Adam)", params_.empty() ? Device::CPU : params_[0].second->device());
  ++step_;
  kernels::AdamSpec spec{lr_, beta1_, beta2_, eps_, step_, t_on_device};
  if (!params_.empty() && fusion_enabled(Fusion::MultiTensor)) {
    bool done = false;
    MM_DISPATCH_FLOAT(params_[0].second->dtype(), T, done = adam_multi<T>(spec, params_, m_, v_, table_));
    if (done) return;
  }
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
