#include <algorithm>

#include "engine/autograd.h"
#include "engine/dispatch.h"
#include "engine/dist.h"
#include "engine/dist_ops.h"
#include "engine/kernel_version.h"
#include "engine/profiler.h"
#include "engine/ops_nn.h"
#include "kernels/batchnorm.h"
#include "kernels/bf16.h"

namespace mmengine {

namespace {
// The kernels' scratch space for per-(group, channel, split) partial sums (none on the CPU).
Tensor bn_workspace(Device d, int64_t G, int64_t N, int64_t C, int64_t HW) {
  const int64_t n = MM_KERNEL_FN(d, batchnorm_workspace)(G, N, C, HW);
  return n > 0 ? Tensor::empty({n}, DType::F64, d) : Tensor();
}
double* data_or_null(Tensor& t) { return t.defined() ? t.data<double>() : nullptr; }
// v0 and v1 ran BatchNorm with one block per channel.
bool v0_kernels(Device d) { return d == Device::CUDA && kernel_version() != KernelVersion::Current; }

// Parameters, statistics and running statistics are float32 for bfloat16 activations, else of
// the activations' dtype; all on the activations' device.
DType param_dtype(DType activations) { return activations == DType::BF16 ? DType::F32 : activations; }
void check_param(const char* op, const Tensor& x, const Tensor& p) {
  MM_CHECK(p.device() == x.device() && p.dtype() == param_dtype(x.dtype()), op, ": ", describe(p), " must be ",
           dtype_name(param_dtype(x.dtype())), " on ", device_name(x.device()), " for the input ", describe(x));
}

template <typename T>
kernels::BnTrainExtras<T> kernel_extras(const BatchNormTrainOptions& o) {
  kernels::BnTrainExtras<T> e;
  e.groups = o.groups;
  e.leaky = o.leaky_slope >= 0;
  e.slope = static_cast<T>(e.leaky ? o.leaky_slope : 0.0);
  if (o.update_mask != 0) {
    e.running_mean = o.running_mean.data<T>();
    e.running_var = o.running_var.data<T>();
  }
  e.momentum = o.momentum;
  e.update_mask = o.update_mask;
  return e;
}

void check_options(const Tensor& x, const BatchNormTrainOptions& o) {
  MM_CHECK(o.groups >= 1 && o.groups <= 32 && x.size(0) % o.groups == 0, "batch_norm: ", describe(x),
           " does not split into ", o.groups, " equal row groups (1 to 32)");
  MM_CHECK(o.update_mask >> o.groups == 0, "batch_norm: running-statistics mask ", o.update_mask, " names groups beyond ",
           o.groups);
  if (o.update_mask != 0) {
    for (const Tensor* r : {&o.running_mean, &o.running_var}) {
      MM_CHECK(r->defined() && r->shape() == Shape{x.size(1)} && r->device() == x.device() &&
                   r->dtype() == param_dtype(x.dtype()),
               "batch_norm: running statistics must be [C] on the input's device and dtype, got ",
               r->defined() ? describe(*r) : std::string("none"));
    }
    MM_CHECK(o.momentum >= 0 && o.momentum <= 1, "batch_norm: momentum must be in [0, 1], got ", o.momentum);
  }
  MM_CHECK(!v0_kernels(x.device()) || (o.groups == 1 && o.leaky_slope < 0 && o.update_mask == 0),
           "batch_norm: the v0 kernels have no row groups, fused LeakyReLU or running update");
  MM_CHECK(!v0_kernels(x.device()) || x.dtype() != DType::BF16, "batch_norm: the v0 kernels have no bfloat16 form");
  if (o.moments.defined()) {
    MM_CHECK(!v0_kernels(x.device()), "batch_norm: the v0 kernels take no precomputed moments");
    MM_CHECK(o.moments.dtype() == DType::F64 && o.moments.device() == x.device() &&
                 o.moments.numel() == 2 * o.groups * x.size(1),
             "batch_norm: the given moments must be 2 x ", o.groups, " groups x ", x.size(1), " channels of float64 on ",
             device_name(x.device()), ", got ", describe(o.moments));
  }
}

// The profiler family of a training call: apart when its statistics came from the producer.
const char* train_family(const BatchNormTrainOptions& o) {
  return o.moments.defined() ? "batchnorm (statistics given)" : "batchnorm";
}

// batchnorm_forward_gathered's scratch: 2 * G * C doubles on CUDA, none on the CPU.
Tensor gathered_workspace(Device d, int64_t G, int64_t C) {
  return d == Device::CUDA ? Tensor::empty({2 * G * C}, DType::F64, d) : Tensor();
}
}  // namespace

Tensor batch_norm_train(const Tensor& x, const Tensor& gamma, const Tensor& beta, double eps, BatchStats* stats,
                        const BatchNormTrainOptions& opt) {
  MM_PROFILE(train_family(opt), x.device());
  check_param("batch_norm", x, gamma);
  check_param("batch_norm", x, beta);
  MM_CHECK(x.dim() >= 2 && gamma.dim() == 1 && gamma.size(0) == x.size(1) && beta.shape() == gamma.shape(),
           "batch_norm: needs x [N, C, ...] and gamma, beta [C], got ", describe(x), ", ", describe(gamma), ", ",
           describe(beta));
  MM_CHECK(eps > 0, "batch_norm: eps must be positive, got ", eps);
  check_options(x, opt);
  const int64_t G = opt.groups, N = x.size(0) / G, C = x.size(1), HW = x.numel() / std::max<int64_t>(1, x.size(0) * C);
  MM_CHECK(N * HW > 1, "batch_norm in training mode needs more than one value per channel and group, got ", describe(x),
           " in ", G, " groups");
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  const Shape stat_shape = G == 1 ? Shape{C} : Shape{G, C};
  const DType pt = param_dtype(x.dtype());
  Tensor mean = Tensor::empty(stat_shape, pt, x.device()), var = Tensor::empty(stat_shape, pt, x.device()),
         invstd = Tensor::empty(stat_shape, pt, x.device());
  if (v0_kernels(x.device())) {
#ifdef MMENGINE_WITH_CUDA
    MM_DISPATCH_FLOAT(x.dtype(), T,
                      kernels::batchnorm_forward_train_v0_cuda<T>(x.data<T>(), gamma.data<T>(), beta.data<T>(), y.data<T>(),
                                                                  mean.data<T>(), var.data<T>(), invstd.data<T>(), N, C,
                                                                  HW, eps, cuda_stream()));
#else
    MM_FAIL("v0 kernels: this build has no CUDA");
#endif
  } else if (opt.moments.defined()) {  // the producer's statistics: only the apply pass over x
    Tensor stat = gathered_workspace(x.device(), G, C);
    MM_DISPATCH_STORAGE(x.dtype(), A, {
      using T = kernels::compute_t<A>;
      MM_KERNEL2(x.device(), batchnorm_forward_gathered, T, A)(x.data<A>(), gamma.data<T>(), beta.data<T>(),
                                                               opt.moments.data<double>(), 1, y.data<A>(), mean.data<T>(),
                                                               var.data<T>(), invstd.data<T>(), N, C, HW, eps,
                                                               kernel_extras<T>(opt), data_or_null(stat));
    });
  } else {
    Tensor work = bn_workspace(x.device(), G, N, C, HW);
    MM_DISPATCH_STORAGE(x.dtype(), A, {
      using T = kernels::compute_t<A>;
      MM_KERNEL2(x.device(), batchnorm_forward_train, T, A)(x.data<A>(), gamma.data<T>(), beta.data<T>(), y.data<A>(),
                                                            mean.data<T>(), var.data<T>(), invstd.data<T>(), N, C, HW, eps,
                                                            kernel_extras<T>(opt), data_or_null(work));
    });
  }
  if (stats) *stats = BatchStats{mean, var, N * HW};
  Tensor X = x.detach(), Gm = gamma.detach();
  const bool leaky = opt.leaky_slope >= 0;
  const double slope = leaky ? opt.leaky_slope : 0.0;
  Tensor Y = leaky ? y.detach() : Tensor();  // the fused LeakyReLU's gradient follows its output's sign
  const bool need_gamma = gamma.requires_grad(), need_beta = beta.requires_grad();
  return record(y, leaky ? "batch_norm_leaky_relu" : "batch_norm", {x, gamma, beta}, [=](const Tensor& gy) {
    MM_PROFILE("batchnorm", X.device());
    Tensor gx = Tensor::empty(X.shape(), X.dtype(), X.device());
    Tensor gg, gb;
    if (need_gamma) gg = Tensor::empty({C}, pt, X.device());
    if (need_beta) gb = Tensor::empty({C}, pt, X.device());
    if (v0_kernels(X.device())) {
#ifdef MMENGINE_WITH_CUDA
      MM_CHECK(G == 1 && !leaky, "batch_norm backward: the v0 kernels have no row groups or fused LeakyReLU");
      MM_DISPATCH_FLOAT(X.dtype(), T,
                        kernels::batchnorm_backward_v0_cuda<T>(X.data<T>(), gy.data<T>(), Gm.data<T>(), mean.data<T>(),
                                                               invstd.data<T>(), gx.data<T>(),
                                                               need_gamma ? gg.data<T>() : nullptr,
                                                               need_beta ? gb.data<T>() : nullptr, N, C, HW, cuda_stream()));
#else
      MM_FAIL("v0 kernels: this build has no CUDA");
#endif
    } else {
      Tensor work = bn_workspace(X.device(), G, N, C, HW);
      MM_DISPATCH_STORAGE(X.dtype(), A, {
        using T = kernels::compute_t<A>;
        MM_KERNEL2(X.device(), batchnorm_backward, T, A)(
            X.data<A>(), gy.data<A>(), leaky ? Y.data<A>() : nullptr, static_cast<T>(slope), Gm.data<T>(),
            mean.data<T>(), invstd.data<T>(), gx.data<A>(), need_gamma ? gg.data<T>() : nullptr,
            need_beta ? gb.data<T>() : nullptr, G, N, C, HW, data_or_null(work));
      });
    }
    return std::vector<Tensor>{gx, gg, gb};
  });
}

// The phases of kernels/batchnorm.h's synchronized BatchNorm, the collectives between them.
Tensor batch_norm_train_sync(const Tensor& x, const Tensor& gamma, const Tensor& beta, double eps, BatchStats* stats,
                             Communicator& comm, const BatchNormTrainOptions& opt) {
  check_param("batch_norm (synchronized)", x, gamma);
  check_param("batch_norm (synchronized)", x, beta);
  MM_CHECK(x.dim() >= 2 && gamma.dim() == 1 && gamma.size(0) == x.size(1) && beta.shape() == gamma.shape(),
           "batch_norm (synchronized): needs x [N, C, ...] and gamma, beta [C], got ", describe(x), ", ",
           describe(gamma), ", ", describe(beta));
  MM_CHECK(eps > 0, "batch_norm: eps must be positive, got ", eps);
  check_options(x, opt);
  MM_CHECK(!v0_kernels(x.device()), "batch_norm (synchronized): --bn-sync global needs the current BatchNorm kernels, "
                                    "not MMENGINE_KERNELS=", kernel_version_name(kernel_version()),
           " (no synchronized phases there); unset it or use --bn-sync local");
  const int64_t G = opt.groups, N = x.size(0) / G, C = x.size(1), HW = x.numel() / std::max<int64_t>(1, x.size(0) * C);
  const int64_t R = comm.size();
  MM_CHECK(N * HW >= 1 && R * N * HW > 1, "batch_norm (synchronized) in training mode needs values on every rank and "
           "more than one per channel and group in all, got ", describe(x), " in ", G, " groups on ", R, " ranks");
  const Device dev = x.device();
  const DType pt = param_dtype(x.dtype());
  Tensor y = Tensor::empty(x.shape(), x.dtype(), dev);
  const Shape stat_shape = G == 1 ? Shape{C} : Shape{G, C};
  Tensor mean = Tensor::empty(stat_shape, pt, dev), var = Tensor::empty(stat_shape, pt, dev),
         invstd = Tensor::empty(stat_shape, pt, dev);
  Tensor moments = opt.moments.defined() ? reshape(opt.moments, {1, 2 * G * C}) : Tensor::empty({1, 2 * G * C}, DType::F64, dev),
         gathered;
  if (!opt.moments.defined()) {  // (else the producer's: no statistics pass over x)
    MM_PROFILE("batchnorm", dev);
    Tensor work = bn_workspace(dev, G, N, C, HW);
    MM_DISPATCH_STORAGE(x.dtype(), A, {
      using T = kernels::compute_t<A>;
      MM_KERNEL2(dev, batchnorm_moments, T, A)(x.data<A>(), moments.data<double>(), G, N, C, HW, data_or_null(work));
    });
  }
  {
    MM_PROFILE("collectives", dev);
    gathered = comm.all_gather_rows(moments);
  }
  MM_CHECK(gathered.shape() == (Shape{R, 2 * G * C}), "batch_norm (synchronized): the ranks' statistics gathered as ",
           describe(gathered), ", expected [", R, ", ", 2 * G * C, "] (every rank must run the same BatchNorm)");
  {
    MM_PROFILE(train_family(opt), dev);
    Tensor stat = gathered_workspace(dev, G, C);
    MM_DISPATCH_STORAGE(x.dtype(), A, {
      using T = kernels::compute_t<A>;
      MM_KERNEL2(dev, batchnorm_forward_gathered, T, A)(x.data<A>(), gamma.data<T>(), beta.data<T>(),
                                                        gathered.data<double>(), R, y.data<A>(), mean.data<T>(),
                                                        var.data<T>(), invstd.data<T>(), N, C, HW, eps,
                                                        kernel_extras<T>(opt), data_or_null(stat));
    });
  }
  if (stats) *stats = BatchStats{mean, var, R * N * HW};
  Tensor X = x.detach(), Gm = gamma.detach();
  const bool leaky = opt.leaky_slope >= 0;
  const double slope = leaky ? opt.leaky_slope : 0.0;
  Tensor Y = leaky ? y.detach() : Tensor();
  const bool need_gamma = gamma.requires_grad(), need_beta = beta.requires_grad();
  Communicator* c = &comm;  // the process's communicator outlives every graph
  return record(y, leaky ? "batch_norm_sync_leaky_relu" : "batch_norm_sync", {x, gamma, beta}, [=](const Tensor& gy) {
    Tensor gx = Tensor::empty(X.shape(), X.dtype(), X.device());
    Tensor gg, gb;
    if (need_gamma) gg = Tensor::empty({C}, pt, X.device());
    if (need_beta) gb = Tensor::empty({C}, pt, X.device());
    Tensor local = Tensor::empty({2 * G * C}, DType::F64, X.device());
    {
      MM_PROFILE("batchnorm", X.device());
      Tensor work = bn_workspace(X.device(), G, N, C, HW);
      MM_DISPATCH_STORAGE(X.dtype(), A, {
        using T = kernels::compute_t<A>;
        MM_KERNEL2(X.device(), batchnorm_grad_moments, T, A)(X.data<A>(), gy.data<A>(), leaky ? Y.data<A>() : nullptr,
                                                             static_cast<T>(slope), mean.data<T>(), invstd.data<T>(),
                                                             local.data<double>(), G, N, C, HW, data_or_null(work));
      });
    }
    Tensor reduced = local.clone();
    {
      MM_PROFILE("collectives", X.device());
      c->all_reduce_sum(reduced);
    }
    {
      MM_PROFILE("batchnorm", X.device());
      MM_DISPATCH_STORAGE(X.dtype(), A, {
        using T = kernels::compute_t<A>;
        MM_KERNEL2(X.device(), batchnorm_backward_reduced, T, A)(
            X.data<A>(), gy.data<A>(), leaky ? Y.data<A>() : nullptr, static_cast<T>(slope), Gm.data<T>(),
            mean.data<T>(), invstd.data<T>(), local.data<double>(), reduced.data<double>(), R, gx.data<A>(),
            need_gamma ? gg.data<T>() : nullptr, need_beta ? gb.data<T>() : nullptr, G, N, C, HW);
      });
    }
    return std::vector<Tensor>{gx, gg, gb};
  });
}

Tensor batch_norm_eval(const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& mean, const Tensor& var,
                       double eps) {
  MM_CHECK(x.dim() >= 2 && mean.dim() == 1 && mean.size(0) == x.size(1) && var.shape() == mean.shape(),
           "batch_norm (eval): needs x [N, C, ...] and running statistics [C], got ", describe(x), ", ", describe(mean));
  // scale = gamma / sqrt(var + eps); y = x * scale + (beta - mean * scale): two passes over x.
  Tensor scale;
  {
    NoGrad ng;
    scale = pow(add(var.detach(), eps), -0.5);
  }
  Tensor gscale = mul(gamma, scale);
  Tensor shift = sub(beta, mul(mean.detach(), gscale));
  return add_channel(mul_channel(x, gscale), shift);
}

Tensor batch_norm_eval_fused(const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& mean,
                             const Tensor& var, double eps, double slope) {
  MM_CHECK(x.dim() >= 2 && mean.dim() == 1 && mean.size(0) == x.size(1) && var.shape() == mean.shape() &&
               gamma.shape() == mean.shape() && beta.shape() == mean.shape(),
           "batch_norm (eval, fused): needs x [N, C, ...] and [C] parameters and statistics, got ", describe(x), ", ",
           describe(mean));
  for (const Tensor* t : {&gamma, &beta, &mean, &var}) check_param("batch_norm (eval, fused)", x, *t);
  MM_CHECK(!grad_enabled() || !(x.requires_grad() || gamma.requires_grad() || beta.requires_grad()),
           "batch_norm (eval, fused): forward only, but a gradient would be recorded (use batch_norm_eval)");
  MM_PROFILE("batchnorm", x.device());
  const int64_t N = x.size(0), C = x.size(1), HW = x.numel() / std::max<int64_t>(1, N * C);
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  MM_DISPATCH_STORAGE(x.dtype(), A, {
    using T = kernels::compute_t<A>;
    MM_KERNEL2(x.device(), batchnorm_forward_eval, T, A)(x.data<A>(), gamma.data<T>(), beta.data<T>(), mean.data<T>(),
                                                         var.data<T>(), y.data<A>(), N, C, HW, eps, slope >= 0,
                                                         static_cast<T>(slope));
  });
  return y;
}

}  // namespace mmengine
