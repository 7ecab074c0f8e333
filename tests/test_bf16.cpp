// bfloat16 activations (--precision bf16; kernels/bf16.h). Every bf16 kernel computes in float
// what the float32 kernel computes on the same values and rounds each stored result once, so on
// one device a bf16 result must EQUAL the float32 kernel's result on the upcast operands,
// rounded (bit for bit): casts, add, the fused BatchNorm (training forward with groups, LeakyReLU
// and running statistics; backward; eval), and on the CPU the implicit-GEMM convolution's twins
// (forward, input and weight gradients, weights rounded to bf16 where read; on CUDA the bf16
// convolution uses the bf16 mma, whose FP32 sums run in another order than TF32's). The CUDA
// kernels are also compared with the CPU twins (the float sums differ in order, so one bf16
// rounding step apart at most), into NaN-poisoned outputs, on odd sizes. A WRN-10-1 forward and backward under bf16 stays within
// bf16 error of float32.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <unordered_set>

#include "engine/autograd.h"
#include "engine/conv_backend.h"
#include "engine/ops.h"
#include "engine/ops_nn.h"
#include "engine/precision.h"
#include "engine/rng.h"
#include "engine/safetensors.h"
#include "kernels/bf16.h"
#include "kernels/conv_igemm.h"
#include "layers/wideresnet.h"
#ifdef MMENGINE_WITH_CUDA
#include "engine/cuda/context.h"
#endif
#include "tests/test_util.h"

using namespace mmengine;
using namespace mmengine::testing;
using kernels::bf16;

namespace {
uint16_t bits_of(float f) { return bf16(f).bits; }

// float32 values that are exact in bf16 (so a float32 computation sees the bf16 operands).
Tensor bf16_values(const Shape& shape, uint64_t seed, Device d, double low = -1, double high = 1) {
  return cast(cast(rand_uniform(shape, seed, 0, DType::F32, d, low, high), DType::BF16), DType::F32);
}
Tensor rounded(const Tensor& t) { return cast(t.detach(), DType::BF16); }

// Bit-exact equality of two tensors' values (NaN fails).
::testing::AssertionResult same_values(const Tensor& got, const Tensor& want) {
  if (got.shape() != want.shape() || got.dtype() != want.dtype())
    return ::testing::AssertionFailure() << describe(got) << " vs " << describe(want);
  auto a = got.to_vector(), e = want.to_vector();
  for (size_t i = 0; i < a.size(); ++i)
    if (!(a[i] == e[i])) return ::testing::AssertionFailure() << "element " << i << ": " << a[i] << " vs " << e[i];
  return ::testing::AssertionSuccess();
}

// CUDA against the CPU twin: float sums in another order, then one rounding to bf16 each:
// |got - want| <= 2^-7 |want| + atol (atol covers the float summation error).
::testing::AssertionResult within_bf16_rounding(const Tensor& got, const Tensor& want, double atol) {
  return all_close(got, want, Tolerance{std::ldexp(1.0, -7), atol});
}
}  // namespace

TEST(Bf16, RoundsToNearestEvenAndKeepsSpecials) {
  EXPECT_EQ(bits_of(1.0f), 0x3f80);
  EXPECT_EQ(bits_of(-1.5f), 0xbfc0);
  EXPECT_EQ(bits_of(1.0f + std::ldexp(1.0f, -8)), 0x3f80) << "a tie rounds to the even neighbour (down)";
  EXPECT_EQ(bits_of(1.0f + 3 * std::ldexp(1.0f, -8)), 0x3f82) << "a tie rounds to the even neighbour (up)";
  EXPECT_EQ(bits_of(1.0f + std::ldexp(1.0f, -8) + std::ldexp(1.0f, -20)), 0x3f81) << "above a tie rounds up";
  EXPECT_EQ(bits_of(3.4e38f), 0x7f80) << "overflow gives infinity";
  EXPECT_EQ(bits_of(-INFINITY), 0xff80);
  EXPECT_TRUE(std::isnan(static_cast<float>(bf16(NAN))));
  EXPECT_EQ(bits_of(std::ldexp(1.0f, -133)), 0x0001) << "the smallest subnormal";
  for (float f : {0.0f, -0.0f, 0.15625f, 65280.0f, std::ldexp(1.0f, -126)})
    EXPECT_EQ(static_cast<float>(bf16(f)), f) << f << " is exact in bf16";
  // Tensors from doubles round once (not through float's rounding, which would make a tie).
  const double above_tie = 1.0 + std::ldexp(1.0, -8) + std::ldexp(1.0, -40);
  EXPECT_EQ(Tensor::from_vector({above_tie}, {1}, DType::BF16).to_vector()[0], 1.0 + std::ldexp(1.0, -7));
  EXPECT_EQ(Tensor::full({2}, 1.0 + std::ldexp(1.0, -8), DType::BF16).to_vector()[1], 1.0);
  EXPECT_EQ(dtype_size(DType::BF16), 2u);
  EXPECT_STREQ(dtype_name(DType::BF16), "bfloat16");
}

