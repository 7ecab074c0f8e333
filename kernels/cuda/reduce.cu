#include "kernels/cuda/launch.cuh"
#include "kernels/reduce.h"

namespace mmengine::kernels {

namespace {
// Many outputs with short rows: one thread per output.
template <typename T>
__global__ void sum_axis_thread_kernel(const T* x, T* out, int64_t outer, int64_t len, int64_t inner) {
  MM_GRID_STRIDE(k, outer * inner) {
    int64_t o = k / inner, i = k % inner;
    double acc = 0;
    for (int64_t l = 0; l < len; ++l) acc += x[(o * len + l) * inner + i];
    out[k] = static_cast<T>(acc);
  }
}

// Few outputs with long rows: one block per output, threads stride along the axis.
template <typename T>
__global__ void sum_axis_block_kernel(const T* x, T* out, int64_t len, int64_t inner) {
  int64_t k = blockIdx.x, o = k / inner, i = k % inner;
  double acc = 0;
  for (int64_t l = threadIdx.x; l < len; l += blockDim.x) acc += x[(o * len + l) * inner + i];
  double total = block_sum(acc);
  if (threadIdx.x == 0) out[k] = static_cast<T>(total);
}

template <typename T>
__global__ void broadcast_axis_kernel(const T* g, T* gx, int64_t len, int64_t inner, T scale, int64_t n) {
  MM_GRID_STRIDE(k, n) {
    int64_t i = k % inner, o = k / (inner * len);
    gx[k] = scale * g[o * inner + i];
  }
}
}  // namespace

template <typename T>
void sum_axis_cuda(const T* x, T* out, int64_t outer, int64_t len, int64_t inner, cudaStream_t stream) {
  int64_t outputs = outer * inner;
  if (outputs == 0) return;
  if (outputs >= 4096 || len < 256) {
    sum_axis_thread_kernel<<<grid_for(outputs), kThreads, 0, stream>>>(x, out, outer, len, inner);
  } else {
    sum_axis_block_kernel<<<static_cast<unsigned>(outputs), kThreads, 0, stream>>>(x, out, len, inner);
  }
  MM_LAUNCH_CHECK();
}

template <typename T>
void broadcast_axis_cuda(const T* g, T* gx, int64_t outer, int64_t len, int64_t inner, T scale, cudaStream_t stream) {
  int64_t n = outer * len * inner;
  if (n == 0) return;
  broadcast_axis_kernel<<<grid_for(n), kThreads, 0, stream>>>(g, gx, len, inner, scale, n);
  MM_LAUNCH_CHECK();
}

template void sum_axis_cuda<float>(const float*, float*, int64_t, int64_t, int64_t, cudaStream_t);
template void sum_axis_cuda<double>(const double*, double*, int64_t, int64_t, int64_t, cudaStream_t);
template void broadcast_axis_cuda<float>(const float*, float*, int64_t, int64_t, int64_t, float, cudaStream_t);
template void broadcast_axis_cuda<double>(const double*, double*, int64_t, int64_t, int64_t, double, cudaStream_t);

}  // namespace mmengine::kernels
