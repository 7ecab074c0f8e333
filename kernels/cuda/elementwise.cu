#include "kernels/cuda/launch.cuh"
#include "kernels/bf16.h"
#include "kernels/elementwise_math.h"

namespace mmengine::kernels {

namespace {
template <typename T>
__global__ void unary_forward_kernel(Unary op, T p, const T* x, T* y, int64_t n) {
  MM_GRID_STRIDE(i, n) y[i] = unary_value(op, p, x[i]);
}

template <typename T>
__global__ void unary_backward_kernel(Unary op, T p, const T* x, const T* y, const T* gy, T* gx, int64_t n) {
  MM_GRID_STRIDE(i, n) gx[i] = gy[i] * unary_derivative(op, p, x[i], y[i]);
}

template <typename T>
__global__ void binary_forward_kernel(Binary op, const T* a, const T* b, T* out, int64_t n) {
  MM_GRID_STRIDE(i, n) out[i] = binary_value<compute_t<T>>(op, a[i], b[i]);
}

template <typename T>
__global__ void binary_backward_kernel(Binary op, const T* a, const T* b, const T* g, T* ga, T* gb, int64_t n) {
  MM_GRID_STRIDE(i, n) {
    if (ga) ga[i] = compute_t<T>(g[i]) * binary_da<compute_t<T>>(op, a[i], b[i]);
    if (gb) gb[i] = compute_t<T>(g[i]) * binary_db<compute_t<T>>(op, a[i], b[i]);
  }
}

template <typename T>
__global__ void channel_forward_kernel(Binary op, const T* x, const T* ch, T* out, int64_t channels, int64_t inner,
                                       int64_t n) {
  MM_GRID_STRIDE(i, n) out[i] = binary_value(op, x[i], ch[(i / inner) % channels]);
}

template <typename T>
__global__ void channel_grad_x_kernel(Binary op, const T* x, const T* ch, const T* g, T* gx, int64_t channels,
                                      int64_t inner, int64_t n) {
  MM_GRID_STRIDE(i, n) gx[i] = g[i] * binary_da(op, x[i], ch[(i / inner) % channels]);
}

// One block per channel: sum over outer and inner of g * d(out)/d(ch).
template <typename T>
__global__ void channel_grad_ch_kernel(Binary op, const T* x, const T* ch, const T* g, T* gch, int64_t outer,
                                       int64_t channels, int64_t inner) {
  int64_t c = blockIdx.x;
  double acc = 0;
  for (int64_t k = threadIdx.x; k < outer * inner; k += blockDim.x) {
    int64_t idx = ((k / inner) * channels + c) * inner + k % inner;
    acc += static_cast<double>(g[idx] * binary_db(op, x[idx], ch[c]));
  }
  double total = block_sum(acc);
  if (threadIdx.x == 0) gch[c] = static_cast<T>(total);
}
}  // namespace

template <typename T>
void unary_forward_cuda(Unary op, T p, const T* x, T* y, int64_t n, cudaStream_t stream) {
  if (n == 0) return;
  unary_forward_kernel<<<grid_for(n), kThreads, 0, stream>>>(op, p, x, y, n);
  MM_LAUNCH_CHECK();
}

template <typename T>
void unary_backward_cuda(Unary op, T p, const T* x, const T* y, const T* gy, T* gx, int64_t n, cudaStream_t stream) {
  if (n == 0) return;
  unary_backward_kernel<<<grid_for(n), kThreads, 0, stream>>>(op, p, x, y, gy, gx, n);
  MM_LAUNCH_CHECK();
}

template <typename T>
void binary_forward_cuda(Binary op, const T* a, const T* b, T* out, int64_t n, cudaStream_t stream) {
  if (n == 0) return;
  binary_forward_kernel<<<grid_for(n), kThreads, 0, stream>>>(op, a, b, out, n);
  MM_LAUNCH_CHECK();
}

template <typename T>
void binary_backward_cuda(Binary op, const T* a, const T* b, const T* g, T* ga, T* gb, int64_t n, cudaStream_t stream) {
  if (n == 0) return;
  binary_backward_kernel<<<grid_for(n), kThreads, 0, stream>>>(op, a, b, g, ga, gb, n);
  MM_LAUNCH_CHECK();
}

template <typename T>
void channel_forward_cuda(Binary op, const T* x, const T* ch, T* out, int64_t outer, int64_t channels, int64_t inner, cudaStream_t stream) {
  int64_t n = outer * channels * inner;
  if (n == 0) return;
  channel_forward_kernel<<<grid_for(n), kThreads, 0, stream>>>(op, x, ch, out, channels, inner, n);
  MM_LAUNCH_CHECK();
}

template <typename T>
void channel_backward_cuda(Binary op, const T* x, const T* ch, const T* g, T* gx, T* gch, int64_t outer,
                           int64_t channels, int64_t inner, cudaStream_t stream) {
  int64_t n = outer * channels * inner;
  if (gx && n > 0) {
    channel_grad_x_kernel<<<grid_for(n), kThreads, 0, stream>>>(op, x, ch, g, gx, channels, inner, n);
    MM_LAUNCH_CHECK();
  }
  if (gch && channels > 0) {
    channel_grad_ch_kernel<<<static_cast<unsigned>(channels), kThreads, 0, stream>>>(op, x, ch, g, gch, outer, channels, inner);
    MM_LAUNCH_CHECK();
  }
}

#define MM_INSTANTIATE(T)                                                                                \
  template void unary_forward_cuda<T>(Unary, T, const T*, T*, int64_t, cudaStream_t);                                  \
  template void unary_backward_cuda<T>(Unary, T, const T*, const T*, const T*, T*, int64_t, cudaStream_t);             \
  template void binary_forward_cuda<T>(Binary, const T*, const T*, T*, int64_t, cudaStream_t);                         \
  template void binary_backward_cuda<T>(Binary, const T*, const T*, const T*, T*, T*, int64_t, cudaStream_t);          \
  template void channel_forward_cuda<T>(Binary, const T*, const T*, T*, int64_t, int64_t, int64_t, cudaStream_t);      \
  template void channel_backward_cuda<T>(Binary, const T*, const T*, const T*, T*, T*, int64_t, int64_t, int64_t, cudaStream_t);
MM_INSTANTIATE(float)
MM_INSTANTIATE(double)

namespace {
template <typename S, typename D>
__global__ void convert_kernel(const S* x, D* y, int64_t n) {
  MM_GRID_STRIDE(i, n) y[i] = static_cast<D>(x[i]);
}
}  // namespace

template <typename S, typename D>
void convert_cuda(const S* x, D* y, int64_t n, cudaStream_t stream) {
  if (n == 0) return;
  convert_kernel<<<grid_for(n), kThreads, 0, stream>>>(x, y, n);
  MM_LAUNCH_CHECK();
}
template void convert_cuda<float, bf16>(const float*, bf16*, int64_t, cudaStream_t);
template void convert_cuda<bf16, float>(const bf16*, float*, int64_t, cudaStream_t);
template void binary_forward_cuda<bf16>(Binary, const bf16*, const bf16*, bf16*, int64_t, cudaStream_t);
template void binary_backward_cuda<bf16>(Binary, const bf16*, const bf16*, const bf16*, bf16*, bf16*, int64_t, cudaStream_t);

}  // namespace mmengine::kernels