TEST(Bf16, OpsWithoutBf16KernelsAndCheckpointsRefuseIt) {
  Tensor x = Tensor::full({3, 4}, 0.5, DType::BF16);
  expect_error_containing([&] { exp(x); }, {"no bfloat16 kernel", "cast to float32"});
  expect_error_containing([&] { cast(Tensor::zeros({2}, DType::F64), DType::BF16); }, {"float32 <-> bfloat16"});
  expect_error_containing([&] { save_safetensors(::testing::TempDir() + "bf16.safetensors", {{"x", x}}); },
                          {"'x' is bfloat16", "checkpoints hold float32"});
  Tensor w = Tensor::zeros({2, 4, 3, 3}, DType::F32), xi = Tensor::zeros({1, 4, 5, 5}, DType::BF16);
  ConvBackendScope own(ConvBackend::Own);
  expect_error_containing([&] { conv2d(xi, w, Tensor(), 1, 1); }, {"bfloat16", "implicit-GEMM", "own"});
}

namespace {
void expect_cast_and_add(Device d) {
  PoisonScope poison;
  const Shape shape{37, 65, 43};
  Tensor x = rand_uniform(shape, 1, 0, DType::F32, d, -3, 3).set_requires_grad(true);
  Tensor h = cast(x, DType::BF16);
  ASSERT_EQ(h.dtype(), DType::BF16);
  const std::vector<double> xv = x.to_vector(), hv = h.to_vector();
  for (size_t i = 0; i < xv.size(); ++i)
    ASSERT_EQ(hv[i], static_cast<float>(bf16(static_cast<float>(xv[i])))) << "element " << i;
  // The gradient through the cast is rounded to bf16 and cast back.
  Tensor w = rand_uniform(shape, 2, 0, DType::F32, d, -1, 1);
  sum(mul(cast(h, DType::F32), w)).backward();
  EXPECT_TRUE(same_values(x.grad(), cast(rounded(w), DType::F32)));

  // add: the float sum of the two values, rounded once; its gradient passes through.
  Tensor a = cast(rand_uniform(shape, 3, 0, DType::F32, d, -2, 2), DType::BF16).set_requires_grad(true);
  Tensor b = cast(rand_uniform(shape, 4, 0, DType::F32, d, -2, 2), DType::BF16).set_requires_grad(true);
  Tensor s = add(a, b);
  ASSERT_EQ(s.dtype(), DType::BF16);
  EXPECT_TRUE(same_values(s, rounded(add(cast(a.detach(), DType::F32), cast(b.detach(), DType::F32)))));
  sum(mul(cast(s, DType::F32), w)).backward();
  EXPECT_TRUE(same_values(a.grad(), rounded(w)));
  EXPECT_TRUE(same_values(b.grad(), rounded(w)));
}
}  // namespace

TEST(Bf16, CastAndAddAreTheFloatResultRounded) { expect_cast_and_add(Device::CPU); }
#ifdef MMENGINE_WITH_CUDA
TEST(Bf16Cuda, CastAndAddAreTheFloatResultRounded) {
  MM_SKIP_WITHOUT(Device::CUDA);
  expect_cast_and_add(Device::CUDA);
}
#endif

