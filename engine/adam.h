// Adam with torch.optim.Adam's semantics (betas 0.9/0.999, eps 1e-8, no weight decay) over a
// list of parameters; its moment buffers are part of the training checkpoint.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "engine/memory.h"
#include "engine/tensor.h"

namespace mmengine {

class Adam {
 public:
  Adam(std::vector<std::pair<std::string, Tensor*>> params, double lr, double beta1 = 0.9, double beta2 = 0.999,
       double eps = 1e-8);
  // One update from the parameters' .grad (a parameter without a gradient is skipped, as
  // torch does for p.grad is None). t_on_device: this update's t (steps() after it), in memory
  // of the parameters' device, read there (a captured CUDA graph replays it with each step's t).
  void step(const int64_t* t_on_device = nullptr);
  void set_lr(double lr) { lr_ = lr; }
  double lr() const { return lr_; }
  int64_t steps() const { return step_; }
  void set_steps(int64_t s) { step_ = s; }
  // Moment buffers by parameter name ("m." / "v." prefixes), for checkpoints.
  std::vector<std::pair<std::string, Tensor>> state() const;
  void load_state(const std::vector<std::pair<std::string, Tensor>>& named);

 private:
  std::vector<std::pair<std::string, Tensor*>> params_;
  std::vector<Tensor> m_, v_;
  double lr_, beta1_, beta2_, eps_;
  int64_t step_ = 0;
  DeviceTable table_;  // the multi-tensor launch's chunk list, uploaded only when it changes
};

}  // namespace mmengine
