// The step's fusions (engine/kernel_version.h) give the numbers of what they replace, on every
// device: BatchNorm over row groups = one call per group, BatchNorm + LeakyReLU fused = the
// pair, the running statistics moved in the kernel = the elementwise update, the grouped
// model pass = one model call per chunk, multi-tensor Adam / EMA = the per-tensor updates.
// "Bit-identical" below is EXPECT_EQ on the values; the stated tolerances are where the
// summation order differs by design (parameter gradients added over groups in double once,
// instead of per group in T and then by autograd).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <functional>

#include "engine/adam.h"
#include "engine/autograd.h"
#include "engine/conv_backend.h"
#include "engine/kernel_version.h"
#include "engine/ops_nn.h"
#include "engine/profiler.h"
#include "engine/rng.h"
#include "layers/bn_recorder.h"
#include "layers/layers.h"
#include "layers/wideresnet.h"
#include "mixmatch/ema.h"
#include "mixmatch/guess.h"
#include "mixmatch/step.h"
#include "tests/test_util.h"

using namespace mmengine;
using namespace mmengine::testing;

namespace {
class Fusions : public ::testing::TestWithParam<Device> {
 protected:
  void SetUp() override { MM_SKIP_WITHOUT(GetParam()); }
  void TearDown() override {
    for (Fusion f : all_fusions()) set_fusion_enabled(f, true);
  }
};

Tensor leaf(const Tensor& a, Device d, bool grad = true) {
  Tensor t = Tensor::from_vector(a.to_vector(), a.shape(), a.dtype(), d);
  if (grad) t.set_requires_grad(true);
  return t;
}

void expect_identical(const Tensor& got, const Tensor& want, const std::string& what) {
  ASSERT_EQ(got.shape(), want.shape()) << what;
  EXPECT_EQ(got.to_vector(), want.to_vector()) << what << " is not bit-identical";
}

struct BnRun {
  Tensor y, mean, var, gx, gg, gb, running_mean, running_var;
};

// batch_norm_train over G groups in one call, or (separate) one call per group; the running
// statistics move for groups 0 and 2.
BnRun run_bn(const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& r, int64_t G, double slope,
             bool separate, Device d) {
  const int64_t C = gamma.size(0);
  Tensor xd = leaf(x, d), gd = leaf(gamma, d), bd = leaf(beta, d);
  BnRun out;
  out.running_mean = leaf(rand_uniform({C}, 5, 0, x.dtype(), Device::CPU, -1, 1), d, false);
  out.running_var = leaf(rand_uniform({C}, 6, 0, x.dtype(), Device::CPU, 0.5, 2), d, false);
  const uint32_t mask = G > 2 ? 0b101u : 0b1u;
  BatchNormTrainOptions o;
  o.leaky_slope = slope;
  o.running_mean = out.running_mean;
  o.running_var = out.running_var;
  o.momentum = 0.25;
  if (!separate) {
    o.groups = G;
    o.update_mask = mask;
    BatchStats st;
    out.y = batch_norm_train(xd, gd, bd, 1e-5, &st, o);
    out.mean = reshape(st.mean, {-1});
    out.var = reshape(st.var, {-1});
  } else {
    std::vector<Tensor> ys, means, vars;
    const auto parts = split(xd, x.size(0) / G);
    for (int64_t g = 0; g < G; ++g) {
      o.update_mask = (mask >> g) & 1u;
      BatchStats st;
      ys.push_back(batch_norm_train(parts[g], gd, bd, 1e-5, &st, o));
      means.push_back(st.mean);
      vars.push_back(st.var);
    }
    out.y = concat(ys);
    out.mean = concat(means);
    out.var = concat(vars);
  }
  sum(mul(out.y, leaf(r, d, false))).backward();
  out.gx = xd.grad(), out.gg = gd.grad(), out.gb = bd.grad();
  return out;
}
}  // namespace

