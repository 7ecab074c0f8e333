#include "kernels/conv.h"
#include "kernels/cuda/launch.cuh"

namespace mmengine::kernels {

namespace {
// One thread per column-matrix element.
template <typename T>
__global__ void im2col_kernel(ConvGeometry g, const T* images, T* cols, int64_t total) {
  const int64_t oh = g.out_h(), ow = g.out_w(), rows = g.col_rows(), ncols = oh * ow;
  MM_GRID_STRIDE(k, total) {
    const int64_t col = k % ncols, r = (k / ncols) % rows, n = k / (ncols * rows);
    const int64_t c = r / (g.kernel_h * g.kernel_w), ky = (r / g.kernel_w) % g.kernel_h, kx = r % g.kernel_w;
    const int64_t iy = (col / ow) * g.stride - g.padding + ky, ix = (col % ow) * g.stride - g.padding + kx;
    const bool inside = iy >= 0 && iy < g.height && ix >= 0 && ix < g.width;
    cols[k] = inside ? images[((n * g.in_channels + c) * g.height + iy) * g.width + ix] : T(0);
  }
}

// One thread per entry of the [K, N * HWo] matrix.
template <typename T>
__global__ void im2col_wide_kernel(ConvGeometry g, const T* images, T* cols, int64_t total) {
  const int64_t ncols = g.col_cols();
  MM_GRID_STRIDE(k, total) {
    const int64_t col = k % ncols, n = (k / ncols) % g.batch, r = k / (ncols * g.batch);
    const int64_t src = im2col_source(g, n, r, col);
    cols[k] = src >= 0 ? images[src] : T(0);
  }
}

// One thread per element, consecutive threads on consecutive elements of one (n, c) plane.
template <typename T>
__global__ void to_channel_rows_kernel(const T* x, T* out, int64_t N, int64_t C, int64_t HW, int64_t total) {
  MM_GRID_STRIDE(k, total) {
    const int64_t i = k % HW, n = (k / HW) % N, c = k / (HW * N);
    out[k] = x[(n * C + c) * HW + i];
  }
}

// One thread per output element (NCHW order: consecutive threads write consecutive elements).
template <typename T>
__global__ void from_channel_rows_kernel(const T* rows, T* out, int64_t N, int64_t C, int64_t HW, int64_t total) {
  MM_GRID_STRIDE(k, total) {
    const int64_t i = k % HW, c = (k / HW) % C, n = k / (HW * C);
    out[k] = rows[(c * N + n) * HW + i];
  }
}

// One thread per image pixel: gathers every column entry that read it (no atomics, so the
// sum order is fixed and the result deterministic).
template <typename T>
__global__ void col2im_kernel(ConvGeometry g, bool wide, const T* cols, T* images, int64_t total) {
  const int64_t oh = g.out_h(), ow = g.out_w();
  MM_GRID_STRIDE(k, total) {
    const int64_t x = k % g.width, y = (k / g.width) % g.height, c = (k / (g.width * g.height)) % g.in_channels,
                  n = k / (g.width * g.height * g.in_channels);
    T acc = 0;
    for (int64_t ky = 0; ky < g.kernel_h; ++ky) {
      const int64_t ty = y + g.padding - ky;
      if (ty < 0 || ty % g.stride != 0) continue;
      const int64_t oy = ty / g.stride;
      if (oy >= oh) continue;
      for (int64_t kx = 0; kx < g.kernel_w; ++kx) {
        const int64_t tx = x + g.padding - kx;
        if (tx < 0 || tx % g.stride != 0) continue;
        const int64_t ox = tx / g.stride;
        if (ox >= ow) continue;
        const int64_t r = (c * g.kernel_h + ky) * g.kernel_w + kx;
        acc += cols[col_index(g, wide, n, r, oy * ow + ox)];
      }
    }
    images[k] = acc;
  }
}
}  // namespace

template <typename T>
void im2col_cuda(const ConvGeometry& g, const T* images, T* cols, cudaStream_t stream) {
  const int64_t total = g.batch * g.col_rows() * g.col_cols();
  if (total == 0) return;
  im2col_kernel<<<grid_for(total), kThreads, 0, stream>>>(g, images, cols, total);
  MM_LAUNCH_CHECK();
}

template <typename T>
void col2im_cuda(const ConvGeometry& g, const T* cols, T* images, cudaStream_t stream) {
  const int64_t total = g.batch * g.in_channels * g.height * g.width;
  if (total == 0) return;
  col2im_kernel<<<grid_for(total), kThreads, 0, stream>>>(g, false, cols, images, total);
  MM_LAUNCH_CHECK();
}

template <typename T>
void col2im_wide_cuda(const ConvGeometry& g, const T* cols, T* images, cudaStream_t stream) {
  const int64_t total = g.batch * g.in_channels * g.height * g.width;
  if (total == 0) return;
  col2im_kernel<<<grid_for(total), kThreads, 0, stream>>>(g, true, cols, images, total);
  MM_LAUNCH_CHECK();
}

template <typename T>
void from_channel_rows_cuda(const T* rows, T* out, int64_t N, int64_t C, int64_t HW, cudaStream_t stream) {
  const int64_t total = N * C * HW;
  if (total == 0) return;
  from_channel_rows_kernel<<<grid_for(total), kThreads, 0, stream>>>(rows, out, N, C, HW, total);
  MM_LAUNCH_CHECK();
}

template <typename T>
void im2col_wide_cuda(const ConvGeometry& g, const T* images, T* cols, cudaStream_t stream) {
  const int64_t total = g.col_rows() * g.batch * g.col_cols();
  if (total == 0) return;
  im2col_wide_kernel<<<grid_for(total), kThreads, 0, stream>>>(g, images, cols, total);
  MM_LAUNCH_CHECK();
}

template <typename T>
void to_channel_rows_cuda(const T* x, T* out, int64_t N, int64_t C, int64_t HW, cudaStream_t stream) {
  const int64_t total = N * C * HW;
  if (total == 0) return;
  to_channel_rows_kernel<<<grid_for(total), kThreads, 0, stream>>>(x, out, N, C, HW, total);
  MM_LAUNCH_CHECK();
}

template void col2im_wide_cuda<float>(const ConvGeometry&, const float*, float*, cudaStream_t);
template void col2im_wide_cuda<double>(const ConvGeometry&, const double*, double*, cudaStream_t);
template void from_channel_rows_cuda<float>(const float*, float*, int64_t, int64_t, int64_t, cudaStream_t);
template void from_channel_rows_cuda<double>(const double*, double*, int64_t, int64_t, int64_t, cudaStream_t);
template void im2col_wide_cuda<float>(const ConvGeometry&, const float*, float*, cudaStream_t);
template void im2col_wide_cuda<double>(const ConvGeometry&, const double*, double*, cudaStream_t);
template void to_channel_rows_cuda<float>(const float*, float*, int64_t, int64_t, int64_t, cudaStream_t);
template void to_channel_rows_cuda<double>(const double*, double*, int64_t, int64_t, int64_t, cudaStream_t);
template void im2col_cuda<float>(const ConvGeometry&, const float*, float*, cudaStream_t);
template void im2col_cuda<double>(const ConvGeometry&, const double*, double*, cudaStream_t);
template void col2im_cuda<float>(const ConvGeometry&, const float*, float*, cudaStream_t);
template void col2im_cuda<double>(const ConvGeometry&, const double*, double*, cudaStream_t);

}  // namespace mmengine::kernels
