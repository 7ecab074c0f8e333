#include "layers/layers.h"

#include "engine/autograd.h"
#include "engine/dist_ops.h"
#include "engine/kernel_version.h"
#include "engine/ops_nn.h"
#include "layers/bn_recorder.h"

namespace mmengine {

Conv2d::Conv2d(int64_t cin, int64_t cout, int64_t kernel, int64_t stride_, int64_t padding_, bool with_bias, DType dtype)
    : stride(stride_), padding(padding_) {
  MM_CHECK(cin > 0 && cout > 0 && kernel > 0 && stride_ > 0 && padding_ >= 0, "Conv2d: bad geometry in=", cin, " out=",
           cout, " kernel=", kernel, " stride=", stride_, " padding=", padding_);
  weight = Tensor::zeros({cout, cin, kernel, kernel}, dtype);
  register_parameter("weight", &weight);
  if (with_bias) {
    bias = Tensor::zeros({cout}, dtype);
    register_parameter("bias", &bias);
  }
}

Tensor Conv2d::forward(const Tensor& x, const ForwardOptions&) { return conv2d(x, weight, bias, stride, padding); }

Tensor Conv2d::forward_with_bn_moments(const Tensor& x, const ForwardOptions& opts, Tensor* moments) {
  *moments = Tensor();
  const int64_t groups = opts.groups.empty() ? 1 : static_cast<int64_t>(opts.groups.size());
  // (with row groups but the grouped-bn fusion off, BatchNorm runs one call per chunk and
  // computes its own statistics: none are made for it)
  if (bias.defined() || (groups > 1 && !fusion_enabled(Fusion::GroupedBatchNorm))) return forward(x, opts);
  return conv2d_with_bn_moments(x, weight, stride, padding, groups, moments);
}

BatchNorm2d::BatchNorm2d(int64_t channels, double momentum_, double eps_, DType dtype) : momentum(momentum_), eps(eps_) {
  MM_CHECK(channels > 0, "BatchNorm2d: channels must be positive, got ", channels);
  MM_CHECK(eps_ > 0, "BatchNorm2d: eps must be positive, got ", eps_);
  MM_CHECK(momentum_ >= 0 && momentum_ <= 1, "BatchNorm2d: momentum must be in [0, 1], got ", momentum_);
  weight = Tensor::full({channels}, 1.0, dtype);
  bias = Tensor::zeros({channels}, dtype);
  running_mean = Tensor::zeros({channels}, dtype);
  running_var = Tensor::full({channels}, 1.0, dtype);
  register_parameter("weight", &weight);
  register_parameter("bias", &bias);
  register_buffer("running_mean", &running_mean);
  register_buffer("running_var", &running_var);
  register_counter("num_batches_tracked", &num_batches_tracked);
}

Tensor BatchNorm2d::forward(const Tensor& x, const ForwardOptions& opts) {
  if (!training()) return batch_norm_eval(x, weight, bias, running_mean, running_var, eps);
  return train_forward(x, opts, -1);
}

Tensor BatchNorm2d::forward_leaky_relu(const Tensor& x, const ForwardOptions& opts, double slope,
                                       const Tensor& moments) {
  const bool records_grad = grad_enabled() && (x.requires_grad() || weight.requires_grad() || bias.requires_grad());
  if (!training() && slope >= 0 && !records_grad && fusion_enabled(Fusion::BnLeakyRelu))  // evaluation: one pass
    return batch_norm_eval_fused(x, weight, bias, running_mean, running_var, eps, slope);
  // (The fused backward reads the sign of the input from the output: slope >= 0 only.)
  if (!training()) return leaky_relu(forward(x, opts), slope);
  if (slope < 0 || !fusion_enabled(Fusion::BnLeakyRelu)) return leaky_relu(train_forward(x, opts, -1, moments), slope);
  return train_forward(x, opts, slope, moments);
}

void BatchNorm2d::move_running_stats(const Tensor& mean, const Tensor& var, int64_t count) {
  NoGrad ng;
  // running = (1 - m) running + m batch, with the unbiased variance (PyTorch's rule).
  const double unbias = static_cast<double>(count) / static_cast<double>(count - 1);
  running_mean.copy_from(add(mul(running_mean, 1.0 - momentum), mul(mean, momentum)));
  running_var.copy_from(add(mul(running_var, 1.0 - momentum), mul(var, momentum * unbias)));
}

// Training mode, `slope` >= 0: LeakyReLU fused. Row groups run in one call unless the grouped-bn
// fusion is off (then one call per chunk, concatenated); the running statistics move in the
// kernel unless bn-running is off (then by elementwise ops, chunk by chunk, as before). With
// opts.bn_sync the statistics are those of every rank's rows (data parallel, --bn-sync global).
// `moments` (x's per-group [sum; M2] from the convolution before, or undefined) replace the
// statistics pass, except in the one-call-per-chunk form (which computes its own).
Tensor BatchNorm2d::train_forward(const Tensor& x, const ForwardOptions& opts, double slope, const Tensor& moments) {
  std::vector<RowGroup> groups = opts.groups;
  if (groups.empty()) groups.push_back({opts.update_running_stats, opts.tag});
  const int64_t G = static_cast<int64_t>(groups.size());
  if (G > 1 && !fusion_enabled(Fusion::GroupedBatchNorm)) {
    MM_CHECK(x.size(0) % G == 0, "BatchNorm2d: ", describe(x), " does not split into ", G, " equal row groups");
    std::vector<Tensor> parts = split(x, x.size(0) / G), outs;
    for (int64_t g = 0; g < G; ++g) {
      ForwardOptions one;
      one.update_running_stats = groups[g].update_running_stats;
      one.tag = groups[g].tag;
      one.bn_sync = opts.bn_sync;
      outs.push_back(train_forward(parts[g], one, slope));
    }
    return concat(outs);
  }
  uint32_t mask = 0;
  for (int64_t g = 0; g < G; ++g)
    if (groups[g].update_running_stats) mask |= 1u << g;
  const bool running_in_kernel = fusion_enabled(Fusion::BnRunningInKernel);
  BatchNormTrainOptions o;
  o.groups = G;
  o.leaky_slope = slope;
  o.moments = moments;
  if (running_in_kernel && mask != 0) {
    o.running_mean = running_mean;
    o.running_var = running_var;
    o.momentum = momentum;
    o.update_mask = mask;
  }
  BatchStats stats;
  Tensor y = opts.bn_sync ? batch_norm_train_sync(x, weight, bias, eps, &stats, *opts.bn_sync, o)
                          : batch_norm_train(x, weight, bias, eps, &stats, o);
  const int64_t C = weight.size(0);
  auto row = [&](const Tensor& t, int64_t g) { return G == 1 ? t : reshape(slice(t, g, g + 1), {C}); };
  for (int64_t g = 0; g < G; ++g) {
    if (!groups[g].update_running_stats) continue;
    ++num_batches_tracked;
    if (running_in_kernel) continue;
    move_running_stats(row(stats.mean, g), row(stats.var, g), stats.count);
  }
  if (recorder_) {
    std::vector<double> mean = stats.mean.to_vector(), var = stats.var.to_vector();
    for (int64_t g = 0; g < G; ++g) {
      BnRecord r{name_, groups[g].tag, std::vector<double>(mean.begin() + g * C, mean.begin() + (g + 1) * C),
                 std::vector<double>(var.begin() + g * C, var.begin() + (g + 1) * C), stats.count};
      if (opts.groups.empty()) recorder_->add(std::move(r));
      else recorder_->add_grouped(std::move(r), static_cast<size_t>(g), static_cast<size_t>(G));
    }
  }
  return y;
}

Tensor LeakyReLU::forward(const Tensor& x, const ForwardOptions&) { return leaky_relu(x, slope); }

Linear::Linear(int64_t in_features, int64_t out_features, DType dtype) {
  MM_CHECK(in_features > 0 && out_features > 0, "Linear: sizes must be positive, got ", in_features, " -> ", out_features);
  weight = Tensor::zeros({out_features, in_features}, dtype);
  bias = Tensor::zeros({out_features}, dtype);
  register_parameter("weight", &weight);
  register_parameter("bias", &bias);
}

Tensor Linear::forward(const Tensor& x, const ForwardOptions&) { return linear(x, weight, bias); }

Tensor GlobalAvgPool::forward(const Tensor& x, const ForwardOptions&) { return global_avg_pool(x); }

}  // namespace mmengine
