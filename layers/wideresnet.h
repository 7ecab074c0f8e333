// WideResNet as in the PyTorch MixMatch port (YU1ut/MixMatch-pytorch, models/wideresnet.py):
// channels 16, 16k, 32k, 64k; (depth - 4) / 6 pre-activation basic blocks per group; the first
// group activates before the residual; 1x1 shortcut convs where the width changes; final BN,
// LeakyReLU(0.1), global average pooling, linear. State-dict names match that module.
//
// The port's quirk, kept on purpose: in the first block of groups 2 and 3 (width changes, no
// activate_before_residual) bn1 and relu1 are computed and their output discarded; conv1 and
// the shortcut both read the block's raw input. bn1's running statistics still update, and
// the port's checkpoints contain them.
#pragma once
#include <memory>
#include <vector>

#include "layers/layers.h"

namespace mmengine {

struct WideResNetConfig {
  int64_t depth = 28, widen_factor = 2, num_classes = 10, in_channels = 3;
  double bn_momentum = 0.001, bn_eps = 1e-5, leaky_slope = 0.1;
  bool conv_bias = false;  // the original TF code uses biases; the port does not
  DType dtype = DType::F32;
  uint64_t seed = 0;
};

class BasicBlock : public Module {
 public:
  BasicBlock(int64_t in_planes, int64_t out_planes, int64_t stride, bool activate_before_residual,
             const WideResNetConfig& cfg);
  Tensor forward(const Tensor& x, const ForwardOptions& opts = {}) override;
  BatchNorm2d bn1, bn2;
  Conv2d conv1, conv2;
  std::unique_ptr<Conv2d> shortcut;  // "convShortcut", only where the width changes
  bool equal_in_out, activate_before_residual;
  double slope;
};

class NetworkBlock : public Module {
 public:
  NetworkBlock(int64_t layers, int64_t in_planes, int64_t out_planes, int64_t stride, bool activate_before_residual,
               const WideResNetConfig& cfg);
  Tensor forward(const Tensor& x, const ForwardOptions& opts = {}) override;
  std::vector<std::unique_ptr<BasicBlock>> blocks;

 private:
  struct Sequential : Module {  // named "layer" with children "0", "1", ... like nn.Sequential
    Tensor forward(const Tensor&, const ForwardOptions&) override { MM_FAIL("Sequential is only a name holder"); }
    using Module::register_module;
  } layer_;
};

class WideResNet : public Module {
 public:
  explicit WideResNet(const WideResNetConfig& cfg);
  Tensor forward(const Tensor& x, const ForwardOptions& opts = {}) override;
  const WideResNetConfig& config() const { return cfg_; }
  std::vector<BatchNorm2d*> batchnorms();  // in state-dict order, with their names set

 private:
  WideResNetConfig cfg_;
  Conv2d conv1;
  NetworkBlock block1, block2, block3;
  BatchNorm2d bn1;
  Linear fc;
};

}  // namespace mmengine
