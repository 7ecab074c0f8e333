#include "kernels/cuda/launch.cuh"
#include "kernels/error.h"
#include "kernels/optim_math.h"

namespace mmengine::kernels {

namespace {
template <typename T>
__global__ void adam_kernel(AdamSpec s, double bc1, double sqrt_bc2, T* p, const T* g, T* m, T* v, int64_t n) {
  if (s.step_on_device) adam_bias_corrections(s, *s.step_on_device, bc1, sqrt_bc2);
  MM_GRID_STRIDE(i, n) adam_element(s, bc1, sqrt_bc2, p[i], g[i], m[i], v[i]);
}

template <typename T>
__global__ void ema_kernel(T* teacher, T* student, double decay, double scale, int64_t n) {
  MM_GRID_STRIDE(i, n) ema_element(teacher[i], student[i], decay, scale);
}
// Multi-tensor: block b updates tile b of the launch, i.e. kMultiTensorTile elements of the
// chunk that owns it.
template <typename T>
__global__ void adam_multi_kernel(AdamSpec s, double bc1, double sqrt_bc2, const AdamChunk<T>* chunks, int64_t count) {
  if (s.step_on_device) adam_bias_corrections(s, *s.step_on_device, bc1, sqrt_bc2);
  const int64_t tile = blockIdx.x;
  const AdamChunk<T> c = chunks[chunk_of_tile(chunks, count, tile)];
  const int64_t begin = (tile - c.first_tile) * kMultiTensorTile;
  const int64_t end = begin + kMultiTensorTile < c.n ? begin + kMultiTensorTile : c.n;
  for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) adam_element(s, bc1, sqrt_bc2, c.p[i], c.g[i], c.m[i], c.v[i]);
}

template <typename T>
__global__ void ema_multi_kernel(const EmaChunk<T>* chunks, int64_t count) {
  const int64_t tile = blockIdx.x;
  const EmaChunk<T> c = chunks[chunk_of_tile(chunks, count, tile)];
  const int64_t begin = (tile - c.first_tile) * kMultiTensorTile;
  const int64_t end = begin + kMultiTensorTile < c.n ? begin + kMultiTensorTile : c.n;
  for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) ema_chunk_element(c, i);
}
}  // namespace

template <typename T>
void adam_update_multi_cuda(const AdamSpec& s, const AdamChunk<T>* chunks, int64_t count, int64_t tiles, cudaStream_t stream) {
  if (tiles == 0) return;
  MM_CHECK(tiles <= 2147483647LL, "adam (multi-tensor): ", tiles, " tiles exceed the grid");
  // The bias corrections: on the host, once, as the CPU twin does; or per block from the step
  // in device memory (s.step_on_device).
  double bc1 = 0, sqrt_bc2 = 0;
  if (!s.step_on_device) adam_bias_corrections(s, s.step, bc1, sqrt_bc2);
  adam_multi_kernel<<<static_cast<unsigned>(tiles), kThreads, 0, stream>>>(s, bc1, sqrt_bc2, chunks, count);
  MM_LAUNCH_CHECK();
}

template <typename T>
void ema_update_multi_cuda(const EmaChunk<T>* chunks, int64_t count, int64_t tiles, cudaStream_t stream) {
  if (tiles == 0) return;
  MM_CHECK(tiles <= 2147483647LL, "ema (multi-tensor): ", tiles, " tiles exceed the grid");
  ema_multi_kernel<<<static_cast<unsigned>(tiles), kThreads, 0, stream>>>(chunks, count);
  MM_LAUNCH_CHECK();
}

template void adam_update_multi_cuda<float>(const AdamSpec&, const AdamChunk<float>*, int64_t, int64_t, cudaStream_t);
template void adam_update_multi_cuda<double>(const AdamSpec&, const AdamChunk<double>*, int64_t, int64_t, cudaStream_t);
template void ema_update_multi_cuda<float>(const EmaChunk<float>*, int64_t, int64_t, cudaStream_t);
template void ema_update_multi_cuda<double>(const EmaChunk<double>*, int64_t, int64_t, cudaStream_t);

template <typename T>
void adam_update_cuda(const AdamSpec& s, T* p, const T* g, T* m, T* v, int64_t n, cudaStream_t stream) {
  if (n == 0) return;
  // The bias corrections: on the host, once, as the CPU twin does; or per thread from the
  // step in device memory (s.step_on_device).
  double bc1 = 0, sqrt_bc2 = 0;
  if (!s.step_on_device) adam_bias_corrections(s, s.step, bc1, sqrt_bc2);
  adam_kernel<<<grid_for(n), kThreads, 0, stream>>>(s, bc1, sqrt_bc2, p, g, m, v, n);
  MM_LAUNCH_CHECK();
}

template <typename T>
void ema_update_cuda(T* teacher, T* student, double decay, double scale, int64_t n, cudaStream_t stream) {
  if (n == 0) return;
  ema_kernel<<<grid_for(n), kThreads, 0, stream>>>(teacher, student, decay, scale, n);
  MM_LAUNCH_CHECK();
}

template void adam_update_cuda<float>(const AdamSpec&, float*, const float*, float*, float*, int64_t, cudaStream_t);
template void adam_update_cuda<double>(const AdamSpec&, double*, const double*, double*, double*, int64_t, cudaStream_t);
template void ema_update_cuda<float>(float*, float*, double, double, int64_t, cudaStream_t);
template void ema_update_cuda<double>(double*, double*, double, double, int64_t, cudaStream_t);

}  // namespace mmengine::kernels
