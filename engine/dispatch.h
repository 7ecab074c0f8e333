// Picks the CPU or CUDA twin of a kernel: MM_KERNEL(device, unary_forward, T)(args...).
// The twins share one signature (kernels/<family>.h) except that the CUDA launcher takes its
// stream last; MM_KERNEL appends the context's current stream (engine/cuda/context.h), so the
// call site is the same for both devices.
#pragma once
#include <utility>

#include "engine/tensor.h"
#ifdef MMENGINE_WITH_CUDA
#include "engine/cuda/context.h"
#endif

// MM_KERNEL_NT is the same for a launcher that is not a template, MM_KERNEL2 for one with two
// type parameters; MM_KERNEL_FN picks a twin
// that is not a template and launches nothing (workspace-size queries: no stream).
#ifdef MMENGINE_WITH_CUDA
#define MM_KERNEL(dev, fn, T) \
  ::mmengine::detail::twins((dev), &::mmengine::kernels::fn##_cpu<T>, &::mmengine::kernels::fn##_cuda<T>)
#define MM_KERNEL_NT(dev, fn) \
  ::mmengine::detail::twins((dev), &::mmengine::kernels::fn##_cpu, &::mmengine::kernels::fn##_cuda)
#define MM_KERNEL2(dev, fn, S, D) \
  ::mmengine::detail::twins((dev), &::mmengine::kernels::fn##_cpu<S, D>, &::mmengine::kernels::fn##_cuda<S, D>)
#define MM_KERNEL_FN(dev, fn) \
  ((dev) == ::mmengine::Device::CPU ? &::mmengine::kernels::fn##_cpu : &::mmengine::kernels::fn##_cuda)
#else
#define MM_KERNEL(dev, fn, T) (&::mmengine::kernels::fn##_cpu<T>)
#define MM_KERNEL_NT(dev, fn) (&::mmengine::kernels::fn##_cpu)
#define MM_KERNEL2(dev, fn, S, D) (&::mmengine::kernels::fn##_cpu<S, D>)
#define MM_KERNEL_FN(dev, fn) (&::mmengine::kernels::fn##_cpu)
#endif

namespace mmengine {

#ifdef MMENGINE_WITH_CUDA
namespace detail {
// A kernel's two twins; calling it runs the one for `device`, the CUDA one on cuda_stream().
template <typename Cpu, typename Cuda>
struct Twins {
  Device device;
  Cpu cpu;
  Cuda cuda;
  template <typename... Args>
  void operator()(Args&&... args) const {
    if (device == Device::CPU)
      cpu(std::forward<Args>(args)...);
    else
      cuda(std::forward<Args>(args)..., cuda_stream());
  }
};
template <typename Cpu, typename Cuda>
Twins<Cpu, Cuda> twins(Device device, Cpu cpu, Cuda cuda) {
  return {device, cpu, cuda};
}
}  // namespace detail
#endif

inline void check_same_place(const char* op, const Tensor& a, const Tensor& b) {
  MM_CHECK(a.device() == b.device() && a.dtype() == b.dtype(), op, ": operands ", describe(a), " and ",
           describe(b), " must share device and dtype");
}

}  // namespace mmengine
