// Reverse-mode autograd.
//
// THE RULE: kernels overwrite their outputs; the engine does all gradient accumulation.
// A kernel never adds into a gradient buffer it did not just zero itself; summing the
// contributions of a tensor used several times happens here, in run_backward.
//
// Each differentiable op records a Node on its output: the inputs it read and a closure that
// maps the output's gradient to one gradient per input. Closures capture detached tensors
// only (never the output itself), so no reference cycle keeps a graph alive. backward() walks
// the graph once in reverse topological order and then releases every node it visited: the
// graph is freed after backward.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace mmengine {

using BackwardFn = std::function<std::vector<Tensor>(const Tensor& grad_output)>;

struct Node {
  std::string name;
  std::vector<Tensor> inputs;  // one gradient is returned per input (undefined = none)
  BackwardFn backward;
};

bool grad_enabled();

// While alive, ops record nothing (label guessing, evaluation, optimizer updates).
class NoGrad {
 public:
  NoGrad();
  ~NoGrad();
  NoGrad(const NoGrad&) = delete;
  NoGrad& operator=(const NoGrad&) = delete;

 private:
  bool previous_;
};

// Attaches the node to `out` when grad mode is on and some input requires grad.
Tensor record(Tensor out, const char* name, std::vector<Tensor> inputs, BackwardFn backward);

void run_backward(const Tensor& root);

}  // namespace mmengine
