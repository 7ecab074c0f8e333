#include "engine/tensor.h"

#include <cmath>
#include <type_traits>

#include "engine/autograd.h"
#include "engine/dispatch.h"
#include "engine/memory.h"
#include "engine/runtime.h"
#include "kernels/bf16.h"
#include "kernels/elementwise.h"

namespace mmengine {

std::string describe(const Tensor& t) {
  return std::string(dtype_name(t.dtype())) + shape_str(t.shape()) + " on " + device_name(t.device());
}

void fail_no_bf16_kernel() {
  MM_FAIL("this op has no bfloat16 kernel: bfloat16 tensors go only through the ops of --precision bf16's "
          "activation path (casts, add, the implicit-GEMM convolution, the fused BatchNorm); cast to float32 first");
}

namespace {
bool g_poison = false;

// A double as stored in T. For bf16 rounded once, to nearest even (through float rounded to odd,
// which keeps the sticky bit the second rounding needs).
template <typename T>
T storage_value(double v) {
  if constexpr (std::is_same_v<T, kernels::bf16>) {
    float f = static_cast<float>(v);
    if (std::isfinite(v) && std::isfinite(f) && static_cast<double>(f) != v) {
      if (std::fabs(static_cast<double>(f)) > std::fabs(v)) f = std::nextafter(f, 0.0f);  // truncate
      uint32_t bits = kernels::float_bits(f) | 1u;                                           // odd: inexact
      f = kernels::bits_float(bits);
    }
    return kernels::bf16(f);
  } else {
    return static_cast<T>(v);
  }
}
}  // namespace
void set_poison_new_tensors(bool on) { g_poison = on; }
bool poison_new_tensors() { return g_poison; }

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  for (auto d : shape) MM_CHECK(d >= 0, "negative dimension in shape ", shape_str(shape));
  if (device == Device::CUDA)
    MM_CHECK(cuda_available(), "cannot create a CUDA tensor: ", cuda_unavailable_reason());
  auto impl = std::make_shared<TensorImpl>();
  impl->shape = shape;
  impl->dtype = dtype;
  impl->device = device;
  impl->storage = allocate(device, shape_numel(shape) * dtype_size(dtype));
  Tensor t(impl);
  if (g_poison) t.poison_();
  return t;
}

Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  fill_bytes(t.raw(), device, 0, t.nbytes());  // all-zero bytes are 0.0 for IEEE floats
  return t;
}

Tensor Tensor::full(const Shape& shape, double value, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  t.fill_(value);
  return t;
}

Tensor Tensor::from_vector(const std::vector<double>& values, const Shape& shape, DType dtype, Device device) {
  MM_CHECK(static_cast<int64_t>(values.size()) == shape_numel(shape), "from_vector: ", values.size(),
           " values do not fill shape ", shape_str(shape));
  Tensor host = empty(shape, dtype, Device::CPU);
  MM_DISPATCH_STORAGE(dtype, T, {
    T* p = host.data<T>();
    for (size_t i = 0; i < values.size(); ++i) p[i] = storage_value<T>(values[i]);
  });
  return device == Device::CPU ? host : host.to(device);
}

Tensor Tensor::scalar(double value, DType dtype, Device device) { return full({}, value, dtype, device); }

int64_t Tensor::size(int64_t d) const {
  int64_t n = dim();
  if (d < 0) d += n;
  MM_CHECK(d >= 0 && d < n, "dimension ", d, " out of range for ", describe(*this));
  return shape()[d];
}

template <typename T>
T* Tensor::data() const {
  constexpr DType want = sizeof(T) == 4 ? DType::F32 : sizeof(T) == 8 ? DType::F64 : DType::BF16;
  MM_CHECK(dtype() == want, "data<", dtype_name(want), ">() on a ", describe(*this));
  return static_cast<T*>(raw());
}
template float* Tensor::data<float>() const;
template double* Tensor::data<double>() const;
template kernels::bf16* Tensor::data<kernels::bf16>() const;

Tensor Tensor::to(Device d) const {
  Tensor out = empty(shape(), dtype(), d);
  copy_bytes(out.raw(), d, raw(), device(), nbytes());
  return out;
}

Tensor Tensor::to(DType t) const {
  Tensor host = device() == Device::CPU ? *this : to(Device::CPU);
  Tensor out = empty(shape(), t, Device::CPU);
  int64_t n = numel();
  MM_DISPATCH_STORAGE(dtype(), S, {
    const S* src = host.data<S>();
    MM_DISPATCH_STORAGE(t, D, {
      D* dst = out.data<D>();
      for (int64_t i = 0; i < n; ++i) dst[i] = storage_value<D>(static_cast<double>(src[i]));
    });
  });
  return device() == Device::CPU ? out : out.to(device());
}

Tensor Tensor::clone() const { return to(device()); }

std::vector<double> Tensor::to_vector() const {
  Tensor host = device() == Device::CPU ? *this : to(Device::CPU);
  std::vector<double> out(numel());
  MM_DISPATCH_STORAGE(dtype(), T, {
    const T* p = host.data<T>();
    for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<double>(p[i]);
  });
  return out;
}

double Tensor::item() const {
  MM_CHECK(numel() == 1, "item() needs a one-element tensor, got ", describe(*this));
  return to_vector()[0];
}

void Tensor::copy_from(const Tensor& src) {
  MM_CHECK(src.shape() == shape() && src.dtype() == dtype(), "copy_from: ", describe(src), " into ",
           describe(*this));
  copy_bytes(raw(), device(), src.raw(), src.device(), nbytes());
}

void Tensor::fill_(double value) {
  if (device() == Device::CUDA) {
    // On the device, without an upload (a captured step fills its backward seed this way):
    // zero bytes, then + value, which is exact (a value of -0.0 gives +0.0). bfloat16 (no
    // scalar kernel) takes the host path instead, so not inside a capture.
    fill_bytes(raw(), device(), 0, nbytes());
    if (value != 0.0 && dtype() == DType::BF16) {  // no bf16 scalar kernel: through the host
      copy_from(Tensor::full(shape(), value, dtype(), Device::CPU));
      return;
    }
    if (value != 0.0)
      MM_DISPATCH_FLOAT(dtype(), T, MM_KERNEL(device(), unary_forward, T)(kernels::Unary::AddScalar, static_cast<T>(value),
                                                                          data<T>(), data<T>(), numel()));
    return;
  }
  Tensor host = empty(shape(), dtype(), Device::CPU);
  int64_t n = numel();
  MM_DISPATCH_STORAGE(dtype(), T, {
    T* p = host.data<T>();
    for (int64_t i = 0; i < n; ++i) p[i] = storage_value<T>(value);
  });
  copy_from(host);
}

void Tensor::poison_() { fill_bytes(raw(), device(), 0xFF, nbytes()); }

Tensor& Tensor::set_requires_grad(bool r) {
  MM_CHECK(!r || !impl().grad_fn, "set_requires_grad(true) is for leaves; this tensor comes from an op");
  impl().requires_grad = r;
  return *this;
}

Tensor Tensor::grad() const { return Tensor(impl().grad); }

void Tensor::zero_grad() { impl().grad.reset(); }

Tensor Tensor::detach() const {
  auto impl2 = std::make_shared<TensorImpl>();
  impl2->storage = impl().storage;
  impl2->shape = shape();
  impl2->dtype = dtype();
  impl2->device = device();
  return Tensor(impl2);
}

void Tensor::backward() const { run_backward(*this); }

}  // namespace mmengine