// The run-time switches' tables (engine/enum_table.h): every name parses back to its value, and
// a wrong word is refused naming the variable and the choices.
TEST(KernelSwitches, TablesRoundTripAndNameTheChoices) {
  for (const auto& e : kKernelVersions) {
    EXPECT_EQ(parse_kernel_version(e.name, "MMENGINE_KERNELS"), e.value);
    EXPECT_STREQ(kernel_version_name(e.value), e.name);
  }
  for (Fusion f : all_fusions()) EXPECT_STREQ(fusion_name(f), enum_name(kFusions, f));
  for (const auto& e : kConvBackends) {
    if (e.value == ConvBackend::Cudnn && !cudnn_built()) continue;
    EXPECT_EQ(parse_conv_backend(e.name, "MMENGINE_CONV"), e.value);
    EXPECT_STREQ(conv_backend_name(e.value), e.name);
  }
  expect_error_containing([] { parse_kernel_version("v9", "MMENGINE_KERNELS"); },
                          {"MMENGINE_KERNELS: expected current, v1 or v0, got 'v9'"});
  for (const auto& e : kIgemmTilings) {
    EXPECT_EQ(parse_igemm_tiling(e.name, "MMENGINE_IGEMM"), e.value);
    EXPECT_STREQ(igemm_tiling_name(e.value), e.name);
  }
  expect_error_containing([] { parse_igemm_tiling("winograd", "MMENGINE_IGEMM"); },
                          {"MMENGINE_IGEMM: expected gather, halo or halo-rows, got 'winograd'"});
  expect_error_containing([] { parse_conv_backend("fft", "MMENGINE_CONV"); },
                          {"MMENGINE_CONV: expected own, igemm, igemm-3xtf32 or cudnn, got 'fft'"});
}

// (On CUDA, [36, 130, 5, 7]: 12 rows per group in 4 splits of 3, which a block walks 7 rows of 35
// values at a time: the several-rows-per-step mapping under groups.)
TEST_P(Fusions, BatchNormGroupsEqualSeparateCalls) {
  const Device d = GetParam();
  PoisonScope poison;
  for (DType t : {DType::F32, DType::F64})
    for (Shape shape : {Shape{27, 19, 7, 5}, Shape{6, 130, 3, 3}, Shape{9, 5, 1, 1}, Shape{36, 130, 5, 7}})
      for (double slope : {-1.0, 0.1}) {
        const int64_t C = shape[1];
        Tensor x = add(mul(rand_normal(shape, 1, 0, t), 3.0), 2.0);
        Tensor gamma = rand_uniform({C}, 2, 0, t, Device::CPU, 0.5, 1.5), beta = rand_uniform({C}, 3, 0, t, Device::CPU, -1, 1);
        Tensor r = rand_uniform(shape, 4, 0, t, Device::CPU, -1, 1);
        const BnRun one = run_bn(x, gamma, beta, r, 3, slope, false, d), sep = run_bn(x, gamma, beta, r, 3, slope, true, d);
        const std::string what = describe(x) + (slope >= 0 ? " + leaky_relu" : "");
        expect_identical(one.y, sep.y, "y " + what);
        expect_identical(one.mean, sep.mean, "mean " + what);
        expect_identical(one.var, sep.var, "var " + what);
        expect_identical(one.gx, sep.gx, "gx " + what);
        expect_identical(one.running_mean, sep.running_mean, "running mean " + what);
        expect_identical(one.running_var, sep.running_var, "running var " + what);
        // The parameter gradients: the groups' double sums added once vs per-group sums in T.
        EXPECT_TRUE(all_close(one.gg, sep.gg, reduction_tol(t))) << "ggamma " << what;
        EXPECT_TRUE(all_close(one.gb, sep.gb, reduction_tol(t))) << "gbeta " << what;
      }
}

// Evaluation: eval-mode BatchNorm + LeakyReLU in one pass, the bits of the composed ops
// (batch_norm_eval, leaky_relu) on each device; forward only.
TEST_P(Fusions, EvalBatchNormLeakyReluEqualsTheComposedOps) {
  const Device d = GetParam();
  for (DType dt : {DType::F32, DType::F64}) {
    auto on_device = [&](const Tensor& t) { return leaf(t, d, false); };
    const Tensor x = on_device(rand_uniform({5, 7, 3, 11}, 21, 0, dt, Device::CPU, -3, 3));
    const Tensor gamma = on_device(rand_uniform({7}, 22, 0, dt, Device::CPU, -2, 2));
    const Tensor beta = on_device(rand_uniform({7}, 23, 0, dt, Device::CPU, -1, 1));
    const Tensor mean = on_device(rand_uniform({7}, 24, 0, dt, Device::CPU, -1, 1));
    const Tensor var = on_device(rand_uniform({7}, 25, 0, dt, Device::CPU, 0.01, 3));
    NoGrad ng;
    for (double slope : {0.1, 0.0, -1.0}) {  // -1: no activation
      Tensor composed = batch_norm_eval(x, gamma, beta, mean, var, 1e-3);
      if (slope >= 0) composed = leaky_relu(composed, slope);
      expect_identical(batch_norm_eval_fused(x, gamma, beta, mean, var, 1e-3, slope), composed,
                       std::string(dtype_name(dt)) + " slope " + std::to_string(slope));
    }
  }
  Tensor x = leaf(rand_uniform({2, 3, 2, 2}, 26, 0, DType::F32, Device::CPU), d);  // requires a gradient
  Tensor c = leaf(Tensor::full({3}, 1.0, DType::F32), d, false);
  try {
    batch_norm_eval_fused(x, c, c, c, c, 1e-5, 0.1);
    ADD_FAILURE() << "expected an error: the fused eval op records no gradient";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("forward only"), std::string::npos) << e.what();
  }
}

