#include "layers/wideresnet.h"

#include "engine/ops_nn.h"
#include "engine/precision.h"
#include "layers/init.h"

namespace mmengine {

BasicBlock::BasicBlock(int64_t in_planes, int64_t out_planes, int64_t stride, bool abr, const WideResNetConfig& cfg)
    : bn1(in_planes, cfg.bn_momentum, cfg.bn_eps, cfg.dtype),
      bn2(out_planes, cfg.bn_momentum, cfg.bn_eps, cfg.dtype),
      conv1(in_planes, out_planes, 3, stride, 1, cfg.conv_bias, cfg.dtype),
      conv2(out_planes, out_planes, 3, 1, 1, cfg.conv_bias, cfg.dtype),
      equal_in_out(in_planes == out_planes),
      activate_before_residual(abr),
      slope(cfg.leaky_slope) {
  // Registration order = the port's attribute order = its state-dict order.
  register_module("bn1", &bn1);
  register_module("conv1", &conv1);
  register_module("bn2", &bn2);
  register_module("conv2", &conv2);
  if (!equal_in_out) {
    shortcut = std::make_unique<Conv2d>(in_planes, out_planes, 1, stride, 0, cfg.conv_bias, cfg.dtype);
    register_module("convShortcut", shortcut.get());
  }
}

Tensor BasicBlock::forward(const Tensor& x_in, const ForwardOptions& opts) {
  Tensor x = x_in, out;
  if (!equal_in_out && activate_before_residual) {
    x = bn1.forward_leaky_relu(x_in, opts, slope);  // conv1 and the shortcut read the activated input
    out = x;
  } else {
    out = bn1.forward_leaky_relu(x_in, opts, slope);  // in the quirk case this result is not used below
  }
  // conv1 feeds bn2 directly: its epilogue may hand bn2 the statistics (the conv-bn-stats fusion).
  Tensor moments;
  Tensor h = bn2.training() ? conv1.forward_with_bn_moments(equal_in_out ? out : x, opts, &moments)
                            : conv1(equal_in_out ? out : x, opts);
  h = conv2(bn2.forward_leaky_relu(h, opts, slope, moments), opts);
  return add(equal_in_out ? x : (*shortcut)(x, opts), h);
}

NetworkBlock::NetworkBlock(int64_t layers, int64_t in_planes, int64_t out_planes, int64_t stride, bool abr,
                           const WideResNetConfig& cfg) {
  register_module("layer", &layer_);
  for (int64_t i = 0; i < layers; ++i) {
    blocks.push_back(std::make_unique<BasicBlock>(i == 0 ? in_planes : out_planes, out_planes, i == 0 ? stride : 1, abr, cfg));
    layer_.register_module(std::to_string(i), blocks.back().get());
  }
}

Tensor NetworkBlock::forward(const Tensor& x, const ForwardOptions& opts) {
  Tensor h = x;
  for (auto& b : blocks) h = b->forward(h, opts);
  return h;
}

namespace {
int64_t blocks_per_group(const WideResNetConfig& c) {
  MM_CHECK(c.depth >= 10 && (c.depth - 4) % 6 == 0, "WideResNet: depth must be 6n + 4 with n >= 1, got ", c.depth);
  MM_CHECK(c.widen_factor >= 1, "WideResNet: widen factor must be >= 1, got ", c.widen_factor);
  MM_CHECK(c.num_classes >= 2, "WideResNet: needs at least 2 classes, got ", c.num_classes);
  return (c.depth - 4) / 6;
}
}  // namespace

WideResNet::WideResNet(const WideResNetConfig& cfg)
    : cfg_(cfg),
      conv1(cfg.in_channels, 16, 3, 1, 1, cfg.conv_bias, cfg.dtype),
      block1(blocks_per_group(cfg), 16, 16 * cfg.widen_factor, 1, true, cfg),
      block2(blocks_per_group(cfg), 16 * cfg.widen_factor, 32 * cfg.widen_factor, 2, false, cfg),
      block3(blocks_per_group(cfg), 32 * cfg.widen_factor, 64 * cfg.widen_factor, 2, false, cfg),
      bn1(64 * cfg.widen_factor, cfg.bn_momentum, cfg.bn_eps, cfg.dtype),
      fc(64 * cfg.widen_factor, cfg.num_classes, cfg.dtype) {
  register_module("conv1", &conv1);
  register_module("block1", &block1);
  register_module("block2", &block2);
  register_module("block3", &block3);
  register_module("bn1", &bn1);
  register_module("fc", &fc);
  // The port's initialisation: Kaiming normal (fan_out) for convs, BN weight 1 / bias 0 (the
  // constructor's values), Xavier normal for the linear weight, zero biases.
  uint64_t stream = 0;
  for (auto& [name, t] : named_parameters()) {
    ++stream;
    const bool is_weight = name.size() >= 6 && name.compare(name.size() - 6, 6, "weight") == 0;
    if (!is_weight || t->dim() < 2) continue;
    if (t->dim() == 4) init_kaiming_normal_fan_out(*t, cfg.seed, stream);
    else init_xavier_normal(*t, cfg.seed, stream);
  }
  batchnorms();  // names every BatchNorm for the statistics recorder
}

std::vector<BatchNorm2d*> WideResNet::batchnorms() {
  std::vector<BatchNorm2d*> out;
  auto add_bn = [&](BatchNorm2d& bn, const std::string& name) {
    bn.set_name(name);
    out.push_back(&bn);
  };
  for (auto* group : {&block1, &block2, &block3}) {
    const std::string g = group == &block1 ? "block1" : group == &block2 ? "block2" : "block3";
    for (size_t i = 0; i < group->blocks.size(); ++i) {
      const std::string p = g + ".layer." + std::to_string(i) + ".";
      add_bn(group->blocks[i]->bn1, p + "bn1");
      add_bn(group->blocks[i]->bn2, p + "bn2");
    }
  }
  add_bn(bn1, "bn1");
  return out;
}

Tensor WideResNet::forward(const Tensor& x, const ForwardOptions& opts) {
  MM_CHECK(x.dim() == 4 && x.size(1) == cfg_.in_channels, "WideResNet: expected input [N, ", cfg_.in_channels,
           ", H, W], got ", describe(x));
  // --precision bf16 (engine/precision.h): bfloat16 from the first convolution's input to the last
  // BatchNorm's output; pooling and the classifier in float32.
  const bool bf16 = activation_dtype() == DType::BF16 && x.dtype() == DType::F32;
  Tensor h = conv1(bf16 ? mmengine::cast(x, DType::BF16) : x, opts);
  h = block3(block2(block1(h, opts), opts), opts);
  h = bn1.forward_leaky_relu(h, opts, cfg_.leaky_slope);
  return fc(global_avg_pool(bf16 ? mmengine::cast(h, DType::F32) : h), opts);
}

}  // namespace mmengine
