#include "layers/layer_cases.h"

#include <memory>

#include "engine/conv_backend.h"
#include "engine/op_cases.h"
#include "engine/ops_nn.h"
#include "layers/wideresnet.h"

namespace mmengine {

namespace {
using Inputs = std::vector<Tensor>;

GradCase shaped_case(std::string name, std::vector<Shape> small, std::vector<Shape> large,
                     std::function<Tensor(const Inputs&)> f, std::vector<std::pair<double, double>> ranges = {},
                     size_t differentiable = SIZE_MAX) {
  GradCase c;
  c.name = std::move(name);
  c.make_inputs = [=](Device d, DType t, uint64_t seed, bool big) {
    const auto& shapes = big ? large : small;
    Inputs in;
    for (size_t i = 0; i < shapes.size(); ++i) {
      auto [lo, hi] = i < ranges.size() ? ranges[i] : std::pair<double, double>{-1.0, 1.0};
      in.push_back(case_input(shapes[i], d, t, seed, i, lo, hi, 0.0, i < differentiable));
    }
    return in;
  };
  c.forward = std::move(f);
  return c;
}

GradCase conv_case(const char* name, int64_t k, int64_t stride, int64_t pad, bool bias) {
  std::vector<Shape> small{{2, 3, 7, 6}, {4, 3, k, k}}, large{{5, 17, 19, 23}, {33, 17, k, k}};
  if (bias) small.push_back({4}), large.push_back({33});
  return shaped_case(name, small, large, [=](const Inputs& in) {
    return conv2d(in[0], in[1], bias ? in[2] : Tensor(), stride, pad);
  });
}

// The same convolution on the implicit-GEMM TF32 kernels where they apply (float32 CUDA
// tensors; the backward uses the forward's backend); odd channel counts and sizes.
GradCase conv_igemm_case(const char* name, int64_t k, int64_t stride, int64_t pad) {
  std::vector<Shape> small{{2, 3, 7, 6}, {5, 3, k, k}}, large{{3, 19, 13, 11}, {70, 19, k, k}};
  GradCase c = shaped_case(name, small, large, [=](const Inputs& in) {
    ConvBackendScope igemm(ConvBackend::Igemm);
    return conv2d(in[0], in[1], Tensor(), stride, pad);
  });
  c.tf32 = true;
  return c;
}

// WRN-10-1 in float64; its inputs are the image batch plus a few of its own parameters, so
// the check covers the gradients of the whole network with respect to both.
GradCase wrn_case() {
  auto model = std::make_shared<std::unique_ptr<WideResNet>>();
  GradCase c;
  c.name = "wideresnet_10_1";
  c.max_elements = 24;
  c.make_inputs = [model](Device d, DType t, uint64_t seed, bool big) {
    WideResNetConfig cfg;
    cfg.depth = 10;
    cfg.widen_factor = 1;
    cfg.num_classes = 5;
    cfg.dtype = t;
    cfg.seed = seed;
    *model = std::make_unique<WideResNet>(cfg);
    (*model)->to(d);
    Inputs in{case_input({big ? 9 : 2, 3, big ? 17 : 8, big ? 15 : 8}, d, t, seed, 0)};
    for (auto& [name, p] : (*model)->named_parameters())
      if (name == "conv1.weight" || name == "block1.layer.0.bn1.weight" || name == "block2.layer.0.convShortcut.weight" ||
          name == "block3.layer.0.bn2.bias" || name == "fc.weight" || name == "fc.bias")
        in.push_back(*p);
    return in;
  };
  c.forward = [model](const Inputs& in) {
    ForwardOptions opts;
    opts.update_running_stats = false;  // frozen during the check
    return (**model)(in[0], opts);
  };
  return c;
}
}  // namespace

std::vector<GradCase> layer_grad_cases() {
  std::vector<GradCase> cases;
  cases.push_back(conv_case("conv3x3_s1_p1", 3, 1, 1, false));
  cases.push_back(conv_case("conv3x3_s2_p1_bias", 3, 2, 1, true));
  cases.push_back(conv_case("conv1x1_s2", 1, 2, 0, false));
  cases.push_back(conv_case("conv1x1_s1_bias", 1, 1, 0, true));
  cases.push_back(conv_igemm_case("conv3x3_s1_p1_igemm", 3, 1, 1));
  cases.push_back(conv_igemm_case("conv3x3_s2_p1_igemm", 3, 2, 1));
  cases.push_back(conv_igemm_case("conv1x1_s2_igemm", 1, 2, 0));
  cases.push_back(shaped_case("batch_norm_train", {{3, 4, 5, 3}, {4}, {4}}, {{7, 37, 19, 13}, {37}, {37}},
                              [](const Inputs& in) { return batch_norm_train(in[0], in[1], in[2], 1e-5, nullptr); },
                              {{-2, 3}, {0.5, 1.5}, {-1, 1}}));
  cases.push_back(shaped_case("batch_norm_train_batch1", {{1, 3, 4, 5}, {3}, {3}}, {{1, 37, 19, 13}, {37}, {37}},
                              [](const Inputs& in) { return batch_norm_train(in[0], in[1], in[2], 1e-3, nullptr); }));
  // Three row groups with per-group statistics (MixMatch's interleaved / separate modes in one
  // call), LeakyReLU fused onto the output, and both.
  auto bn_with = [](int64_t groups, double slope) {
    return [=](const Inputs& in) {
      BatchNormTrainOptions o;
      o.groups = groups;
      o.leaky_slope = slope;
      return batch_norm_train(in[0], in[1], in[2], 1e-5, nullptr, o);
    };
  };
  cases.push_back(shaped_case("batch_norm_grouped", {{6, 4, 5, 3}, {4}, {4}}, {{21, 37, 19, 13}, {37}, {37}},
                              bn_with(3, -1), {{-2, 3}, {0.5, 1.5}, {-1, 1}}));
  cases.push_back(shaped_case("batch_norm_leaky_relu", {{3, 4, 5, 3}, {4}, {4}}, {{7, 37, 19, 13}, {37}, {37}},
                              bn_with(1, 0.1), {{-2, 3}, {0.5, 1.5}, {-1, 1}}));
  cases.push_back(shaped_case("batch_norm_grouped_leaky_relu", {{6, 4, 5, 3}, {4}, {4}}, {{21, 37, 19, 13}, {37}, {37}},
                              bn_with(3, 0.1), {{-2, 3}, {0.5, 1.5}, {-1, 1}}));
  cases.push_back(shaped_case("batch_norm_eval", {{3, 4, 5, 3}, {4}, {4}, {4}, {4}}, {{7, 37, 19, 13}, {37}, {37}, {37}, {37}},
                              [](const Inputs& in) {
                                return batch_norm_eval(in[0], in[1], in[2], in[3], in[4], 1e-5);
                              },
                              {{-2, 3}, {0.5, 1.5}, {-1, 1}, {-0.5, 0.5}, {0.5, 2}}, 3));
  cases.push_back(shaped_case("global_avg_pool", {{2, 3, 4, 5}}, {{65, 37, 8, 8}},
                              [](const Inputs& in) { return global_avg_pool(in[0]); }));
  cases.push_back(shaped_case("flatten_linear", {{2, 3, 2, 2}, {5, 12}, {5}}, {{65, 3, 8, 8}, {17, 192}, {17}},
                              [](const Inputs& in) { return linear(flatten(in[0]), in[1], in[2]); }));
  cases.push_back(wrn_case());
  return cases;
}

}  // namespace mmengine
