// The basic layers: Conv2d, BatchNorm2d, LeakyReLU, Linear, GlobalAvgPool.
#pragma once
#include "layers/module.h"

namespace mmengine {

class Conv2d : public Module {
 public:
  Conv2d(int64_t in_channels, int64_t out_channels, int64_t kernel, int64_t stride, int64_t padding, bool bias,
         DType dtype = DType::F32);
  Tensor forward(const Tensor& x, const ForwardOptions& opts = {}) override;
  // The same output for a training-mode BatchNorm right after this layer: `moments` gets the
  // output's per-group BatchNorm moments from the convolution's epilogue where the
  // conv-bn-stats fusion applies (engine/ops_nn.h conv2d_with_bn_moments; groups as opts.groups),
  // else stays undefined (also with a bias, which the epilogue does not see, and with row groups
  // when the grouped-bn fusion is off).
  Tensor forward_with_bn_moments(const Tensor& x, const ForwardOptions& opts, Tensor* moments);
  Tensor weight, bias;  // bias undefined when disabled
  int64_t stride, padding;
};

class BatchNorm2d : public Module {
 public:
  explicit BatchNorm2d(int64_t channels, double momentum = 0.001, double eps = 1e-5, DType dtype = DType::F32);
  // Training mode: batch statistics; the running statistics move only when
  // opts.update_running_stats (PyTorch's rule, unbiased variance). Eval mode: running stats.
  // With opts.groups, per-chunk statistics (see ForwardOptions).
  Tensor forward(const Tensor& x, const ForwardOptions& opts = {}) override;
  // leaky_relu(forward(x, opts), slope), fused into the BatchNorm kernels in training mode
  // (unless the bn-leaky-relu fusion is off, engine/kernel_version.h, or slope < 0).
  // `moments`: x's moments from the layer before (Conv2d::forward_with_bn_moments), or undefined.
  Tensor forward_leaky_relu(const Tensor& x, const ForwardOptions& opts, double slope, const Tensor& moments = {});
  void set_bn_recorder(BnRecorder* r) override { recorder_ = r; }
  void set_name(const std::string& n) { name_ = n; }
  const std::string& name() const { return name_; }
  Tensor weight, bias, running_mean, running_var;
  int64_t num_batches_tracked = 0;
  double momentum, eps;

 private:
  Tensor train_forward(const Tensor& x, const ForwardOptions& opts, double slope, const Tensor& moments = {});
  void move_running_stats(const Tensor& mean, const Tensor& var, int64_t count);
  BnRecorder* recorder_ = nullptr;
  std::string name_;
};

class LeakyReLU : public Module {
 public:
  explicit LeakyReLU(double slope = 0.1) : slope(slope) {}
  Tensor forward(const Tensor& x, const ForwardOptions& opts = {}) override;
  double slope;
};

class Linear : public Module {
 public:
  Linear(int64_t in_features, int64_t out_features, DType dtype = DType::F32);
  Tensor forward(const Tensor& x, const ForwardOptions& opts = {}) override;
  Tensor weight, bias;
};

class GlobalAvgPool : public Module {
 public:
  Tensor forward(const Tensor& x, const ForwardOptions& opts = {}) override;
};

}  // namespace mmengine
