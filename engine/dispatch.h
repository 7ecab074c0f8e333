// Picks the CPU or CUDA twin of a kernel: MM_KERNEL(device, unary_forward, T)(args...).
// Both twins share one signature (kernels/<family>.h), so the call site is the same.
#pragma once
#include "engine/tensor.h"

// MM_KERNEL_FN is the same for a twin that is not a template (workspace-size queries).
#ifdef MMENGINE_WITH_CUDA
#define MM_KERNEL(dev, fn, T) \
  ((dev) == ::mmengine::Device::CPU ? &::mmengine::kernels::fn##_cpu<T> : &::mmengine::kernels::fn##_cuda<T>)
#define MM_KERNEL_FN(dev, fn) \
  ((dev) == ::mmengine::Device::CPU ? &::mmengine::kernels::fn##_cpu : &::mmengine::kernels::fn##_cuda)
#else
#define MM_KERNEL(dev, fn, T) (&::mmengine::kernels::fn##_cpu<T>)
#define MM_KERNEL_FN(dev, fn) (&::mmengine::kernels::fn##_cpu)
#endif

namespace mmengine {

inline void check_same_place(const char* op, const Tensor& a, const Tensor& b) {
  MM_CHECK(a.device() == b.device() && a.dtype() == b.dtype(), op, ": operands ", describe(a), " and ",
           describe(b), " must share device and dtype");
}

}  // namespace mmengine
