// Softmax and log-softmax over the last axis of [rows, cols] (the class axis of logits).
#pragma once
#ifdef MMENGINE_WITH_CUDA
#include <cuda_runtime.h>  // cudaStream_t: every CUDA launcher takes its stream last
#endif
#include <cstdint>

namespace mmengine::kernels {

template <typename T> void softmax_forward_cpu(const T* x, T* y, int64_t rows, int64_t cols, bool log);
// From the forward output y: softmax gx = y * (gy - sum(gy * y)); log-softmax gx = gy - exp(y) * sum(gy).
template <typename T> void softmax_backward_cpu(const T* y, const T* gy, T* gx, int64_t rows, int64_t cols, bool log);

#ifdef MMENGINE_WITH_CUDA
template <typename T> void softmax_forward_cuda(const T* x, T* y, int64_t rows, int64_t cols, bool log, cudaStream_t stream);
template <typename T> void softmax_backward_cuda(const T* y, const T* gy, T* gx, int64_t rows, int64_t cols, bool log, cudaStream_t stream);
#endif

}  // namespace mmengine::kernels
