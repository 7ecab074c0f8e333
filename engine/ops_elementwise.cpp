#include "engine/autograd.h"
#include "engine/dispatch.h"
#include "engine/profiler.h"
#include "engine/ops.h"
#include "kernels/bf16.h"
#include "kernels/elementwise.h"

namespace mmengine {

using kernels::Binary;
using kernels::Unary;

namespace {
Tensor unary_op(Unary op, const char* name, const Tensor& a, double param) {
  MM_PROFILE("elementwise", a.device());
  Tensor out = Tensor::empty(a.shape(), a.dtype(), a.device());
  MM_DISPATCH_FLOAT(a.dtype(), T, MM_KERNEL(a.device(), unary_forward, T)(op, T(param), a.data<T>(), out.data<T>(), a.numel()));
  Tensor x = a.detach(), y = out.detach();
  return record(out, name, {a}, [op, param, x, y](const Tensor& g) {
  MM_PROFILE("elementwise", x.device());
    Tensor gx = Tensor::empty(x.shape(), x.dtype(), x.device());
    MM_DISPATCH_FLOAT(x.dtype(), T,
                      MM_KERNEL(x.device(), unary_backward, T)(op, T(param), x.data<T>(), y.data<T>(), g.data<T>(),
                                                              gx.data<T>(), x.numel()));
    return std::vector<Tensor>{gx};
  });
}

Tensor binary_op(Binary op, const char* name, const Tensor& a, const Tensor& b) {
  MM_PROFILE("elementwise", a.device());
  check_same_place(name, a, b);
  MM_CHECK(a.shape() == b.shape(), name, ": shapes ", shape_str(a.shape()), " and ", shape_str(b.shape()),
           " differ (use the _channel form to broadcast a per-channel vector)");
  Tensor out = Tensor::empty(a.shape(), a.dtype(), a.device());
  MM_DISPATCH_STORAGE(a.dtype(), T,
                      MM_KERNEL(a.device(), binary_forward, T)(op, a.data<T>(), b.data<T>(), out.data<T>(), a.numel()));
  Tensor x = a.detach(), y = b.detach();
  bool need_a = a.requires_grad(), need_b = b.requires_grad();
  return record(out, name, {a, b}, [op, x, y, need_a, need_b](const Tensor& g) {
  MM_PROFILE("elementwise", x.device());
    Tensor ga, gb;
    if (need_a) ga = Tensor::empty(x.shape(), x.dtype(), x.device());
    if (need_b) gb = Tensor::empty(x.shape(), x.dtype(), x.device());
    MM_DISPATCH_STORAGE(x.dtype(), T,
                        MM_KERNEL(x.device(), binary_backward, T)(op, x.data<T>(), y.data<T>(), g.data<T>(),
                                                                 need_a ? ga.data<T>() : nullptr,
                                                                 need_b ? gb.data<T>() : nullptr, x.numel()));
    return std::vector<Tensor>{ga, gb};
  });
}

Tensor channel_op(Binary op, const char* name, const Tensor& x, const Tensor& c) {
  MM_PROFILE("elementwise", x.device());
  check_same_place(name, x, c);
  MM_CHECK(x.dim() >= 2 && c.dim() == 1 && c.size(0) == x.size(1), name, ": needs x [N, C, ...] and c [C], got ",
           describe(x), " and ", describe(c));
  const int64_t outer = x.size(0), channels = x.size(1), inner = x.numel() / std::max<int64_t>(1, outer * channels);
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  MM_DISPATCH_FLOAT(x.dtype(), T,
                    MM_KERNEL(x.device(), channel_forward, T)(op, x.data<T>(), c.data<T>(), out.data<T>(), outer,
                                                             channels, inner));
  Tensor xs = x.detach(), cs = c.detach();
  bool need_x = x.requires_grad(), need_c = c.requires_grad();
  return record(out, name, {x, c}, [=](const Tensor& g) {
  MM_PROFILE("elementwise", xs.device());
    Tensor gx, gc;
    if (need_x) gx = Tensor::empty(xs.shape(), xs.dtype(), xs.device());
    if (need_c) gc = Tensor::empty(cs.shape(), cs.dtype(), cs.device());
    MM_DISPATCH_FLOAT(xs.dtype(), T,
                      MM_KERNEL(xs.device(), channel_backward, T)(op, xs.data<T>(), cs.data<T>(), g.data<T>(),
                                                                 need_x ? gx.data<T>() : nullptr,
                                                                 need_c ? gc.data<T>() : nullptr, outer, channels, inner));
    return std::vector<Tensor>{gx, gc};
  });
}
}  // namespace

Tensor add(const Tensor& a, const Tensor& b) { return binary_op(Binary::Add, "add", a, b); }
Tensor sub(const Tensor& a, const Tensor& b) { return binary_op(Binary::Sub, "sub", a, b); }
Tensor mul(const Tensor& a, const Tensor& b) { return binary_op(Binary::Mul, "mul", a, b); }
Tensor div(const Tensor& a, const Tensor& b) { return binary_op(Binary::Div, "div", a, b); }
Tensor add(const Tensor& a, double s) { return unary_op(Unary::AddScalar, "add_scalar", a, s); }
Tensor mul(const Tensor& a, double s) { return unary_op(Unary::MulScalar, "mul_scalar", a, s); }
Tensor neg(const Tensor& a) { return unary_op(Unary::Neg, "neg", a, 0.0); }
Tensor add_channel(const Tensor& x, const Tensor& c) { return channel_op(Binary::Add, "add_channel", x, c); }
Tensor sub_channel(const Tensor& x, const Tensor& c) { return channel_op(Binary::Sub, "sub_channel", x, c); }
Tensor mul_channel(const Tensor& x, const Tensor& c) { return channel_op(Binary::Mul, "mul_channel", x, c); }
Tensor div_channel(const Tensor& x, const Tensor& c) { return channel_op(Binary::Div, "div_channel", x, c); }
Tensor pow(const Tensor& a, double e) { return unary_op(Unary::Pow, "pow", a, e); }
Tensor exp(const Tensor& a) { return unary_op(Unary::Exp, "exp", a, 0.0); }
Tensor log(const Tensor& a) { return unary_op(Unary::Log, "log", a, 0.0); }
Tensor leaky_relu(const Tensor& a, double slope) { return unary_op(Unary::LeakyRelu, "leaky_relu", a, slope); }

Tensor cast(const Tensor& x, DType to) {
  if (x.dtype() == to) return x;
  const DType from = x.dtype();
  MM_CHECK((from == DType::F32 && to == DType::BF16) || (from == DType::BF16 && to == DType::F32), "cast: ",
           describe(x), " to ", dtype_name(to), ": only float32 <-> bfloat16 casts exist");
  MM_PROFILE("elementwise", x.device());
  auto convert = [](const Tensor& src, DType dst_type) {
    Tensor dst = Tensor::empty(src.shape(), dst_type, src.device());
    if (dst_type == DType::BF16)
      MM_KERNEL2(src.device(), convert, float, kernels::bf16)(src.data<float>(), dst.data<kernels::bf16>(), src.numel());
    else
      MM_KERNEL2(src.device(), convert, kernels::bf16, float)(src.data<kernels::bf16>(), dst.data<float>(), src.numel());
    return dst;
  };
  return record(convert(x, to), "cast", {x}, [convert, from](const Tensor& g) {
    return std::vector<Tensor>{convert(g, from)};
  });
}

}  // namespace mmengine