TEST_P(Fusions, BatchNormLeakyReluEqualsThePair) {
  const Device d = GetParam();
  PoisonScope poison;
  for (DType t : {DType::F32, DType::F64})
    for (int64_t G : {1, 3}) {
      const Shape shape{6 * G - 3 * (G > 1), 11, 9, 7};
      const int64_t C = shape[1];
      Tensor x = rand_normal(shape, 7, 0, t);
      Tensor gamma = rand_uniform({C}, 8, 0, t, Device::CPU, 0.5, 1.5), beta = rand_uniform({C}, 9, 0, t, Device::CPU, -1, 1);
      Tensor r = rand_uniform(shape, 10, 0, t, Device::CPU, -1, 1);
      auto run = [&](bool fused) {
        Tensor xd = leaf(x, d), gd = leaf(gamma, d), bd = leaf(beta, d);
        BatchNormTrainOptions o;
        o.groups = G;
        o.leaky_slope = fused ? 0.1 : -1;
        Tensor y = batch_norm_train(xd, gd, bd, 1e-5, nullptr, o);
        if (!fused) y = leaky_relu(y, 0.1);
        sum(mul(y, leaf(r, d, false))).backward();
        return std::vector<Tensor>{y, xd.grad(), gd.grad(), bd.grad()};
      };
      auto fused = run(true), pair = run(false);
      const char* names[] = {"y", "gx", "ggamma", "gbeta"};
      for (size_t i = 0; i < fused.size(); ++i) expect_identical(fused[i], pair[i], names[i] + (" " + describe(x)));
    }
}

namespace {
struct ModelRun {
  Tensor logits;
  std::vector<Tensor> grads, state;
  std::vector<int64_t> counters;
  std::vector<BnRecord> records;
};

// The configuration of a WRN-10-1 of dtype t.
WideResNetConfig wrn10(DType t, double bn_momentum) {
  WideResNetConfig cfg;
  cfg.depth = 10;
  cfg.widen_factor = 1;
  cfg.dtype = t;
  cfg.bn_momentum = bn_momentum;
  return cfg;
}

// forward_mixed of a WRN-10-1 in the BN mode, with the `switched` fusions (default: every one)
// on or off, the others on.
ModelRun run_model(Device d, DType t, BnMode mode, BnUpdate update, bool fused,
                   const std::vector<Fusion>& switched = all_fusions()) {
  for (Fusion f : switched) set_fusion_enabled(f, fused);
  WideResNet net(wrn10(t, 0.3));
  net.to(d);
  BnRecorder rec;
  net.set_bn_recorder(&rec);
  const int64_t B = 4;  // (at 4x4 images group 3's BatchNorm sees 1x1 maps: float32 too ill-conditioned to compare)
  Tensor mixed = rand_normal({3 * B, 3, 8, 8}, 11, 0, t, d);
  ModelRun out;
  out.logits = forward_mixed(net, mixed, B, mode, update);
  sum(mul(out.logits, rand_uniform(out.logits.shape(), 12, 0, t, d, -1, 1))).backward();
  for (auto& [n, p] : net.named_parameters()) out.grads.push_back(p->grad());
  for (auto& [n, p] : net.named_state()) out.state.push_back(p->clone());
  for (auto& c : net.named_counters()) out.counters.push_back(*c.value);
  out.records = rec.records();
  net.set_bn_recorder(nullptr);
  for (Fusion f : all_fusions()) set_fusion_enabled(f, true);
  return out;
}
}  // namespace

