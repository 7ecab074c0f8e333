#include "mixmatch/ema.h"

#include <set>

#include "engine/dispatch.h"
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

void ema_step(Module& teacher, Module& student, const EmaSpec& spec) {
  MM_PROFILE("optimizer (EMA)", student.device());
  auto t = teacher.named_state(), s = student.named_state();
  MM_CHECK(t.size() == s.size(), "ema_step: teacher and student differ");
  // named_state lists each module's parameters then buffers, so membership is by name.
  std::set<std::string> param_names;
  for (auto& [n, p] : student.named_parameters()) param_names.insert(n);
  for (size_t i = 0; i < s.size(); ++i) {
    const bool is_param = param_names.count(s[i].first) > 0;
    Tensor& tt = *t[i].second;
    Tensor& st = *s[i].second;
    // Conv and linear weights: the parameters named "weight" with more than one dimension.
    const bool is_weight = is_param && st.dim() >= 2;
    const bool decays = spec.decay_scope == DecayScope::State || (spec.decay_scope == DecayScope::Params && is_param) ||
                        (spec.decay_scope == DecayScope::Weights && is_weight);
    const double scale = decays ? 1.0 - spec.weight_decay : 1.0;
    if (spec.scope == EmaScope::Params && !is_param) {
      // Not averaged: the teacher uses the student's tensor (TF shares BN moving statistics).
      if (scale != 1.0) {
        MM_DISPATCH_FLOAT(st.dtype(), T, MM_KERNEL(st.device(), ema_update, T)(tt.data<T>(), st.data<T>(), 1.0, scale, st.numel()));
      }
      tt.copy_from(st);
      continue;
    }
    MM_DISPATCH_FLOAT(st.dtype(), T,
                      MM_KERNEL(st.device(), ema_update, T)(tt.data<T>(), st.data<T>(), spec.decay, scale, st.numel()));
  }
}

}  // namespace mmengine
