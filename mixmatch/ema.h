// The EMA teacher of the reference ports: after each optimizer step, for every float tensor
// of the state (parameters and BN running statistics; the integer counters are skipped)
// teacher = decay * teacher + (1 - decay) * student, then the student is decayed by
// (1 - 0.02 * lr), the ports' stand-in for weight decay. `decay_buffers` = false leaves the
// student's BN running statistics undecayed (the choice --ema-decay-buffers makes measurable).
#pragma once
#include "layers/module.h"

namespace mmengine {

struct EmaSpec {
  double decay = 0.999;
  double weight_decay = 0.0;  // 0.02 * lr
  bool decay_buffers = true;
  bool params_only = false;  // EMA over trainable variables only (the original TF code)
};

void copy_state(Module& from, Module& to);  // teacher starts as a copy of the student
void ema_step(Module& teacher, Module& student, const EmaSpec& spec);

}  // namespace mmengine