TEST_P(Fusions, GroupedModelPassEqualsOneCallPerChunk) {
  const Device d = GetParam();
  const struct {
    DType t;
    BnMode mode;
    BnUpdate update;
  } combos[] = {{DType::F32, BnMode::Interleave, BnUpdate::All},
                {DType::F64, BnMode::Interleave, BnUpdate::First},
                {DType::F64, BnMode::Separate, BnUpdate::All},
                {DType::F32, BnMode::Separate, BnUpdate::First}};
  for (const auto& [t, mode, update] : combos) {
    const ModelRun one = run_model(d, t, mode, update, true), sep = run_model(d, t, mode, update, false);
    const std::string what = std::string(bn_mode_name(mode)) + (t == DType::F32 ? " float32" : " float64");
    // The convolutions run over 3B images instead of B (other GEMM shapes, the weight
    // gradient summed over all chunks at once): equal to reduction tolerance.
    EXPECT_TRUE(all_close(one.logits, sep.logits, reduction_tol(t))) << what;
    ASSERT_EQ(one.grads.size(), sep.grads.size());
    for (size_t i = 0; i < one.grads.size(); ++i) {
      // (the port's quirk: bn1 of the first block of groups 2 and 3 gets no gradient)
      ASSERT_EQ(one.grads[i].defined(), sep.grads[i].defined()) << what << " gradient " << i;
      if (!one.grads[i].defined()) continue;
      EXPECT_TRUE(all_close(one.grads[i], sep.grads[i], {t == DType::F32 ? 2e-3 : 1e-9, t == DType::F32 ? 1e-4 : 1e-11}))
          << what << " gradient " << i;
    }
    for (size_t i = 0; i < one.state.size(); ++i)
      EXPECT_TRUE(all_close(one.state[i], sep.state[i], reduction_tol(t))) << what << " state " << i;
    EXPECT_EQ(one.counters, sep.counters) << what;
    ASSERT_EQ(one.records.size(), sep.records.size()) << what;
    for (size_t i = 0; i < one.records.size(); ++i) {
      EXPECT_EQ(one.records[i].layer, sep.records[i].layer) << what << " record " << i;
      EXPECT_EQ(one.records[i].tag, sep.records[i].tag) << what << " record " << i;
      EXPECT_EQ(one.records[i].count, sep.records[i].count) << what << " record " << i;
      for (size_t c = 0; c < one.records[i].mean.size(); ++c)
        EXPECT_NEAR(one.records[i].mean[c], sep.records[i].mean[c], t == DType::F32 ? 1e-4 : 1e-10);
    }
  }
}

