#include "engine/autograd.h"
#include "engine/dispatch.h"
#include "engine/profiler.h"
#include "engine/ops.h"
#include "kernels/reduce.h"
#include "kernels/softmax.h"

namespace mmengine {

namespace {
// Sum over [outer, len, inner] -> [outer, inner], scaled; backward broadcasts the gradient back.
Tensor reduce_axis(const Tensor& a, int64_t outer, int64_t len, int64_t inner, const Shape& out_shape, double scale,
                   const char* name) {
  MM_PROFILE("reduce", a.device());
  Tensor out = Tensor::empty(out_shape, a.dtype(), a.device());
  MM_DISPATCH_FLOAT(a.dtype(), T, MM_KERNEL(a.device(), sum_axis, T)(a.data<T>(), out.data<T>(), outer, len, inner));
  if (scale != 1.0) {
    NoGrad ng;
    out = mul(out, scale);
  }
  Shape in_shape = a.shape();
  Device dev = a.device();
  DType dt = a.dtype();
  return record(out, name, {a}, [=](const Tensor& g) {
  MM_PROFILE("reduce", dev);
    Tensor gx = Tensor::empty(in_shape, dt, dev);
    MM_DISPATCH_FLOAT(dt, T, MM_KERNEL(dev, broadcast_axis, T)(g.data<T>(), gx.data<T>(), outer, len, inner, T(scale)));
    return std::vector<Tensor>{gx};
  });
}

Tensor reduce_dim(const Tensor& a, int64_t axis, bool keepdim, bool average, const char* name) {
  int64_t n = a.dim();
  if (axis < 0) axis += n;
  MM_CHECK(axis >= 0 && axis < n, name, ": axis out of range for ", describe(a));
  int64_t outer = 1, inner = 1, len = a.size(axis);
  for (int64_t d = 0; d < axis; ++d) outer *= a.size(d);
  for (int64_t d = axis + 1; d < n; ++d) inner *= a.size(d);
  Shape out_shape;
  for (int64_t d = 0; d < n; ++d) {
    if (d != axis) out_shape.push_back(a.size(d));
    else if (keepdim) out_shape.push_back(1);
  }
  MM_CHECK(!average || len > 0, name, ": mean over an empty axis");
  return reduce_axis(a, outer, len, inner, out_shape, average ? 1.0 / len : 1.0, name);
}

Tensor softmax_op(const Tensor& x, bool log_out, const char* name) {
  MM_PROFILE("softmax", x.device());
  MM_CHECK(x.dim() == 2, name, ": needs a 2-D [rows, classes] tensor, got ", describe(x));
  const int64_t rows = x.size(0), cols = x.size(1);
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  MM_DISPATCH_FLOAT(x.dtype(), T,
                    MM_KERNEL(x.device(), softmax_forward, T)(x.data<T>(), out.data<T>(), rows, cols, log_out));
  Tensor y = out.detach();
  return record(out, name, {x}, [=](const Tensor& g) {
  MM_PROFILE("softmax", y.device());
    Tensor gx = Tensor::empty(y.shape(), y.dtype(), y.device());
    MM_DISPATCH_FLOAT(y.dtype(), T,
                      MM_KERNEL(y.device(), softmax_backward, T)(y.data<T>(), g.data<T>(), gx.data<T>(), rows, cols, log_out));
    return std::vector<Tensor>{gx};
  });
}
}  // namespace

Tensor sum(const Tensor& a) { return reduce_axis(a, 1, a.numel(), 1, {}, 1.0, "sum"); }
Tensor mean(const Tensor& a) {
  MM_CHECK(a.numel() > 0, "mean of an empty tensor");
  return reduce_axis(a, 1, a.numel(), 1, {}, 1.0 / a.numel(), "mean");
}
Tensor sum(const Tensor& a, int64_t axis, bool keepdim) { return reduce_dim(a, axis, keepdim, false, "sum_axis"); }
Tensor mean(const Tensor& a, int64_t axis, bool keepdim) { return reduce_dim(a, axis, keepdim, true, "mean_axis"); }
Tensor softmax(const Tensor& x) { return softmax_op(x, false, "softmax"); }
Tensor log_softmax(const Tensor& x) { return softmax_op(x, true, "log_softmax"); }

}  // namespace mmengine
