// Finite-difference gradient checking, shared by the tests and mmengine-gradcheck.
//
// A GradCase builds its inputs (which ones are differentiable is up to the case) and a
// forward function producing one tensor. The check uses float64 only: loss = sum(r * f(x))
// with a fixed random r, central differences with h = 1e-6 on every element of inputs up to
// GradCase::max_elements elements (a random subset beyond) plus one random-direction check; it
// passes when |analytic - numeric| <= 1e-5 + 1e-3 * |numeric|. Backward is run twice and the
// two gradients must agree. Cases keep inputs away from non-smooth points (LeakyReLU at 0),
// Caffe's "kink" rule applied where the inputs are made.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace mmengine {

struct GradCase {
  std::string name;
  // Inputs on `device` in `dtype`; `large` asks for shapes that span many CUDA blocks
  // (used by the CPU-vs-CUDA comparison, not by the finite-difference check).
  std::function<std::vector<Tensor>(Device device, DType dtype, uint64_t seed, bool large)> make_inputs;
  std::function<Tensor(const std::vector<Tensor>& inputs)> forward;
  // Called before every forward evaluation (e.g. to reseed or freeze state); may be empty.
  std::function<void()> before_forward;
  int64_t max_elements = 256;  // per input: every element up to this many, a random subset beyond
  // float32 on CUDA rounds the inputs of its products to TF32 (the implicit-GEMM convolution):
  // the CPU comparison judges it by the relative error norm TF32 allows, not element-wise.
  bool tf32 = false;
};

struct GradCheckResult {
  std::string name;
  Device device = Device::CPU;
  double max_abs_error = 0;
  double max_rel_error = 0;
  int64_t values_checked = 0;
  bool passed = false;
  std::string message;  // why it failed, empty when passed
};

GradCheckResult gradcheck(const GradCase& c, Device device, uint64_t seed = 1234);

// The tolerance rule, exposed for tests of the checker itself.
bool gradient_close(double analytic, double numeric);

}  // namespace mmengine