namespace {
// One BatchNorm training call (3 row groups, fused LeakyReLU, running statistics) and its
// backward, on x of `dt` (bf16 or float32) with float32 parameters; everything it returns.
struct BnRun {
  Tensor y, mean, var, gx, ggamma, gbeta, running_mean, running_var, eval_y;
};
BnRun batch_norm_run(const Tensor& x_in, const Tensor& gy_in, DType dt, Device d) {
  const int64_t C = x_in.size(1);
  BnRun r;
  Tensor x = cast(x_in.detach().to(d), dt).set_requires_grad(true);
  Tensor gamma = rand_uniform({C}, 7, 0, DType::F32, d, 0.5, 1.5).set_requires_grad(true);
  Tensor beta = rand_uniform({C}, 8, 0, DType::F32, d, -0.5, 0.5).set_requires_grad(true);
  r.running_mean = rand_uniform({C}, 9, 0, DType::F32, d, -0.1, 0.1);
  r.running_var = rand_uniform({C}, 10, 0, DType::F32, d, 0.9, 1.1);
  BatchNormTrainOptions o;
  o.groups = 3;
  o.leaky_slope = 0.1;
  o.running_mean = r.running_mean;
  o.running_var = r.running_var;
  o.momentum = 0.01;
  o.update_mask = 0b101;
  BatchStats st;
  r.y = batch_norm_train(x, gamma, beta, 1e-5, &st, o);
  r.mean = st.mean;
  r.var = st.var;
  sum(mul(cast(r.y, DType::F32), cast(gy_in.detach().to(d), DType::F32))).backward();
  r.gx = x.grad();
  r.ggamma = gamma.grad();
  r.gbeta = beta.grad();
  NoGrad ng;
  r.eval_y = batch_norm_eval_fused(x.detach(), gamma.detach(), beta.detach(), r.running_mean, r.running_var, 1e-5, 0.1);
  return r;
}

void expect_batch_norm_is_float_rounded(Device d) {
  PoisonScope poison;
  const Shape shape{3 * 5, 7, 9, 11};
  Tensor x = bf16_values(shape, 11, Device::CPU, -2, 3), gy = bf16_values(shape, 12, Device::CPU);
  const BnRun h = batch_norm_run(x, gy, DType::BF16, d), f = batch_norm_run(x, gy, DType::F32, d);
  ASSERT_EQ(h.y.dtype(), DType::BF16);
  ASSERT_EQ(h.gx.dtype(), DType::BF16);
  ASSERT_EQ(h.ggamma.dtype(), DType::F32);
  EXPECT_TRUE(same_values(h.y, rounded(f.y))) << "forward";
  for (auto [got, want] : {std::pair{h.mean, f.mean}, {h.var, f.var}, {h.ggamma, f.ggamma}, {h.gbeta, f.gbeta},
                           {h.running_mean, f.running_mean}, {h.running_var, f.running_var}})
    EXPECT_TRUE(same_values(got, want)) << "float32 statistics and parameter gradients";
  EXPECT_TRUE(same_values(h.gx, rounded(f.gx))) << "input gradient";
  EXPECT_TRUE(same_values(h.eval_y, rounded(f.eval_y))) << "eval";
  if (d == Device::CPU) return;
  const BnRun c = batch_norm_run(x, gy, DType::BF16, Device::CPU);
  EXPECT_TRUE(within_bf16_rounding(h.y, c.y, 1e-6)) << "forward, CUDA vs CPU";
  EXPECT_TRUE(within_bf16_rounding(h.gx, c.gx, 1e-5)) << "input gradient, CUDA vs CPU";
  EXPECT_TRUE(all_close(h.ggamma, c.ggamma, reduction_tol(DType::F32)));
  EXPECT_TRUE(all_close(h.running_var, c.running_var, reduction_tol(DType::F32)));
  EXPECT_TRUE(within_bf16_rounding(h.eval_y, c.eval_y, 1e-6)) << "eval, CUDA vs CPU (CUDA's powf may differ by an ulp)";
}
}  // namespace

