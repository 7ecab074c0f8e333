// Sums over one axis of a tensor viewed as [outer, len, inner], and the broadcast back that is
// their backward. Accumulation in double on both devices.
#pragma once
#ifdef MMENGINE_WITH_CUDA
#include <cuda_runtime.h>  // cudaStream_t: every CUDA launcher takes its stream last
#endif
#include <cstdint>

namespace mmengine::kernels {

// out[o, i] = sum_l x[o, l, i]
template <typename T> void sum_axis_cpu(const T* x, T* out, int64_t outer, int64_t len, int64_t inner);
// gx[o, l, i] = scale * g[o, i]
template <typename T> void broadcast_axis_cpu(const T* g, T* gx, int64_t outer, int64_t len, int64_t inner, T scale);

#ifdef MMENGINE_WITH_CUDA
template <typename T> void sum_axis_cuda(const T* x, T* out, int64_t outer, int64_t len, int64_t inner, cudaStream_t stream);
template <typename T> void broadcast_axis_cuda(const T* g, T* gx, int64_t outer, int64_t len, int64_t inner, T scale, cudaStream_t stream);
#endif

}  // namespace mmengine::kernels
