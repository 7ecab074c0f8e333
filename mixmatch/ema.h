// The EMA teacher of the reference ports: after each optimizer step, for every float tensor
// of the state (parameters and BN running statistics; the integer counters are skipped)
// teacher = decay * teacher + (1 - decay) * student, then the student is decayed by
// (1 - 0.02 * lr), the ports' stand-in for weight decay. The scopes select what each covers
// (the original TF code: EMA over trainable variables only, its BN statistics shared with the
// student; decay of conv and linear weights only).
#pragma once
#include "layers/module.h"
#include "mixmatch/config.h"

namespace mmengine {

struct EmaSpec {
  double decay = 0.999;
  double weight_decay = 0.0;  // 0.02 * lr
  EmaScope scope = EmaScope::State;
  DecayScope decay_scope = DecayScope::State;
};

void copy_state(Module& from, Module& to);  // teacher starts as a copy of the student
void ema_step(Module& teacher, Module& student, const EmaSpec& spec);

}  // namespace mmengine
