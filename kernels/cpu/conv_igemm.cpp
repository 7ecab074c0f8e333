// The CPU twins of the implicit-GEMM convolution (kernels/conv_igemm.h): the reference
// im2col + GEMM convolution on inputs rounded to TF32 as the tensor cores round them, so the
// CUDA kernels can be compared tightly (only the order of the FP32 sums differs).
#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels/conv_igemm.h"
#include "kernels/gemm.h"
#include "kernels/cuda/tensor_core.cuh"

namespace mmengine::kernels {

namespace {
std::vector<float> tf32_copy(const float* x, int64_t n) {
  std::vector<float> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    uint32_t b;
    std::memcpy(&b, x + i, 4);
    b = tf32_round_bits(b);
    std::memcpy(&out[static_cast<size_t>(i)], &b, 4);
  }
  return out;
}
int64_t image_elements(const ConvGeometry& g) { return g.batch * g.in_channels * g.height * g.width; }
int64_t grad_elements(const ConvGeometry& g, int64_t cout) { return g.batch * cout * g.col_cols(); }
}  // namespace

IgemmSplits igemm_wgrad_splits(const ConvGeometry& g, int64_t cout) {
  constexpr int64_t kTargetBlocks = 2 * 132, kMinChunk = 512, kSlice = 16, kTileM = 64;
  const int64_t inner = g.batch * g.col_cols(), K = g.col_rows();
  const int64_t tile_n = cout <= 16 ? 16 : cout <= 32 ? 32 : cout <= 64 ? 64 : 128;  // as the launcher picks
  const int64_t tiles = ((K + kTileM - 1) / kTileM) * ((cout + tile_n - 1) / tile_n);
  int64_t count = std::max<int64_t>(1, std::min((kTargetBlocks + tiles - 1) / tiles, inner / kMinChunk));
  int64_t chunk = (inner + count - 1) / count;
  chunk = std::max<int64_t>(kSlice, (chunk + kSlice - 1) / kSlice * kSlice);
  count = std::max<int64_t>(1, (inner + chunk - 1) / chunk);
  return {int(count), int(chunk)};
}

void conv_igemm_forward_cpu(const ConvGeometry& g, int64_t cout, const float* x, const float* w, float* y) {
  const int64_t K = g.col_rows(), HW = g.col_cols();
  const std::vector<float> xr = tf32_copy(x, image_elements(g)), wr = tf32_copy(w, cout * K);
  std::vector<float> cols(static_cast<size_t>(g.batch * K * HW));
  im2col_cpu(g, xr.data(), cols.data());
  gemm_batched_cpu(false, false, cout, HW, K, 1.0f, wr.data(), 0, cols.data(), K * HW, 0.0f, y, cout * HW, g.batch);
}

void conv_igemm_forward_stats_cpu(const ConvGeometry& g, int64_t cout, const float* x, const float* w, float* y,
                                  double* stats, double* /*workspace*/) {
  conv_igemm_forward_cpu(g, cout, x, w, y);
  const int64_t hw = g.col_cols();
  for (int64_t c = 0; c < cout; ++c) {
    double sum = 0, squares = 0;
    for (int64_t n = 0; n < g.batch; ++n)
      for (int64_t i = 0; i < hw; ++i) {
        const double v = y[(n * cout + c) * hw + i];
        sum += v;
        squares += v * v;
      }
    stats[c] = sum, stats[cout + c] = squares;
  }
}

int64_t conv_igemm_stats_workspace_cpu(const ConvGeometry&, int64_t) { return 0; }

void conv_igemm_grad_input_cpu(const ConvGeometry& g, int64_t cout, const float* w, const float* gy, float* gx) {
  const int64_t K = g.col_rows(), HW = g.col_cols();
  const std::vector<float> wr = tf32_copy(w, cout * K), gyr = tf32_copy(gy, grad_elements(g, cout));
  std::vector<float> gcols(static_cast<size_t>(g.batch * K * HW));
  gemm_batched_cpu(true, false, K, HW, cout, 1.0f, wr.data(), 0, gyr.data(), cout * HW, 0.0f, gcols.data(), K * HW,
                   g.batch);
  col2im_cpu(g, gcols.data(), gx);
}

void conv_igemm_grad_weight_cpu(const ConvGeometry& g, int64_t cout, const float* x, const float* gy, float* gw,
                                float* /*workspace*/) {
  const int64_t K = g.col_rows(), HW = g.col_cols();
  const std::vector<float> xr = tf32_copy(x, image_elements(g)), gyr = tf32_copy(gy, grad_elements(g, cout));
  std::vector<float> cols(static_cast<size_t>(g.batch * K * HW));
  im2col_cpu(g, xr.data(), cols.data());
  gemm_batched_sum_cpu(false, true, cout, K, HW, gyr.data(), cout * HW, cols.data(), K * HW, gw, g.batch,
                       static_cast<float*>(nullptr));
}

int64_t conv_igemm_workspace_cpu(const ConvGeometry&, int64_t) { return 0; }

}  // namespace mmengine::kernels
