#include "mixmatch/ema.h"

#include <map>
#include <mutex>
#include <set>

#include "engine/dispatch.h"
#include "engine/kernel_version.h"
#include "engine/memory.h"
#include "engine/profiler.h"
#include "kernels/optim.h"

namespace mmengine {

void copy_state(Module& from, Module& to) {
  auto a = from.named_state(), b = to.named_state();
  MM_CHECK(a.size() == b.size(), "copy_state: models differ");
  for (size_t i = 0; i < a.size(); ++i) b[i].second->copy_from(*a[i].second);
  auto ca = from.named_counters(), cb = to.named_counters();
  for (size_t i = 0; i < ca.size(); ++i) *cb[i].value = *ca[i].value;
}

namespace {
// What ema_step does to tensor i: average (decay, scale) or scale the student and copy it.
struct EmaPlan {
  Tensor *teacher, *student;
  double decay, scale;
  bool copy;
};

std::vector<EmaPlan> plan_ema(Module& teacher, Module& student, const EmaSpec& spec) {
  auto t = teacher.named_state(), s = student.named_state();
  MM_CHECK(t.size() == s.size(), "ema_step: teacher and student differ");
  // named_state lists each module's parameters then buffers, so membership is by name.
  std::set<std::string> param_names;
  for (auto& [n, p] : student.named_parameters()) param_names.insert(n);
  std::vector<EmaPlan> plan;
  for (size_t i = 0; i < s.size(); ++i) {
    const bool is_param = param_names.count(s[i].first) > 0;
    Tensor& st = *s[i].second;
    // Conv and linear weights: the parameters named "weight" with more than one dimension.
    const bool is_weight = is_param && st.dim() >= 2;
    const bool decays = spec.decay_scope == DecayScope::State || (spec.decay_scope == DecayScope::Params && is_param) ||
                        (spec.decay_scope == DecayScope::Weights && is_weight);
    const double scale = decays ? 1.0 - spec.weight_decay : 1.0;
    // Not averaged: the teacher uses the student's tensor (TF shares BN moving statistics).
    const bool copy = spec.scope == EmaScope::Params && !is_param;
    plan.push_back({t[i].second, s[i].second, spec.decay, scale, copy});
  }
  return plan;
}

// One multi-tensor launch (kernels/optim.h); false when the tensors do not share a device and
// dtype, or a graph capture would need an upload (then the caller updates them one by one).
template <typename T>
bool ema_multi(const Module& teacher, const std::vector<EmaPlan>& plan) {
  const Device dev = plan[0].student->device();
  std::vector<kernels::EmaChunk<T>> chunks;
  for (const EmaPlan& e : plan) {
    for (Tensor* x : {e.teacher, e.student})
      if (x->device() != dev || x->dtype() != plan[0].student->dtype()) return false;
    chunks.push_back({e.teacher->data<T>(), e.student->data<T>(), e.student->numel(), 0, e.decay, e.scale, e.copy ? 1 : 0});
  }
  const int64_t count = static_cast<int64_t>(chunks.size());
  const int64_t tiles = kernels::multi_tensor_tiles(chunks.data(), count);
  if (tiles == 0) return true;
  // One kept table per teacher (engine/memory.h): a steady run uploads it once. A teacher's
  // address reused by a later one only costs an upload (the bytes are compared).
  static std::mutex mutex;
  static auto& tables = *new std::map<const Module*, DeviceTable>;  // never destroyed: no device free at exit
  std::lock_guard<std::mutex> lock(mutex);
  const void* dev_chunks = tables[&teacher].get(dev, chunks.data(), chunks.size() * sizeof(chunks[0]));
  if (!dev_chunks) return false;  // a capture that would need an upload: per-tensor launches
  MM_KERNEL(dev, ema_update_multi, T)(static_cast<const kernels::EmaChunk<T>*>(dev_chunks), count, tiles);
  return true;
}
}  // namespace

void ema_step(Module& teacher, Module& student, const EmaSpec& spec) {
  MM_PROFILE("optimizer (EMA)", student.device());
  const std::vector<EmaPlan> plan = plan_ema(teacher, student, spec);
  if (!plan.empty() && fusion_enabled(Fusion::MultiTensor)) {
    bool done = false;
    MM_DISPATCH_FLOAT(plan[0].student->dtype(), T, done = ema_multi<T>(teacher, plan));
    if (done) return;
  }
  for (const EmaPlan& e : plan) {
    Tensor& tt = *e.teacher;
    Tensor& st = *e.student;
    if (e.copy) {
      if (e.scale != 1.0) {
        MM_DISPATCH_FLOAT(st.dtype(), T, MM_KERNEL(st.device(), ema_update, T)(tt.data<T>(), st.data<T>(), 1.0, e.scale, st.numel()));
      }
      tt.copy_from(st);
      continue;
    }
    MM_DISPATCH_FLOAT(st.dtype(), T,
                      MM_KERNEL(st.device(), ema_update, T)(tt.data<T>(), st.data<T>(), e.decay, e.scale, st.numel()));
  }
}

}  // namespace mmengine
