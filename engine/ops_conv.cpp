#include "engine/autograd.h"
#include "engine/conv_backend.h"
#include "engine/dispatch.h"
#include "engine/kernel_version.h"
#include "engine/profiler.h"
#include "engine/ops_nn.h"
#include "kernels/bf16.h"
#include "kernels/conv.h"
#include "kernels/conv_igemm.h"
#include "kernels/gemm.h"
#ifdef MMENGINE_WITH_CUDNN
#include "engine/cuda/conv_cudnn.h"
#endif

namespace mmengine {

namespace {
using kernels::ConvGeometry;

// The backend a convolution on this device and dtype runs on: the setting for CUDA tensors
// (the CPU has only the own kernels), except that igemm is float32 only (float64 keeps the own
// kernels) and runs on the CPU too, as its CPU twins (the reference convolution on
// TF32-rounded inputs; for igemm-3xtf32 the plain FP32 reference), so a CPU run reproduces its
// numerics. conv2d picks the backend once, at the forward; its backward uses the same. bfloat16
// activations run on igemm only (on the CPU as its twins); another backend setting is an error,
// not a silent switch.
ConvBackend backend_for(Device d, DType t) {
  const ConvBackend b = conv_backend();
  if (t == DType::BF16) {
    MM_CHECK(b == ConvBackend::Igemm, "conv2d: bfloat16 activations run on the implicit-GEMM kernels, but the "
                                      "convolution backend is ", enum_name(kConvBackends, b),
             " (--precision bf16 selects igemm; MMENGINE_CONV=own|igemm-3xtf32|cudnn have no bfloat16 path)");
    return b;
  }
  if (uses_igemm(b)) return t == DType::F32 ? b : ConvBackend::Own;
  return d == Device::CUDA ? b : ConvBackend::Own;
}

// The current CUDA kernels run each convolution GEMM once over the whole batch, on the wide
// layouts of kernels/conv.h (columns [K, N*HWo], images as channel rows [C, N*HW]); the CPU
// and the v1/v0 kernels run one GEMM per image (batched).
bool wide_gemms(Device d) { return d == Device::CUDA && kernel_version() == KernelVersion::Current; }

// y[n] = W [Cout, K] x cols[n] [K, HW]; wide: Y [Cout, N*HW] = W x cols [K, N*HW], then NCHW.
Tensor conv_forward_own(const ConvGeometry& g, int64_t cout, const Tensor& x, const Tensor& w) {
  const int64_t K = g.col_rows(), HW = g.col_cols();
  if (wide_gemms(x.device())) {
    Tensor cols = Tensor::empty({K, g.batch * HW}, x.dtype(), x.device());
    Tensor rows = Tensor::empty({cout, g.batch * HW}, x.dtype(), x.device());
    Tensor y = Tensor::empty({g.batch, cout, g.out_h(), g.out_w()}, x.dtype(), x.device());
    MM_DISPATCH_FLOAT(x.dtype(), T, {
      MM_KERNEL(x.device(), im2col_wide, T)(g, x.data<T>(), cols.data<T>());
      MM_KERNEL(x.device(), gemm, T)(false, false, cout, g.batch * HW, K, T(1), w.data<T>(), cols.data<T>(), T(0),
                                    rows.data<T>());
      MM_KERNEL(x.device(), from_channel_rows, T)(rows.data<T>(), y.data<T>(), g.batch, cout, HW);
    });
    return y;
  }
  Tensor cols = Tensor::empty({g.batch, K, HW}, x.dtype(), x.device());
  Tensor y = Tensor::empty({g.batch, cout, g.out_h(), g.out_w()}, x.dtype(), x.device());
  MM_DISPATCH_FLOAT(x.dtype(), T, {
    MM_KERNEL(x.device(), im2col, T)(g, x.data<T>(), cols.data<T>());
    MM_KERNEL(x.device(), gemm_batched, T)(false, false, cout, HW, K, T(1), w.data<T>(), 0, cols.data<T>(), K * HW, T(0),
                                          y.data<T>(), cout * HW, g.batch);
  });
  return y;
}

// gx = col2im(W^T x gy[n]); wide: gcols [K, N*HW] = W^T x gy as channel rows [Cout, N*HW].
Tensor conv_grad_input_own(const ConvGeometry& g, int64_t cout, const Tensor& w, const Tensor& gy) {
  const int64_t K = g.col_rows(), HW = g.col_cols();
  if (wide_gemms(gy.device())) {
    Tensor rows = Tensor::empty({cout, g.batch * HW}, gy.dtype(), gy.device());
    Tensor gcols = Tensor::empty({K, g.batch * HW}, gy.dtype(), gy.device());
    Tensor gx = Tensor::empty({g.batch, g.in_channels, g.height, g.width}, gy.dtype(), gy.device());
    MM_DISPATCH_FLOAT(gy.dtype(), T, {
      MM_KERNEL(gy.device(), to_channel_rows, T)(gy.data<T>(), rows.data<T>(), g.batch, cout, HW);
      MM_KERNEL(gy.device(), gemm, T)(true, false, K, g.batch * HW, cout, T(1), w.data<T>(), rows.data<T>(), T(0),
                                     gcols.data<T>());
      MM_KERNEL(gy.device(), col2im_wide, T)(g, gcols.data<T>(), gx.data<T>());
    });
    return gx;
  }
  Tensor gcols = Tensor::empty({g.batch, K, HW}, gy.dtype(), gy.device());
  Tensor gx = Tensor::empty({g.batch, g.in_channels, g.height, g.width}, gy.dtype(), gy.device());
  MM_DISPATCH_FLOAT(gy.dtype(), T, {
    MM_KERNEL(gy.device(), gemm_batched, T)(true, false, K, HW, cout, T(1), w.data<T>(), 0, gy.data<T>(), cout * HW, T(0),
                                           gcols.data<T>(), K * HW, g.batch);
    MM_KERNEL(gy.device(), col2im, T)(g, gcols.data<T>(), gx.data<T>());
  });
  return gx;
}

// KernelVersion::V0's weight gradient: one GEMM per image (the benchmark baseline).
void grad_weight_v0(int64_t cout, int64_t K, int64_t HW, const Tensor& gy, const Tensor& cols, Tensor& gw,
                    int64_t batch) {
#ifdef MMENGINE_WITH_CUDA
  MM_DISPATCH_FLOAT(gy.dtype(), T, kernels::gemm_batched_sum_v0_cuda<T>(false, true, cout, K, HW, gy.data<T>(), cout * HW,
                                                                          cols.data<T>(), K * HW, gw.data<T>(), batch,
                                                                          cuda_stream()));
#else
  (void)cout, (void)K, (void)HW, (void)gy, (void)cols, (void)gw, (void)batch;
  MM_FAIL("v0 kernels: this build has no CUDA");
#endif
}

// gw = sum_n gy[n] [Cout, HW] x cols[n]^T [HW, K]; the columns are recomputed, not saved.
// CUDA: one GEMM over the whole batch, gy as [Cout, N*HW] times the columns as [K, N*HW]^T
// (v1: a strided-batched GEMM into a workspace + an ordered sum; v0: a GEMM per image). CPU:
// per-thread partial sums of per-image GEMMs (kernels/gemm.h).
Tensor conv_grad_weight_own(const ConvGeometry& g, int64_t cout, const Tensor& x, const Tensor& gy) {
  const int64_t K = g.col_rows(), HW = g.col_cols();
  Tensor gw = Tensor::empty({cout, g.in_channels, g.kernel_h, g.kernel_w}, x.dtype(), x.device());
  const bool cuda = x.device() == Device::CUDA;
  const KernelVersion version = cuda ? kernel_version() : KernelVersion::V1;  // the CPU's form is v1's
  if (version == KernelVersion::Current) {
    Tensor cols = Tensor::empty({K, g.batch * HW}, x.dtype(), x.device());
    Tensor rows = Tensor::empty({cout, g.batch * HW}, x.dtype(), x.device());
    MM_DISPATCH_FLOAT(x.dtype(), T, {
      MM_KERNEL(x.device(), im2col_wide, T)(g, x.data<T>(), cols.data<T>());
      MM_KERNEL(x.device(), to_channel_rows, T)(gy.data<T>(), rows.data<T>(), g.batch, cout, HW);
      MM_KERNEL(x.device(), gemm, T)(false, true, cout, K, g.batch * HW, T(1), rows.data<T>(), cols.data<T>(), T(0),
                                    gw.data<T>());
    });
    return gw;
  }
  Tensor cols = Tensor::empty({g.batch, K, HW}, x.dtype(), x.device());
  MM_DISPATCH_FLOAT(x.dtype(), T, MM_KERNEL(x.device(), im2col, T)(g, x.data<T>(), cols.data<T>()));
  if (version == KernelVersion::V0) {
    grad_weight_v0(cout, K, HW, gy, cols, gw, g.batch);
    return gw;
  }
  // The CUDA sum needs the per-image products side by side (batch x cout x K); the CPU none.
  Tensor work = cuda ? Tensor::empty({g.batch, cout, K}, x.dtype(), x.device()) : Tensor();
  MM_DISPATCH_FLOAT(x.dtype(), T, {
    MM_KERNEL(x.device(), gemm_batched_sum, T)(false, true, cout, K, HW, gy.data<T>(), cout * HW, cols.data<T>(),
                                              K * HW, gw.data<T>(), g.batch, work.defined() ? work.data<T>() : nullptr);
  });
  return gw;
}

// The implicit-GEMM kernels or their CPU twins: float32 or bfloat16 activations (A), float32
// weights and weight gradient.
template <typename F>
void with_activation_type(DType t, F f) {
  if (t == DType::BF16) f(kernels::bf16{});
  else f(float{});
}
bool use_halo(ConvPass pass, const ConvGeometry& g, DType t) { return igemm_tiling_for(pass, g, t) != IgemmTiling::Gather; }
Tensor halo_workspace(const ConvGeometry& g, int64_t cout, Device d) {
  const int64_t ws = MM_KERNEL_FN(d, conv_igemm_halo_workspace)(g, cout);
  return ws > 0 ? Tensor::empty({ws}, DType::F32, d) : Tensor();
}
float* data_or_null(Tensor& t) { return t.defined() ? t.data<float>() : nullptr; }

// split: the 3xTF32 launchers (float32 only). Each pass runs the halo or the gather kernels
// (igemm_tiling_for), the halo ones with their workspace.
Tensor conv_forward_igemm(const ConvGeometry& g, int64_t cout, const Tensor& x, const Tensor& w, bool split) {
  const Device d = x.device();
  Tensor y = Tensor::empty({g.batch, cout, g.out_h(), g.out_w()}, x.dtype(), d);
  const bool halo = use_halo(ConvPass::Forward, g, x.dtype());
  Tensor work = halo ? halo_workspace(g, cout, d) : Tensor();
  if (split) {
    const float *xp = x.data<float>(), *wp = w.data<float>();
    if (halo) MM_KERNEL_NT(d, conv_igemm_forward_halo_split)(g, cout, xp, wp, y.data<float>(), data_or_null(work));
    else MM_KERNEL_NT(d, conv_igemm_forward_split)(g, cout, xp, wp, y.data<float>());
    return y;
  }
  with_activation_type(x.dtype(), [&](auto a) {
    using A = decltype(a);
    const A* xp = x.data<A>();
    if (halo) MM_KERNEL(d, conv_igemm_forward_halo, A)(g, cout, xp, w.data<float>(), y.data<A>(), data_or_null(work));
    else MM_KERNEL(d, conv_igemm_forward, A)(g, cout, xp, w.data<float>(), y.data<A>());
  });
  return y;
}
Tensor conv_grad_input_igemm(const ConvGeometry& g, int64_t cout, const Tensor& w, const Tensor& gy, bool split) {
  const Device d = gy.device();
  Tensor gx = Tensor::empty({g.batch, g.in_channels, g.height, g.width}, gy.dtype(), d);
  const bool halo = use_halo(ConvPass::GradInput, g, gy.dtype());
  Tensor work = halo ? halo_workspace(g, cout, d) : Tensor();
  if (split) {
    const float *wp = w.data<float>(), *gyp = gy.data<float>();
    if (halo) MM_KERNEL_NT(d, conv_igemm_grad_input_halo_split)(g, cout, wp, gyp, gx.data<float>(), data_or_null(work));
    else MM_KERNEL_NT(d, conv_igemm_grad_input_split)(g, cout, wp, gyp, gx.data<float>());
    return gx;
  }
  with_activation_type(gy.dtype(), [&](auto a) {
    using A = decltype(a);
    const A* gyp = gy.data<A>();
    if (halo) MM_KERNEL(d, conv_igemm_grad_input_halo, A)(g, cout, w.data<float>(), gyp, gx.data<A>(), data_or_null(work));
    else MM_KERNEL(d, conv_igemm_grad_input, A)(g, cout, w.data<float>(), gyp, gx.data<A>());
  });
  return gx;
}
Tensor conv_grad_weight_igemm(const ConvGeometry& g, int64_t cout, const Tensor& x, const Tensor& gy, bool split) {
  const Device d = gy.device();
  Tensor gw = Tensor::empty({cout, g.in_channels, g.kernel_h, g.kernel_w}, DType::F32, d);
  const IgemmTiling tiling = igemm_tiling_for(ConvPass::GradWeight, g, gy.dtype());
  const bool halo = tiling != IgemmTiling::Gather;
  const int64_t ws = halo ? MM_KERNEL_FN(d, conv_igemm_halo_wgrad_workspace)(g, cout)
                          : MM_KERNEL_FN(d, conv_igemm_workspace)(g, cout);
  Tensor work = ws > 0 ? Tensor::empty({ws}, DType::F32, d) : Tensor();
  if (split) {
    const float *xp = x.data<float>(), *gyp = gy.data<float>();
    if (halo) MM_KERNEL_NT(d, conv_igemm_grad_weight_halo_split)(g, cout, xp, gyp, gw.data<float>(), data_or_null(work));  // (columns)
    else MM_KERNEL_NT(d, conv_igemm_grad_weight_split)(g, cout, xp, gyp, gw.data<float>(), data_or_null(work));
    return gw;
  }
  with_activation_type(gy.dtype(), [&](auto a) {
    using A = decltype(a);
    (tiling == IgemmTiling::HaloRows ? MM_KERNEL(d, conv_igemm_grad_weight_halo_rows, A)
     : halo                          ? MM_KERNEL(d, conv_igemm_grad_weight_halo, A)
                                     : MM_KERNEL(d, conv_igemm_grad_weight, A))(g, cout, x.data<A>(), gy.data<A>(),
                                                                                 gw.data<float>(), data_or_null(work));
  });
  return gw;
}

Tensor conv_forward(ConvBackend b, const ConvGeometry& g, int64_t cout, const Tensor& x, const Tensor& w) {
  MM_PROFILE("conv forward", x.device());
  if (uses_igemm(b)) return conv_forward_igemm(g, cout, x, w, b == ConvBackend::Igemm3xTf32);
#ifdef MMENGINE_WITH_CUDNN
  if (b == ConvBackend::Cudnn) {
    Tensor y = Tensor::empty({g.batch, cout, g.out_h(), g.out_w()}, x.dtype(), x.device());
    MM_DISPATCH_FLOAT(x.dtype(), T, cudnn_conv_forward<T>(g, cout, x.data<T>(), w.data<T>(), y.data<T>()));
    return y;
  }
#endif
  return conv_forward_own(g, cout, x, w);
}

Tensor conv_grad_input(ConvBackend b, const ConvGeometry& g, int64_t cout, const Tensor& w, const Tensor& gy) {
  MM_PROFILE("conv backward (input)", gy.device());
  if (uses_igemm(b)) return conv_grad_input_igemm(g, cout, w, gy, b == ConvBackend::Igemm3xTf32);
#ifdef MMENGINE_WITH_CUDNN
  if (b == ConvBackend::Cudnn) {
    Tensor gx = Tensor::empty({g.batch, g.in_channels, g.height, g.width}, gy.dtype(), gy.device());
    MM_DISPATCH_FLOAT(gy.dtype(), T, cudnn_conv_backward_data<T>(g, cout, w.data<T>(), gy.data<T>(), gx.data<T>()));
    return gx;
  }
#endif
  return conv_grad_input_own(g, cout, w, gy);
}

Tensor conv_grad_weight(ConvBackend b, const ConvGeometry& g, int64_t cout, const Tensor& x, const Tensor& gy) {
  MM_PROFILE("conv backward (weight)", gy.device());
  if (uses_igemm(b)) return conv_grad_weight_igemm(g, cout, x, gy, b == ConvBackend::Igemm3xTf32);
#ifdef MMENGINE_WITH_CUDNN
  if (b == ConvBackend::Cudnn) {
    Tensor gw = Tensor::empty({cout, g.in_channels, g.kernel_h, g.kernel_w}, gy.dtype(), gy.device());
    MM_DISPATCH_FLOAT(gy.dtype(), T, cudnn_conv_backward_filter<T>(g, cout, x.data<T>(), gy.data<T>(), gw.data<T>()));
    return gw;
  }
#endif
  return conv_grad_weight_own(g, cout, x, gy);
}
}  // namespace

namespace {
ConvGeometry checked_geometry(const Tensor& x, const Tensor& w, int64_t stride, int64_t padding) {
  if (x.dtype() == DType::BF16)  // bfloat16 activations, float32 (master) weights
    MM_CHECK(w.dtype() == DType::F32 && w.device() == x.device(), "conv2d: bfloat16 input ", describe(x),
             " needs float32 weights on its device, got ", describe(w));
  else
    check_same_place("conv2d", x, w);
  MM_CHECK(x.dim() == 4 && w.dim() == 4 && w.size(1) == x.size(1), "conv2d: needs x [N, Cin, H, W] and w [Cout, Cin, KH, KW], got ",
           describe(x), " and ", describe(w));
  MM_CHECK(stride >= 1 && padding >= 0, "conv2d: stride must be >= 1 and padding >= 0, got ", stride, " and ", padding);
  ConvGeometry g{x.size(0), x.size(1), x.size(2), x.size(3), w.size(2), w.size(3), stride, padding};
  MM_CHECK(g.out_h() >= 1 && g.out_w() >= 1, "conv2d: kernel ", g.kernel_h, "x", g.kernel_w, " larger than padded input ",
           describe(x));
  return g;
}
}  // namespace

IgemmTiling igemm_tiling_for(ConvPass pass, const ConvGeometry& g, DType t) {
  const IgemmTiling setting = igemm_tiling();
  if (setting == IgemmTiling::Gather) return IgemmTiling::Gather;
  const bool covered = (t == DType::F32 || t == DType::BF16) &&
                       (pass == ConvPass::GradWeight ? kernels::igemm_halo_wgrad_supported(g)  // (1x1: no taps to share a window)
                                                     : kernels::igemm_halo_supported(g));
  if (!covered) return IgemmTiling::Gather;
  return pass == ConvPass::GradWeight ? setting : IgemmTiling::Halo;  // (the rows layout is the weight gradient's)
}

Tensor conv2d_pass(ConvPass pass, const Tensor& x, const Tensor& w, const Tensor& gy, int64_t stride, int64_t padding) {
  const ConvGeometry g = checked_geometry(x, w, stride, padding);
  const int64_t cout = w.size(0);
  const ConvBackend backend = backend_for(x.device(), x.dtype());
  if (pass == ConvPass::Forward) return conv_forward(backend, g, cout, x, w);
  MM_CHECK(gy.dtype() == x.dtype() && gy.device() == x.device(), "conv2d: output gradient ", describe(gy), " for input ",
           describe(x));
  MM_CHECK(gy.shape() == Shape({g.batch, cout, g.out_h(), g.out_w()}), "conv2d: output gradient ", describe(gy),
           " does not match the convolution");
  return pass == ConvPass::GradInput ? conv_grad_input(backend, g, cout, w, gy) : conv_grad_weight(backend, g, cout, x, gy);
}

namespace {
// The autograd node of a convolution whose forward ran on `backend` (its backward uses it too).
Tensor record_conv(const Tensor& y, ConvBackend backend, const ConvGeometry& g, int64_t cout, const Tensor& x,
                   const Tensor& w) {
  Tensor X = x.detach(), W = w.detach();
  bool need_x = x.requires_grad(), need_w = w.requires_grad();
  return record(y, "conv2d", {x, w}, [=](const Tensor& gy) {
    Tensor gx, gw;
    if (need_x) gx = conv_grad_input(backend, g, cout, W, gy);
    if (need_w) gw = conv_grad_weight(backend, g, cout, X, gy);
    return std::vector<Tensor>{gx, gw};
  });
}
}  // namespace

Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& bias, int64_t stride, int64_t padding) {
  const ConvGeometry g = checked_geometry(x, w, stride, padding);
  const int64_t cout = w.size(0);
  const ConvBackend backend = backend_for(x.device(), x.dtype());
  Tensor y = record_conv(conv_forward(backend, g, cout, x, w), backend, g, cout, x, w);
  if (!bias.defined()) return y;
  if (y.dtype() == DType::BF16)  // (--conv-bias on under bf16) no bf16 x float32 channel kernel: in float32
    return cast(add_channel(cast(y, DType::F32), bias), DType::BF16);
  return add_channel(y, bias);
}