// conv-bn-stats: on the igemm backend, conv2d_with_bn_moments hands BatchNorm the moments of
// its output exactly where the epilogue applies (float32, the fusion on; gather kernels: groups
// of whole 64-pixel tiles; halo kernels: any groups), and in a model each block's conv1 -> bn2
// then skips BatchNorm's statistics pass (here, on the gather kernels, at the 8x8 and 4x4 maps;
// the 2x2 maps of the last group, 16 pixels per group, fall back). The epilogue's M2 comes from plain sums in double, not two
// passes, so the model agrees with the statistics pass to float32 rounding, not bit for bit.
TEST_P(Fusions, ConvBnStatsGiveTheStatisticsPassNumbers) {
  const Device d = GetParam();
  const ConvBackendScope igemm(ConvBackend::Igemm);
  const Tensor x = rand_normal({6, 5, 8, 8}, 21, 0, DType::F32, d), w = mul(rand_normal({7, 5, 3, 3}, 22, 0, DType::F32, d), 0.2);
  Tensor m;
  for (int64_t G : {1, 3}) {
    const Tensor y = conv2d_with_bn_moments(x, w, 1, 1, G, &m);
    ASSERT_TRUE(m.defined()) << G << " groups";
    EXPECT_EQ(m.shape(), (Shape{2 * G * 7})) << G << " groups";
    expect_identical(y, conv2d(x, w, Tensor(), 1, 1), "conv2d_with_bn_moments' output");
  }
  auto expect_none = [&](const std::string& why, const std::function<void()>& run) {
    m = Tensor::zeros({1}, DType::F64, d);
    run();
    EXPECT_FALSE(m.defined()) << why;
  };
  expect_none("stride 2 (4x4 maps: 32 pixels per group)", [&] { conv2d_with_bn_moments(x, w, 2, 1, 3, &m); });
  expect_none("the fusion off", [&] {
    const FusionScope off(Fusion::ConvBnStats, false);
    conv2d_with_bn_moments(x, w, 1, 1, 3, &m);
  });
  const Tensor x4 = rand_normal({6, 5, 4, 4}, 23, 0, DType::F32, d);  // 4x4 maps: 32 pixels per group of 2 images
  expect_none("4x4 maps on the gather kernels (32 pixels per group)", [&] { conv2d_with_bn_moments(x4, w, 1, 1, 3, &m); });
  {
    // The halo kernels' epilogue (stride 1): any groups that divide the batch (a halo tile lies
    // inside one image), the 4x4 maps included; the moments are the output's (two passes here).
    const IgemmTilingScope halo(IgemmTiling::Halo);
    for (const Tensor* in : {&x, &x4}) {
      const Tensor y = conv2d_with_bn_moments(*in, w, 1, 1, 3, &m);
      ASSERT_TRUE(m.defined()) << "halo, " << describe(*in);
      expect_identical(y, conv2d(*in, w, Tensor(), 1, 1), "the halo conv2d_with_bn_moments' output");
      const std::vector<double> yv = y.to_vector(), mv = m.to_vector();
      const int64_t hw = y.size(2) * y.size(3), per = 2 * hw;  // 2 images per group
      for (int64_t grp = 0; grp < 3; ++grp)
        for (int64_t c = 0; c < 7; ++c) {
          double sum = 0, m2 = 0;
          for (int64_t n = 2 * grp; n < 2 * grp + 2; ++n)
            for (int64_t i = 0; i < hw; ++i) sum += yv[(n * 7 + c) * hw + i];
          for (int64_t n = 2 * grp; n < 2 * grp + 2; ++n)
            for (int64_t i = 0; i < hw; ++i) m2 += std::pow(yv[(n * 7 + c) * hw + i] - sum / per, 2);
          EXPECT_NEAR(mv[grp * 7 + c], sum, 1e-9 * per) << "halo, group " << grp << " channel " << c;
          EXPECT_NEAR(mv[(3 + grp) * 7 + c], m2, 1e-9 * (m2 + 1)) << "halo, group " << grp << " channel " << c;
        }
    }
    expect_none("halo, stride 2 (the gather kernels: 4x4 maps)", [&] { conv2d_with_bn_moments(x, w, 2, 1, 3, &m); });
  }
  expect_none("the own kernels", [&] {
    const ConvBackendScope own(ConvBackend::Own);
    conv2d_with_bn_moments(x, w, 1, 1, 3, &m);
  });
  expect_none("float64", [&] {
    conv2d_with_bn_moments(rand_normal({6, 5, 8, 8}, 21, 0, DType::F64, d), rand_normal({7, 5, 3, 3}, 22, 0, DType::F64, d),
                           1, 1, 3, &m);
  });
  expect_error_containing([&] { conv2d_with_bn_moments(x, w, 1, 1, 4, &m); }, {"does not split into 4 equal row groups"});

  // The layer and model checks on the CPU only (the layers' plumbing is the same on both
  // devices; on the emulated device the igemm model runs take a minute): on CUDA the kernel's
  // moments are held to a two-pass sum of its own output in
  // ConvIgemmCuda.ForwardStatsEpilogueGivesTheOutputsMoments, and a WRN with the fusion (on by
  // default) to the CPU twins in ConvIgemmCuda.WideResNetMatchesCpuTwins....
  if (d != Device::CPU) return;
  // BatchNorm uses the moments it is handed: other ones (sums shifted by n * delta) move its
  // recorded mean by delta.
  {
    BatchNorm2d bn(7, 0.1, 1e-5, DType::F32);
    bn.to(d);
    BnRecorder rec;
    bn.set_bn_recorder(&rec);
    ForwardOptions o;
    o.groups = {{true, "a"}, {false, "b"}, {false, "c"}};
    const Tensor y = conv2d_with_bn_moments(x, w, 1, 1, 3, &m);
    bn.forward_leaky_relu(y, o, 0.1, m);
    std::vector<double> shifted = m.to_vector();
    const double n = 2 * 64, delta = 0.5;
    for (int64_t i = 0; i < 3 * 7; ++i) shifted[i] += n * delta;
    bn.forward_leaky_relu(y, o, 0.1, Tensor::from_vector(shifted, m.shape(), DType::F64, d));
    const auto& r = rec.records();
    ASSERT_EQ(r.size(), 6u);
    for (size_t g = 0; g < 3; ++g)
      for (size_t c = 0; c < 7; ++c) EXPECT_NEAR(r[3 + g].mean[c], r[g].mean[c] + delta, 1e-6) << "group " << g;
    bn.set_bn_recorder(nullptr);
    // A Conv2d hands none to a BatchNorm that would split the groups into calls (grouped-bn off).
    Conv2d conv(5, 7, 3, 1, 1, false);
    conv.to(d);
    conv.weight.copy_from(w);
    Tensor got;
    conv.forward_with_bn_moments(x, o, &got);
    EXPECT_TRUE(got.defined());
    const FusionScope ungrouped(Fusion::GroupedBatchNorm, false);
    conv.forward_with_bn_moments(x, o, &got);
    EXPECT_FALSE(got.defined());
  }
  for (BnMode mode : {BnMode::Interleave}) {
    // The model uses the fusion where it applies: a WRN-10-1 on 8x8 images (one block per group)
    // fuses conv1 -> bn2 at the 8x8 and 4x4 maps (4 images x 16 pixels per group), not at 2x2.
    struct Profiling {  // (off again however the block ends)
      Profiling() { Profiler::reset(), Profiler::enable(true); }
      ~Profiling() { Profiler::enable(false); }
    } profiling;
    const ModelRun on = run_model(d, DType::F32, mode, BnUpdate::All, true, {Fusion::ConvBnStats});
    auto fused_calls = Profiler::totals();
    Profiler::reset();
    const ModelRun off = run_model(d, DType::F32, mode, BnUpdate::All, false, {Fusion::ConvBnStats});
    auto unfused_calls = Profiler::totals();
    EXPECT_EQ(fused_calls["conv forward + BN statistics"].second, 2);
    EXPECT_EQ(fused_calls["batchnorm (statistics given)"].second, 2);
    EXPECT_EQ(unfused_calls.count("conv forward + BN statistics") + unfused_calls.count("batchnorm (statistics given)"), 0u);
    const std::string what = bn_mode_name(mode);
    EXPECT_TRUE(all_close(on.logits, off.logits, reduction_tol(DType::F32))) << what;
    ASSERT_EQ(on.grads.size(), off.grads.size());
    for (size_t i = 0; i < on.grads.size(); ++i) {
      ASSERT_EQ(on.grads[i].defined(), off.grads[i].defined()) << what << " gradient " << i;
      if (!on.grads[i].defined()) continue;
      EXPECT_TRUE(all_close(on.grads[i], off.grads[i], {2e-3, 1e-4})) << what << " gradient " << i;
    }
    for (size_t i = 0; i < on.state.size(); ++i)
      EXPECT_TRUE(all_close(on.state[i], off.state[i], reduction_tol(DType::F32))) << what << " state " << i;
    EXPECT_EQ(on.counters, off.counters) << what;
    ASSERT_EQ(on.records.size(), off.records.size()) << what;
    for (size_t i = 0; i < on.records.size(); ++i) {
      EXPECT_EQ(on.records[i].layer, off.records[i].layer) << what << " record " << i;
      EXPECT_EQ(on.records[i].count, off.records[i].count) << what << " record " << i;
      for (size_t c = 0; c < on.records[i].var.size(); ++c) {
        EXPECT_NEAR(on.records[i].mean[c], off.records[i].mean[c], 1e-5) << what << " record " << i;
        EXPECT_NEAR(on.records[i].var[c], off.records[i].var[c], 1e-5 * (1 + off.records[i].var[c])) << what << " record " << i;
      }
    }
  }
}

