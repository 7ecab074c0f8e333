// Fills with Philox numbers: element i gets counter offset + i, identical on both devices.
#pragma once
#ifdef MMENGINE_WITH_CUDA
#include <cuda_runtime.h>  // cudaStream_t: every CUDA launcher takes its stream last
#endif
#include <cstdint>

namespace mmengine::kernels {

template <typename T> void fill_uniform_cpu(T* out, int64_t n, uint64_t seed, uint64_t offset, double low, double high);
template <typename T> void fill_normal_cpu(T* out, int64_t n, uint64_t seed, uint64_t offset, double mean, double stddev);

#ifdef MMENGINE_WITH_CUDA
template <typename T> void fill_uniform_cuda(T* out, int64_t n, uint64_t seed, uint64_t offset, double low, double high, cudaStream_t stream);
template <typename T> void fill_normal_cuda(T* out, int64_t n, uint64_t seed, uint64_t offset, double mean, double stddev, cudaStream_t stream);
#endif

}  // namespace mmengine::kernels
