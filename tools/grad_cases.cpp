#include "tools/grad_cases.h"

#include "engine/op_cases.h"
#include "layers/layer_cases.h"
#include "mixmatch/loss_cases.h"

namespace mmengine {

std::vector<GradCase> all_grad_cases() {
  std::vector<GradCase> all;
  for (auto* group : {&op_grad_cases, &layer_grad_cases, &mixmatch_grad_cases}) {
    auto cases = group();
    all.insert(all.end(), cases.begin(), cases.end());
  }
  return all;
}

}  // namespace mmengine