TEST(Bf16, BatchNormIsTheFloatKernelRounded) { expect_batch_norm_is_float_rounded(Device::CPU); }
#ifdef MMENGINE_WITH_CUDA
TEST(Bf16Cuda, BatchNormIsTheFloatKernelRoundedAndMatchesCpu) {
  MM_SKIP_WITHOUT(Device::CUDA);
  expect_batch_norm_is_float_rounded(Device::CUDA);
}
#endif

namespace {
struct ConvRun {
  Tensor y, gx, gw;
};
// conv2d on the implicit-GEMM kernels with activations of `dt` and float32 weights w.
ConvRun conv_run(const Tensor& x_in, const Tensor& w_in, const Tensor& gy_in, int64_t stride, int64_t pad, DType dt,
                 Device d) {
  ConvBackendScope igemm(ConvBackend::Igemm);
  Tensor x = cast(x_in.to(d), dt).set_requires_grad(true);
  Tensor w = w_in.to(d).set_requires_grad(true);
  ConvRun r;
  r.y = conv2d(x, w, Tensor(), stride, pad);
  sum(mul(cast(r.y, DType::F32), gy_in.to(d))).backward();
  r.gx = x.grad();
  r.gw = w.grad();
  return r;
}

void expect_conv_is_float_on_rounded_operands(Device d) {
  PoisonScope poison;
  // Odd sizes, 3x3 and 1x1, stride 1 and 2, padding 0 and 1; the last one's weight gradient
  // splits (tests/test_conv_igemm.cpp).
  struct Shape4 {
    int64_t n, c, h, w, cout, k, stride, pad;
  };
  for (const Shape4& s : {Shape4{2, 3, 7, 6, 5, 3, 1, 1}, Shape4{3, 17, 9, 11, 33, 3, 2, 1},
                          Shape4{2, 16, 8, 8, 32, 1, 2, 0}, Shape4{4, 3, 20, 20, 16, 3, 1, 1}}) {
    Tensor x = bf16_values({s.n, s.c, s.h, s.w}, 21, Device::CPU);
    Tensor w = rand_uniform({s.cout, s.c, s.k, s.k}, 22, 0, DType::F32, Device::CPU, -0.5, 0.5);
    const int64_t oh = (s.h + 2 * s.pad - s.k) / s.stride + 1, ow = (s.w + 2 * s.pad - s.k) / s.stride + 1;
    Tensor gy = bf16_values({s.n, s.cout, oh, ow}, 23, Device::CPU);
    const ConvRun h = conv_run(x, w, gy, s.stride, s.pad, DType::BF16, d);
    // The float32 kernels on the same values: weights rounded to bf16 as the bf16 kernels read them.
    const ConvRun f = conv_run(x, cast(rounded(w), DType::F32), gy, s.stride, s.pad, DType::F32, d);
    const std::string what = "N " + std::to_string(s.n) + " Cin " + std::to_string(s.c) + " Cout " +
                             std::to_string(s.cout) + " k " + std::to_string(s.k) + " stride " + std::to_string(s.stride);
    ASSERT_EQ(h.y.dtype(), DType::BF16) << what;
    ASSERT_EQ(h.gw.dtype(), DType::F32) << what;
    if (d == Device::CPU) {  // the CPU twins: the same float GEMMs on the same values
      EXPECT_TRUE(same_values(h.y, rounded(f.y))) << what << ": forward";
      EXPECT_TRUE(same_values(h.gx, rounded(f.gx))) << what << ": input gradient";
      EXPECT_TRUE(same_values(h.gw, f.gw)) << what << ": weight gradient";
      continue;
    }
    // CUDA: bf16 mma.m16n8k16 sums 16 products per instruction where the TF32 kernels' m16n8k8
    // sums 8: the same exact products, FP32 sums in another order (then one bf16 rounding). Against
    // the float kernels on the device and against the CPU twins, within that.
    const ConvRun c = conv_run(x, w, gy, s.stride, s.pad, DType::BF16, Device::CPU);
    const double u = std::ldexp(1.0, -24);  // |operands| <= 1: a sum of n products errs by <= ~n u
    const double fwd = 4 * double(s.c * s.k * s.k) * u, dgrad = 4 * double(s.cout * s.k * s.k) * u,
                 wgrad = 4 * double(s.n * oh * ow) * u;
    for (const ConvRun* want : {&f, &c}) {
      const char* against = want == &f ? "the float kernels on the device" : "the CPU twins";
      EXPECT_TRUE(within_bf16_rounding(h.y, want->y, fwd)) << what << ": forward against " << against;
      EXPECT_TRUE(within_bf16_rounding(h.gx, want->gx, dgrad)) << what << ": input gradient against " << against;
      EXPECT_TRUE(all_close(h.gw, want->gw, Tolerance{1e-5, wgrad})) << what << ": weight gradient against " << against;
    }
  }
}
}  // namespace