// guess_labels runs the K views as one grouped pass: per-view BatchNorm statistics, the
// running statistics moved view by view, the same records; the convolutions run over K B
// images instead of B (other GEMM shapes on CUDA), so the guesses are equal to reduction
// tolerance, the statistics to float64 rounding of their sums.
TEST_P(Fusions, GroupedGuessEqualsOneForwardPerView) {
  const Device d = GetParam();
  for (DType t : {DType::F32, DType::F64}) {
    auto run = [&](bool grouped) {
      set_fusion_enabled(Fusion::GroupedBatchNorm, grouped);
      WideResNet model(wrn10(t, 0.1));
      model.to(d);
      BnRecorder rec;
      model.set_bn_recorder(&rec);
      ForwardOptions o;
      o.tag = "unlabeled";
      std::vector<Tensor> views;
      for (int k = 0; k < 2; ++k) views.push_back(rand_normal({4, 3, 8, 8}, 60, k, t, d));
      const Tensor q = guess_labels(model, views, 0.5, o);
      set_fusion_enabled(Fusion::GroupedBatchNorm, true);
      std::vector<Tensor> out{q};
      for (auto& [name, b] : model.named_buffers()) out.push_back(*b);
      std::vector<BnRecord> records = rec.records();
      return std::make_pair(out, records);
    };
    const auto [one, one_rec] = run(true);
    const auto [per_view, view_rec] = run(false);
    const std::string what = t == DType::F32 ? "float32" : "float64";
    ASSERT_EQ(one.size(), per_view.size());
    for (size_t i = 0; i < one.size(); ++i)
      EXPECT_TRUE(all_close(one[i], per_view[i], reduction_tol(t))) << what << (i == 0 ? " guess" : " running statistic");
    ASSERT_EQ(one_rec.size(), view_rec.size()) << what;
    ASSERT_GT(one_rec.size(), 3u);
    for (size_t i = 0; i < one_rec.size(); ++i) {
      EXPECT_EQ(one_rec[i].layer, view_rec[i].layer) << what << " record " << i;
      EXPECT_EQ(one_rec[i].count, view_rec[i].count) << what << " record " << i;
      for (size_t c = 0; c < one_rec[i].mean.size(); ++c)
        EXPECT_NEAR(one_rec[i].mean[c], view_rec[i].mean[c], t == DType::F32 ? 1e-4 : 1e-10) << what << " record " << i;
    }
  }
}

