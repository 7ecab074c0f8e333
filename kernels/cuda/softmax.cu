#include "kernels/cuda/launch.cuh"
#include "kernels/softmax.h"
#include "kernels/softmax_math.h"

namespace mmengine::kernels {

namespace {
template <typename T>
__global__ void softmax_forward_kernel(const T* x, T* y, int64_t rows, int64_t cols, bool log_out) {
  MM_GRID_STRIDE(r, rows) softmax_row(x + r * cols, y + r * cols, cols, log_out);
}

template <typename T>
__global__ void softmax_backward_kernel(const T* y, const T* gy, T* gx, int64_t rows, int64_t cols, bool log_out) {
  MM_GRID_STRIDE(r, rows) softmax_backward_row(y + r * cols, gy + r * cols, gx + r * cols, cols, log_out);
}
}  // namespace

template <typename T>
void softmax_forward_cuda(const T* x, T* y, int64_t rows, int64_t cols, bool log_out, cudaStream_t stream) {
  if (rows == 0 || cols == 0) return;
  softmax_forward_kernel<<<grid_for(rows, 128), 128, 0, stream>>>(x, y, rows, cols, log_out);
  MM_LAUNCH_CHECK();
}

template <typename T>
void softmax_backward_cuda(const T* y, const T* gy, T* gx, int64_t rows, int64_t cols, bool log_out, cudaStream_t stream) {
  if (rows == 0 || cols == 0) return;
  softmax_backward_kernel<<<grid_for(rows, 128), 128, 0, stream>>>(y, gy, gx, rows, cols, log_out);
  MM_LAUNCH_CHECK();
}

template void softmax_forward_cuda<float>(const float*, float*, int64_t, int64_t, bool, cudaStream_t);
template void softmax_forward_cuda<double>(const double*, double*, int64_t, int64_t, bool, cudaStream_t);
template void softmax_backward_cuda<float>(const float*, const float*, float*, int64_t, int64_t, bool, cudaStream_t);
template void softmax_backward_cuda<double>(const double*, const double*, double*, int64_t, int64_t, bool, cudaStream_t);

}  // namespace mmengine::kernels