Tensor conv2d_with_bn_moments(const Tensor& x, const Tensor& w, int64_t stride, int64_t padding, int64_t groups,
                              Tensor* moments) {
  MM_CHECK(moments != nullptr, "conv2d_with_bn_moments: needs somewhere to put the moments");
  const ConvGeometry g = checked_geometry(x, w, stride, padding);
  MM_CHECK(groups >= 1 && x.size(0) % groups == 0, "conv2d_with_bn_moments: ", describe(x), " does not split into ",
           groups, " equal row groups");
  const int64_t cout = w.size(0);
  const ConvBackend backend = backend_for(x.device(), x.dtype());
  *moments = Tensor();
  const bool halo = use_halo(ConvPass::Forward, g, x.dtype());  // (a halo tile lies inside one image: any groups that divide the batch)
  const bool fused = fusion_enabled(Fusion::ConvBnStats) && backend == ConvBackend::Igemm && x.dtype() == DType::F32 &&
                     (halo ? kernels::conv_igemm_halo_stats_supported(g, groups)
                           : kernels::conv_igemm_stats_supported(g, groups));
  if (!fused) return record_conv(conv_forward(backend, g, cout, x, w), backend, g, cout, x, w);
  MM_PROFILE("conv forward + BN statistics", x.device());
  const Device d = x.device();
  Tensor y = Tensor::empty({g.batch, cout, g.out_h(), g.out_w()}, x.dtype(), d);
  Tensor m = Tensor::empty({2 * groups * cout}, DType::F64, d);
  const int64_t ws = halo ? MM_KERNEL_FN(d, conv_igemm_halo_stats_workspace)(g, cout)
                          : MM_KERNEL_FN(d, conv_igemm_stats_workspace)(g, cout);
  Tensor work = ws > 0 ? Tensor::empty({ws}, DType::F64, d) : Tensor();
  double* stats_work = work.defined() ? work.data<double>() : nullptr;
  if (halo) {
    Tensor weights = halo_workspace(g, cout, d);
    MM_KERNEL_NT(d, conv_igemm_forward_halo_stats)(g, cout, x.data<float>(), w.data<float>(), y.data<float>(), groups,
                                                   m.data<double>(), stats_work, data_or_null(weights));
  } else {
    MM_KERNEL_NT(d, conv_igemm_forward_stats)(g, cout, x.data<float>(), w.data<float>(), y.data<float>(), groups,
                                              m.data<double>(), stats_work);
  }
  *moments = m;
  return record_conv(y, backend, g, cout, x, w);
}

Tensor global_avg_pool(const Tensor& x) {
  MM_CHECK(x.dim() == 4, "global_avg_pool: needs [N, C, H, W], got ", describe(x));
  return mean(reshape(x, {x.size(0), x.size(1), -1}), 2);
}

Tensor flatten(const Tensor& x) {
  MM_CHECK(x.dim() >= 1, "flatten: needs at least one dimension");
  return reshape(x, {x.size(0), -1});
}

}  // namespace mmengine