TEST_P(Fusions, RunningStatisticsInKernelEqualTheElementwiseUpdate) {
  const Device d = GetParam();
  for (DType t : {DType::F32, DType::F64}) {
    auto run = [&](bool in_kernel) {
      set_fusion_enabled(Fusion::BnRunningInKernel, in_kernel);
      BatchNorm2d bn(13, 0.2, 1e-5, t);
      bn.to(d);
      Tensor x = leaf(add(mul(rand_normal({12, 13, 5, 5}, 13, 0, t), 2.0), 1.0), d, false);
      ForwardOptions o;
      o.groups = {{true, "a"}, {false, "b"}, {true, "c"}};
      bn(x, o);
      bn(slice(x, 0, 4));  // one group
      set_fusion_enabled(Fusion::BnRunningInKernel, true);
      return std::vector<Tensor>{bn.running_mean, bn.running_var, Tensor::full({1}, double(bn.num_batches_tracked))};
    };
    auto kernel = run(true), elementwise = run(false);
    for (size_t i = 0; i < kernel.size(); ++i) expect_identical(kernel[i], elementwise[i], "running statistic " + std::to_string(i));
  }
}

TEST_P(Fusions, MultiTensorAdamAndEmaEqualPerTensorUpdates) {
  const Device d = GetParam();
  for (DType t : {DType::F32, DType::F64}) {
    // Adam over odd sizes around the tile (4096), one parameter without a gradient.
    auto adam_run = [&](bool multi) {
      set_fusion_enabled(Fusion::MultiTensor, multi);
      std::vector<Tensor> ps;
      std::vector<std::pair<std::string, Tensor*>> named;
      const std::vector<int64_t> sizes{1, 37, 4096, 4097, 9000, 5};
      for (size_t i = 0; i < sizes.size(); ++i) ps.push_back(leaf(rand_normal({sizes[i]}, 20 + i, 0, t), d));
      for (size_t i = 0; i < ps.size(); ++i) named.emplace_back("p" + std::to_string(i), &ps[i]);
      Adam adam(named, 0.01);
      for (int step = 0; step < 3; ++step) {
        for (auto& p : ps) p.zero_grad();
        Tensor loss;
        for (size_t i = 0; i + 1 < ps.size(); ++i) {  // the last one gets no gradient
          Tensor l = sum(mul(mul(ps[i], ps[i]), rand_normal(ps[i].shape(), 40 + i, step, t, d)));
          loss = loss.defined() ? add(loss, l) : l;
        }
        loss.backward();
        adam.step();
      }
      set_fusion_enabled(Fusion::MultiTensor, true);
      std::vector<Tensor> out;
      for (auto& p : ps) out.push_back(p.detach());
      for (auto& [n, s] : adam.state()) out.push_back(s);
      return out;
    };
    auto multi = adam_run(true), per = adam_run(false);
    for (size_t i = 0; i < multi.size(); ++i) expect_identical(multi[i], per[i], "Adam tensor " + std::to_string(i));

    // The EMA teacher in every scope, with the 0.02 lr decay of the student.
    for (EmaScope scope : {EmaScope::State, EmaScope::Params})
      for (DecayScope decay : {DecayScope::State, DecayScope::Params, DecayScope::Weights}) {
        auto ema_run = [&](bool multi) {
          set_fusion_enabled(Fusion::MultiTensor, multi);
          WideResNetConfig cfg;
          cfg.depth = 10;
          cfg.widen_factor = 1;
          cfg.dtype = t;
          WideResNet student(cfg), teacher(cfg);
          int64_t k = 0;
          for (auto& [n, p] : teacher.named_state()) p->copy_from(rand_normal(p->shape(), 60 + k++, 0, t));
          student.to(d);
          teacher.to(d);
          EmaSpec spec;
          spec.decay = 0.9;
          spec.weight_decay = 0.02 * 0.002;
          spec.scope = scope;
          spec.decay_scope = decay;
          ema_step(teacher, student, spec);
          ema_step(teacher, student, spec);
          set_fusion_enabled(Fusion::MultiTensor, true);
          std::vector<Tensor> out;
          for (auto* m : {&teacher, &student})
            for (auto& [n, p] : m->named_state()) out.push_back(p->clone());
          return out;
        };
        auto m = ema_run(true), p = ema_run(false);
        for (size_t i = 0; i < m.size(); ++i) expect_identical(m[i], p[i], "EMA tensor " + std::to_string(i));
      }
  }
}