TEST(Bf16, ConvIgemmIsTheFloatKernelOnRoundedOperands) { expect_conv_is_float_on_rounded_operands(Device::CPU); }
#ifdef MMENGINE_WITH_CUDA
TEST(Bf16Cuda, ConvIgemmIsTheFloatKernelOnRoundedOperandsAndMatchesCpu) {
  MM_SKIP_WITHOUT(Device::CUDA);
  expect_conv_is_float_on_rounded_operands(Device::CUDA);
}

// The bf16 halo kernels against the CPU twins: the stride-1 forward
// and input gradient (bf16 products, two channels per shared word, stages of 16) within one bf16
// rounding of FP32 summation error; the 3x3 weight gradient (TF32 products of the bf16 values)
// equal bit for bit to the float32 halo kernel on the same values, and within FP32 summation
// error of the CPU twin. Every tile width (output rows of <= 8, <= 16, > 16 pixels, two tiles
// across; rectangles overhanging the output), input channels in part of one stage, exactly one,
// an odd one past it (the last pair's high half past the last channel) and several, output
// channels over one to three column tiles, 1x1 and 3x3 with padding 0-2 (the input gradient's
// window padding 2-0); outputs and workspaces poisoned. conv2d's passes under the halo setting
// are the launchers' results bit for bit (the dispatch: igemm_tiling_for, tested in
// test_conv_igemm.cpp).
TEST(Bf16Cuda, HaloConvMatchesTheCpuTwins) {
  MM_SKIP_WITHOUT(Device::CUDA);
  PoisonScope poison;
  struct Shape4 {
    int64_t n, c, h, w, cout, k, pad;
  };
  for (const Shape4& s : {Shape4{2, 3, 7, 6, 5, 3, 1}, Shape4{1, 17, 21, 35, 33, 3, 1}, Shape4{2, 40, 16, 16, 64, 3, 1},
                          Shape4{1, 5, 13, 7, 70, 1, 0}, Shape4{2, 7, 10, 10, 130, 3, 0}, Shape4{1, 3, 5, 9, 20, 3, 2},
                          Shape4{3, 16, 8, 8, 24, 3, 1}, Shape4{1, 32, 8, 16, 16, 3, 1}}) {
    const kernels::ConvGeometry g{s.n, s.c, s.h, s.w, s.k, s.k, 1, s.pad};
    const std::string what = "N " + std::to_string(s.n) + " Cin " + std::to_string(s.c) + " " + std::to_string(s.h) +
                             "x" + std::to_string(s.w) + " Cout " + std::to_string(s.cout) + " k " + std::to_string(s.k) +
                             " pad " + std::to_string(s.pad);
    ASSERT_EQ(igemm_tiling_for(ConvPass::Forward, g, DType::BF16), IgemmTiling::Gather) << what;  // (setting: gather)
    Tensor x = cast(bf16_values({s.n, s.c, s.h, s.w}, 31, Device::CPU), DType::BF16);
    Tensor w = rand_uniform({s.cout, s.c, s.k, s.k}, 32, 0, DType::F32, Device::CPU, -0.5, 0.5);
    Tensor gy = cast(bf16_values({s.n, s.cout, g.out_h(), g.out_w()}, 33, Device::CPU), DType::BF16);
    Tensor cx = x.to(Device::CUDA), cw = w.to(Device::CUDA), cgy = gy.to(Device::CUDA);

    Tensor want_y = Tensor::empty(gy.shape(), DType::BF16), want_gx = Tensor::empty(x.shape(), DType::BF16);
    kernels::conv_igemm_forward_cpu(g, s.cout, x.data<bf16>(), w.data<float>(), want_y.data<bf16>());
    kernels::conv_igemm_grad_input_cpu(g, s.cout, w.data<float>(), gy.data<bf16>(), want_gx.data<bf16>());
    // (new tensors are NaN-poisoned in this scope: outputs and the weight workspace)
    Tensor work = Tensor::empty({kernels::conv_igemm_halo_workspace_cuda(g, s.cout)}, DType::F32, Device::CUDA);
    Tensor y = Tensor::empty(gy.shape(), DType::BF16, Device::CUDA), gx = Tensor::empty(x.shape(), DType::BF16, Device::CUDA);
    kernels::conv_igemm_forward_halo_cuda(g, s.cout, cx.data<bf16>(), cw.data<float>(), y.data<bf16>(),
                                          work.data<float>(), cuda_stream());
    work.poison_();
    kernels::conv_igemm_grad_input_halo_cuda(g, s.cout, cw.data<float>(), cgy.data<bf16>(), gx.data<bf16>(),
                                             work.data<float>(), cuda_stream());

    const double u = std::ldexp(1.0, -24);  // |operands| <= 1: a sum of n products errs by <= ~n u
    const double fwd = 4 * double(s.c * s.k * s.k) * u, dgrad = 4 * double(s.cout * s.k * s.k) * u;
    EXPECT_TRUE(within_bf16_rounding(y, want_y, fwd)) << what << ": forward against the CPU twin";
    EXPECT_TRUE(within_bf16_rounding(gx, want_gx, dgrad)) << what << ": input gradient against the CPU twin";
    // Tighter: against the float32 sums of the same values (weights rounded to bf16 as the kernels
    // read them), one round-to-nearest to bf16 is at most 2^-8 relative (a truncation up to 2^-7).
    const Tensor fx = cast(x, DType::F32), fw = cast(rounded(w), DType::F32), fgy = cast(gy, DType::F32);
    Tensor sum_y = Tensor::empty(gy.shape()), sum_gx = Tensor::empty(x.shape());
    kernels::conv_igemm_forward_cpu(g, s.cout, fx.data<float>(), fw.data<float>(), sum_y.data<float>());
    kernels::conv_igemm_grad_input_cpu(g, s.cout, fw.data<float>(), fgy.data<float>(), sum_gx.data<float>());
    const double half_ulp = std::ldexp(1.0, -8);
    EXPECT_TRUE(all_close(y, sum_y, Tolerance{half_ulp, 2 * fwd})) << what << ": forward, rounded to nearest";
    EXPECT_TRUE(all_close(gx, sum_gx, Tolerance{half_ulp, 2 * dgrad})) << what << ": input gradient, rounded to nearest";

    Tensor gw;
    if (kernels::igemm_halo_wgrad_supported(g)) {
      const int64_t ws = std::max<int64_t>(kernels::conv_igemm_halo_wgrad_workspace_cuda(g, s.cout), 1);
      Tensor wwork = Tensor::empty({ws}, DType::F32, Device::CUDA);
      gw = Tensor::empty(w.shape(), DType::F32, Device::CUDA);
      kernels::conv_igemm_grad_weight_halo_cuda(g, s.cout, cx.data<bf16>(), cgy.data<bf16>(), gw.data<float>(),
                                                wwork.data<float>(), cuda_stream());
      const Tensor fx = cast(cx, DType::F32), fgy = cast(cgy, DType::F32);
      Tensor fgw = Tensor::empty(w.shape(), DType::F32, Device::CUDA);
      wwork.poison_();
      kernels::conv_igemm_grad_weight_halo_cuda(g, s.cout, fx.data<float>(), fgy.data<float>(), fgw.data<float>(),
                                                wwork.data<float>(), cuda_stream());
      EXPECT_TRUE(same_values(gw, fgw)) << what << ": weight gradient against the float32 halo kernel";
      Tensor rgw = Tensor::empty(w.shape(), DType::F32, Device::CUDA);
      wwork.poison_();
      kernels::conv_igemm_grad_weight_halo_rows_cuda(g, s.cout, cx.data<bf16>(), cgy.data<bf16>(), rgw.data<float>(),
                                                     wwork.data<float>(), cuda_stream());
      EXPECT_TRUE(same_values(rgw, gw)) << what << ": the row layout's weight gradient";
      Tensor want_gw = Tensor::empty(w.shape(), DType::F32);
      kernels::conv_igemm_grad_weight_cpu(g, s.cout, x.data<bf16>(), gy.data<bf16>(), want_gw.data<float>(), nullptr);
      const double wgrad = 4 * double(s.n * g.out_h() * g.out_w()) * u;
      EXPECT_TRUE(all_close(gw, want_gw, Tolerance{1e-5, wgrad})) << what << ": weight gradient against the CPU twin";
    }

    IgemmTilingScope halo(IgemmTiling::Halo);
    ConvBackendScope igemm(ConvBackend::Igemm);
    ASSERT_EQ(igemm_tiling_for(ConvPass::Forward, g, DType::BF16), IgemmTiling::Halo) << what;
    ASSERT_EQ(igemm_tiling_for(ConvPass::GradInput, g, DType::BF16), IgemmTiling::Halo) << what;
    EXPECT_TRUE(same_values(conv2d_pass(ConvPass::Forward, cx, cw, Tensor(), 1, s.pad), y)) << what << ": conv2d forward";
    EXPECT_TRUE(same_values(conv2d_pass(ConvPass::GradInput, cx, cw, cgy, 1, s.pad), gx)) << what << ": conv2d input gradient";
    if (gw.defined()) {
      EXPECT_TRUE(same_values(conv2d_pass(ConvPass::GradWeight, cx, cw, cgy, 1, s.pad), gw)) << what << ": conv2d weight gradient";
      set_igemm_tiling(IgemmTiling::HaloRows);  // (the scope above restores the setting)
      ASSERT_EQ(igemm_tiling_for(ConvPass::GradWeight, g, DType::BF16), IgemmTiling::HaloRows) << what;
      EXPECT_TRUE(same_values(conv2d_pass(ConvPass::GradWeight, cx, cw, cgy, 1, s.pad), gw))
          << what << ": conv2d weight gradient under halo-rows";
    }
  }
}
#endif

