#include "kernels/conv.h"

namespace mmengine::kernels {

template <typename T>
void im2col_cpu(const ConvGeometry& g, const T* images, T* cols) {
  const int64_t oh = g.out_h(), ow = g.out_w(), rows = g.col_rows(), ncols = g.col_cols();
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t n = 0; n < g.batch; ++n)
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t c = r / (g.kernel_h * g.kernel_w), ky = (r / g.kernel_w) % g.kernel_h, kx = r % g.kernel_w;
      const T* img = images + (n * g.in_channels + c) * g.height * g.width;
      T* out = cols + (n * rows + r) * ncols;
      for (int64_t oy = 0; oy < oh; ++oy) {
        const int64_t iy = oy * g.stride - g.padding + ky;
        for (int64_t ox = 0; ox < ow; ++ox) {
          const int64_t ix = ox * g.stride - g.padding + kx;
          const bool inside = iy >= 0 && iy < g.height && ix >= 0 && ix < g.width;
          out[oy * ow + ox] = inside ? img[iy * g.width + ix] : T(0);
        }
      }
    }
}

namespace {
template <typename T>
void col2im_any(const ConvGeometry& g, bool wide, const T* cols, T* images) {
  const int64_t oh = g.out_h(), ow = g.out_w();
  // Parallel over (image, channel): each writes only its own plane.
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t n = 0; n < g.batch; ++n)
    for (int64_t c = 0; c < g.in_channels; ++c) {
      T* img = images + (n * g.in_channels + c) * g.height * g.width;
      for (int64_t i = 0; i < g.height * g.width; ++i) img[i] = T(0);
      for (int64_t ky = 0; ky < g.kernel_h; ++ky)
        for (int64_t kx = 0; kx < g.kernel_w; ++kx) {
          const int64_t r = (c * g.kernel_h + ky) * g.kernel_w + kx;
          const T* col = cols + col_index(g, wide, n, r, 0);
          for (int64_t oy = 0; oy < oh; ++oy) {
            const int64_t iy = oy * g.stride - g.padding + ky;
            if (iy < 0 || iy >= g.height) continue;
            for (int64_t ox = 0; ox < ow; ++ox) {
              const int64_t ix = ox * g.stride - g.padding + kx;
              if (ix >= 0 && ix < g.width) img[iy * g.width + ix] += col[oy * ow + ox];
            }
          }
        }
    }
}
}  // namespace

template <typename T>
void col2im_cpu(const ConvGeometry& g, const T* cols, T* images) { col2im_any(g, false, cols, images); }
template <typename T>
void col2im_wide_cpu(const ConvGeometry& g, const T* cols, T* images) { col2im_any(g, true, cols, images); }

template <typename T>
void from_channel_rows_cpu(const T* rows, T* out, int64_t N, int64_t C, int64_t HW) {
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t i = 0; i < HW; ++i) out[(n * C + c) * HW + i] = rows[(c * N + n) * HW + i];
}

template <typename T>
void im2col_wide_cpu(const ConvGeometry& g, const T* images, T* cols) {
  const int64_t rows = g.col_rows(), ncols = g.col_cols(), width = g.batch * ncols;
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t n = 0; n < g.batch; ++n) {
      T* out = cols + r * width + n * ncols;
      for (int64_t col = 0; col < ncols; ++col) {
        const int64_t src = im2col_source(g, n, r, col);
        out[col] = src >= 0 ? images[src] : T(0);
      }
    }
}

template <typename T>
void to_channel_rows_cpu(const T* x, T* out, int64_t N, int64_t C, int64_t HW) {
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t c = 0; c < C; ++c)
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < HW; ++i) out[(c * N + n) * HW + i] = x[(n * C + c) * HW + i];
}

template void col2im_wide_cpu<float>(const ConvGeometry&, const float*, float*);
template void col2im_wide_cpu<double>(const ConvGeometry&, const double*, double*);
template void from_channel_rows_cpu<float>(const float*, float*, int64_t, int64_t, int64_t);
template void from_channel_rows_cpu<double>(const double*, double*, int64_t, int64_t, int64_t);
template void im2col_wide_cpu<float>(const ConvGeometry&, const float*, float*);
template void im2col_wide_cpu<double>(const ConvGeometry&, const double*, double*);
template void to_channel_rows_cpu<float>(const float*, float*, int64_t, int64_t, int64_t);
template void to_channel_rows_cpu<double>(const double*, double*, int64_t, int64_t, int64_t);
template void im2col_cpu<float>(const ConvGeometry&, const float*, float*);
template void im2col_cpu<double>(const ConvGeometry&, const double*, double*);
template void col2im_cpu<float>(const ConvGeometry&, const float*, float*);
template void col2im_cpu<double>(const ConvGeometry&, const double*, double*);

}  // namespace mmengine::kernels