INSTANTIATE_TEST_SUITE_P(Devices, Fusions, ::testing::Values(Device::CPU, Device::CUDA),
                         [](const auto& info) { return param_name(info.param); });

#ifdef MMENGINE_CUDA_EMULATED
#include "mmemu_counts.h"

// The device work of one interleaved MixMatch step (K = 2), counted by the emulator, with
// every fusion, without each one, and without all; each fusion must cut launches. Launch
// counts do not depend on the batch or image size, only on the depth: CI counts WRN-10-2;
// MMENGINE_COUNT_DEPTH=28 prints the real WRN-28-2 step's counts for docs/perf-notes.md
// (about 4 minutes in the emulator).
TEST(CudaLaunchCounts, StepWithAndWithoutEachFusion) {
  MM_SKIP_WITHOUT(Device::CUDA);
  WideResNetConfig wrn;
  const char* depth = std::getenv("MMENGINE_COUNT_DEPTH");
  wrn.depth = depth ? std::atoi(depth) : 10;
  WideResNet student(wrn), teacher(wrn);
  student.to(Device::CUDA);
  teacher.to(Device::CUDA);
  copy_state(student, teacher);
  Adam adam(student.named_parameters(), 0.002);
  StepBatch batch;
  const int64_t B = 2;
  batch.x = rand_normal({B, 3, 4, 4}, 1, 0, DType::F32, Device::CUDA);
  for (int k = 0; k < 2; ++k) batch.u.push_back(rand_normal({B, 3, 4, 4}, 2 + k, 0, DType::F32, Device::CUDA));
  batch.labels = {1, 2};
  TrainConfig cfg;
  cfg.epochs = 1;
  cfg.steps_per_epoch = 100;
  int64_t step = 0;
  auto count = [&] {
    const mmemu::WorkCounts before = mmemu::work_counts();
    mixmatch_step(student, &teacher, adam, batch, cfg, step++, 10);
    const mmemu::WorkCounts after = mmemu::work_counts();
    return mmemu::WorkCounts{after.kernels - before.kernels, after.gemms - before.gemms, after.copies - before.copies};
  };
  std::printf("WRN-%d-2, one interleaved MixMatch step:\n", static_cast<int>(wrn.depth));
  auto print = [](const std::string& what, const mmemu::WorkCounts& c) {
    std::printf("%-28s kernels %5llu  GEMMs %4llu  copies/fills %4llu\n", what.c_str(), (unsigned long long)c.kernels,
                (unsigned long long)c.gemms, (unsigned long long)c.copies);
  };
  const mmemu::WorkCounts fused = count();
  print("all fusions", fused);
  for (Fusion f : all_fusions()) {
    // (conv-bn-stats acts on the igemm backend only, not counted here; there it trades
    // BatchNorm's two statistics kernels for the epilogue's moments kernel and a combine: as
    // many launches, two passes over the activations fewer)
    if (f == Fusion::ConvBnStats) continue;
    set_fusion_enabled(f, false);
    const mmemu::WorkCounts c = count();
    set_fusion_enabled(f, true);
    print(std::string("without ") + fusion_name(f), c);
    EXPECT_LT(fused.kernels, c.kernels) << fusion_name(f);
  }
  for (Fusion f : all_fusions()) set_fusion_enabled(f, false);
  const mmemu::WorkCounts none = count();
  for (Fusion f : all_fusions()) set_fusion_enabled(f, true);
  print("no fusions", none);
  EXPECT_LT(fused.kernels + fused.gemms + fused.copies, none.kernels + none.gemms + none.copies);
}
#endif