// --conv-bias on (the google recipe) under bf16: the float32 bias is added in float32 to the
// convolution's bf16 output and the sum rounded once; its gradient is float32.
TEST(Bf16, ConvBiasIsAddedInFloat32) {
  ConvBackendScope igemm(ConvBackend::Igemm);
  Tensor x = cast(rand_uniform({2, 3, 7, 6}, 41, 0, DType::F32, Device::CPU, -1, 1), DType::BF16);
  Tensor w = rand_uniform({5, 3, 3, 3}, 42, 0, DType::F32, Device::CPU, -0.5, 0.5);
  Tensor b = rand_uniform({5}, 43, 0, DType::F32, Device::CPU, -1, 1).set_requires_grad(true);
  Tensor y = conv2d(x, w, b, 1, 1);
  ASSERT_EQ(y.dtype(), DType::BF16);
  EXPECT_TRUE(same_values(y, rounded(add_channel(cast(conv2d(x, w, Tensor(), 1, 1), DType::F32), b.detach()))));
  sum(cast(y, DType::F32)).backward();
  ASSERT_EQ(b.grad().dtype(), DType::F32);
  EXPECT_EQ(b.grad().to_vector(), std::vector<double>(5, 2.0 * 7 * 6));
}

namespace {
// A WRN-10-1 forward and backward in training mode under a precision: logits and every
// parameter gradient (float32 in both).
struct ModelRun {
  Tensor logits;
  std::vector<Tensor> grads;
  int64_t bf16_operands = 0;  // bfloat16 inputs of the recorded ops (convolutions, BatchNorm, add, casts)
};
// Walks the autograd graph below `root` and counts the bfloat16 inputs of its ops.
int64_t count_bf16_inputs(const Tensor& root) {
  int64_t n = 0;
  std::vector<const Node*> stack{root.grad_fn().get()};
  std::unordered_set<const Node*> visited;
  while (!stack.empty()) {
    const Node* node = stack.back();
    stack.pop_back();
    if (!node || !visited.insert(node).second) continue;
    for (const Tensor& in : node->inputs)
      if (in.defined()) {
        n += in.dtype() == DType::BF16;
        stack.push_back(in.grad_fn().get());
      }
  }
  return n;
}
ModelRun model_run(Precision p, Device d) {
  WideResNetConfig mc;
  mc.depth = 10;
  mc.widen_factor = 1;
  WideResNet model(mc);
  model.to(d);
  const PrecisionScope scope(p, d, DType::F32);
  Tensor x = rand_normal({6, 3, 16, 16}, 31, 0, DType::F32, d);
  ModelRun r;
  r.logits = model(x, ForwardOptions{});
  r.bf16_operands = count_bf16_inputs(r.logits);
  sum(mul(r.logits, rand_normal(r.logits.shape(), 32, 0, DType::F32, d))).backward();
  for (auto& [name, t] : model.named_parameters()) r.grads.push_back(t->grad());
  return r;
}
double relative_distance(const Tensor& a, const Tensor& b) {
  auto x = a.to_vector(), y = b.to_vector();
  double num = 0, den = 0;
  for (size_t i = 0; i < x.size(); ++i) num += (x[i] - y[i]) * (x[i] - y[i]), den += y[i] * y[i];
  return std::sqrt(num / std::max(den, 1e-300));
}
void expect_model_near_float(Device d) {
  const ModelRun h = model_run(Precision::Bf16, d), f = model_run(Precision::Fp32, d);
  ASSERT_EQ(h.logits.dtype(), DType::F32);
  // Every convolution and BatchNorm of WRN-10-1 took bfloat16 activations under bf16 (9 and 7,
  // plus the residual adds and the cast before pooling), none under fp32.
  EXPECT_GE(h.bf16_operands, 18);
  EXPECT_EQ(f.bf16_operands, 0);
  // bf16 keeps 8 significant bits (relative rounding <= 2^-9 per stored value); through 10
  // layers of BatchNorm and convolution the errors add up to a few times that in the logits.
  // The parameter gradients of this small untrained net (BatchNorm over few values) move more:
  // TF32 (3 more bits) moves them by 3-8 % (tests/test_conv_igemm.cpp), bf16 by ~11 % here
  // (measured 2026-11-27: logits 4.4e-3, worst gradient 0.111); a kernel bug moves them by O(1).
  EXPECT_LT(relative_distance(h.logits, f.logits), 0.03);
  ASSERT_EQ(h.grads.size(), f.grads.size());
  double worst = 0;
  for (size_t i = 0; i < h.grads.size(); ++i) {
    ASSERT_EQ(h.grads[i].defined(), f.grads[i].defined());
    if (!h.grads[i].defined()) continue;  // a parameter the forward does not use (the port's quirk)
    ASSERT_EQ(h.grads[i].dtype(), DType::F32);
    worst = std::max(worst, relative_distance(h.grads[i], f.grads[i]));
  }
  EXPECT_LT(worst, 0.25) << "the worst parameter gradient's relative distance to float32";
  std::printf("WRN-10-1 bf16 vs fp32: logits %.2e, worst parameter gradient %.2e (relative L2)\n",
              relative_distance(h.logits, f.logits), worst);
  EXPECT_EQ(activation_dtype(), DType::F32) << "the scope ended";
}
}  // namespace

TEST(Bf16, WideResNetForwardBackwardStaysNearFloat32) { expect_model_near_float(Device::CPU); }
#ifdef MMENGINE_WITH_CUDA
TEST(Bf16Cuda, WideResNetForwardBackwardStaysNearFloat32) {
  MM_SKIP_WITHOUT(Device::CUDA);
  expect_model_near_float(Device::CUDA);
}
#endif
