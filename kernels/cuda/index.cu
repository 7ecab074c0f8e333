#include "kernels/cuda/launch.cuh"
#include "kernels/index.h"

namespace mmengine::kernels {

namespace {
template <typename T>
__global__ void gather_rows_kernel(const T* src, const int64_t* idx, T* dst, int64_t row, int64_t n) {
  MM_GRID_STRIDE(k, n) dst[k] = src[idx[k / row] * row + k % row];
}

template <typename T>
__global__ void zero_kernel(T* p, int64_t n) {
  MM_GRID_STRIDE(k, n) p[k] = T(0);
}

template <typename T>
__global__ void scatter_add_rows_kernel(const T* gdst, const int64_t* idx, T* gsrc, int64_t row, int64_t n) {
  MM_GRID_STRIDE(k, n) atomicAdd(&gsrc[idx[k / row] * row + k % row], gdst[k]);
}
}  // namespace

template <typename T>
void gather_rows_cuda(const T* src, const int64_t* idx, T* dst, int64_t nidx, int64_t row, cudaStream_t stream) {
  int64_t n = nidx * row;
  if (n == 0) return;
  gather_rows_kernel<<<grid_for(n), kThreads, 0, stream>>>(src, idx, dst, row, n);
  MM_LAUNCH_CHECK();
}

template <typename T>
void scatter_add_rows_cuda(const T* gdst, const int64_t* idx, T* gsrc, int64_t nidx, int64_t row, int64_t nsrc, cudaStream_t stream) {
  if (nsrc * row > 0) {
    zero_kernel<<<grid_for(nsrc * row), kThreads, 0, stream>>>(gsrc, nsrc * row);
    MM_LAUNCH_CHECK();
  }
  int64_t n = nidx * row;
  if (n == 0) return;
  scatter_add_rows_kernel<<<grid_for(n), kThreads, 0, stream>>>(gdst, idx, gsrc, row, n);
  MM_LAUNCH_CHECK();
}

template void gather_rows_cuda<float>(const float*, const int64_t*, float*, int64_t, int64_t, cudaStream_t);
template void gather_rows_cuda<double>(const double*, const int64_t*, double*, int64_t, int64_t, cudaStream_t);
template void scatter_add_rows_cuda<float>(const float*, const int64_t*, float*, int64_t, int64_t, int64_t, cudaStream_t);
template void scatter_add_rows_cuda<double>(const double*, const int64_t*, double*, int64_t, int64_t, int64_t, cudaStream_t);

}  // namespace mmengine::kernels
