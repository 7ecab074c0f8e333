#include "layers/layers.h"

#include "engine/autograd.h"
#include "engine/dist_ops.h"
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
  BatchStats stats;
  Tensor y = opts.bn_sync ? batch_norm_train_sync(x, weight, bias, eps, &stats, *opts.bn_sync)
                         : batch_norm_train(x, weight, bias, eps, &stats);
  if (opts.update_running_stats) {
    NoGrad ng;
    // running = (1 - m) running + m batch, with the unbiased variance (PyTorch's rule).
    const double unbias = static_cast<double>(stats.count) / static_cast<double>(stats.count - 1);
    running_mean.copy_from(add(mul(running_mean, 1.0 - momentum), mul(stats.mean, momentum)));
    running_var.copy_from(add(mul(running_var, 1.0 - momentum), mul(stats.var, momentum * unbias)));
    ++num_batches_tracked;
  }
  if (recorder_) recorder_->add({name_, opts.tag, stats.mean.to_vector(), stats.var.to_vector(), stats.count});
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
