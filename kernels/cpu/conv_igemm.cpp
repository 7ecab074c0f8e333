// The CPU twins of the implicit-GEMM convolution (kernels/conv_igemm.h): the reference
// im2col + GEMM convolution on inputs rounded to TF32 as the tensor cores round them, so the
// CUDA kernels can be compared tightly (only the order of the FP32 sums differs).
#include <algorithm>
#include <cstring>
#include <type_traits>
#include <vector>

#include "kernels/batchnorm_math.h"
#include "kernels/bf16.h"
#include "kernels/conv_igemm.h"
#include "kernels/gemm.h"
#include "kernels/cuda/tensor_core.cuh"

namespace mmengine::kernels {

namespace {
// The operand values the tensor cores multiply: TF32-rounded floats; bf16 activations exactly;
// with bf16 activations, the float weights rounded to bf16 (`Round`); for the 3xTF32 twins
// (`tf32` false) the floats as they are.
template <typename Round = float, typename S>
std::vector<float> tf32_copy(const S* x, int64_t n, bool tf32 = true) {
  std::vector<float> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const float v = static_cast<float>(static_cast<Round>(static_cast<float>(x[i])));
    out[static_cast<size_t>(i)] = tf32 ? bits_float(tf32_round_bits(float_bits(v))) : v;
  }
  return out;
}
// The float results into A (a copy rounded to bf16, or the float output itself).
template <typename A>
struct Output {
  A* dst;
  int64_t n;
  std::vector<float> buffer;
  Output(A* d, int64_t count) : dst(d), n(count) {
    if constexpr (!std::is_same_v<A, float>) buffer.resize(static_cast<size_t>(n));
  }
  float* data() {
    if constexpr (std::is_same_v<A, float>) return dst;
    else return buffer.data();
  }
  void store() {
    if constexpr (!std::is_same_v<A, float>)
      for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<A>(buffer[static_cast<size_t>(i)]);
  }
};
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

// The three twins on TF32-rounded operands (`tf32`) or on the floats as they are (3xTF32).
namespace {
template <typename A>
void forward(const ConvGeometry& g, int64_t cout, const A* x, const float* w, A* y, bool tf32) {
  const int64_t K = g.col_rows(), HW = g.col_cols();
  const std::vector<float> xr = tf32_copy(x, image_elements(g), tf32), wr = tf32_copy<A>(w, cout * K, tf32);
  std::vector<float> cols(static_cast<size_t>(g.batch * K * HW));
  im2col_cpu(g, xr.data(), cols.data());
  Output<A> out(y, g.batch * cout * HW);
  gemm_batched_cpu(false, false, cout, HW, K, 1.0f, wr.data(), 0, cols.data(), K * HW, 0.0f, out.data(), cout * HW,
                   g.batch);
  out.store();
}
}  // namespace

void conv_igemm_forward_stats_cpu(const ConvGeometry& g, int64_t cout, const float* x, const float* w, float* y,
                                  int64_t groups, double* moments, double* /*workspace*/) {
  check_conv_igemm_stats_supported(g, groups);
  conv_igemm_forward_cpu(g, cout, x, w, y);
  conv_igemm_output_moments_cpu(g, cout, y, groups, moments);
}

void conv_igemm_output_moments_cpu(const ConvGeometry& g, int64_t cout, const float* y, int64_t groups, double* moments) {
  const int64_t hw = g.col_cols(), per = g.batch / groups;
  const double count = static_cast<double>(per * hw);
  for (int64_t grp = 0; grp < groups; ++grp)
    for (int64_t c = 0; c < cout; ++c) {
      double sum = 0, squares = 0;
      for (int64_t n = grp * per; n < (grp + 1) * per; ++n)
        for (int64_t i = 0; i < hw; ++i) {
          const double v = y[(n * cout + c) * hw + i];
          sum += v;
          squares += v * v;
        }
      moments[grp * cout + c] = sum;
      moments[(groups + grp) * cout + c] = count > 0 ? bn_m2_from_sums(sum, squares, count) : 0.0;
    }
}

int64_t conv_igemm_stats_workspace_cpu(const ConvGeometry&, int64_t) { return 0; }

namespace {
template <typename A>
void grad_input(const ConvGeometry& g, int64_t cout, const float* w, const A* gy, A* gx, bool tf32) {
  const int64_t K = g.col_rows(), HW = g.col_cols();
  const std::vector<float> wr = tf32_copy<A>(w, cout * K, tf32), gyr = tf32_copy(gy, grad_elements(g, cout), tf32);
  std::vector<float> gcols(static_cast<size_t>(g.batch * K * HW));
  gemm_batched_cpu(true, false, K, HW, cout, 1.0f, wr.data(), 0, gyr.data(), cout * HW, 0.0f, gcols.data(), K * HW,
                   g.batch);
  Output<A> out(gx, image_elements(g));
  col2im_cpu(g, gcols.data(), out.data());
  out.store();
}
}  // namespace

namespace {
template <typename A>
void grad_weight(const ConvGeometry& g, int64_t cout, const A* x, const A* gy, float* gw, bool tf32) {
  const int64_t K = g.col_rows(), HW = g.col_cols();
  const std::vector<float> xr = tf32_copy(x, image_elements(g), tf32), gyr = tf32_copy(gy, grad_elements(g, cout), tf32);
  std::vector<float> cols(static_cast<size_t>(g.batch * K * HW));
  im2col_cpu(g, xr.data(), cols.data());
  gemm_batched_sum_cpu(false, true, cout, K, HW, gyr.data(), cout * HW, cols.data(), K * HW, gw, g.batch,
                       static_cast<float*>(nullptr));
}
}  // namespace

template <typename A>
void conv_igemm_forward_cpu(const ConvGeometry& g, int64_t cout, const A* x, const float* w, A* y) {
  forward(g, cout, x, w, y, true);
}
template <typename A>
void conv_igemm_grad_input_cpu(const ConvGeometry& g, int64_t cout, const float* w, const A* gy, A* gx) {
  grad_input(g, cout, w, gy, gx, true);
}
template <typename A>
void conv_igemm_grad_weight_cpu(const ConvGeometry& g, int64_t cout, const A* x, const A* gy, float* gw,
                                float* /*workspace*/) {
  grad_weight(g, cout, x, gy, gw, true);
}
void conv_igemm_forward_split_cpu(const ConvGeometry& g, int64_t cout, const float* x, const float* w, float* y) {
  forward(g, cout, x, w, y, false);
}
void conv_igemm_grad_input_split_cpu(const ConvGeometry& g, int64_t cout, const float* w, const float* gy, float* gx) {
  grad_input(g, cout, w, gy, gx, false);
}
void conv_igemm_grad_weight_split_cpu(const ConvGeometry& g, int64_t cout, const float* x, const float* gy, float* gw,
                                      float* /*workspace*/) {
  grad_weight(g, cout, x, gy, gw, false);
}

int64_t conv_igemm_workspace_cpu(const ConvGeometry&, int64_t) { return 0; }


#define MM_INSTANTIATE(A)                                                                                  \
  template void conv_igemm_forward_cpu<A>(const ConvGeometry&, int64_t, const A*, const float*, A*);       \
  template void conv_igemm_grad_input_cpu<A>(const ConvGeometry&, int64_t, const float*, const A*, A*);    \
  template void conv_igemm_grad_weight_cpu<A>(const ConvGeometry&, int64_t, const A*, const A*, float*, float*);
MM_INSTANTIATE(float)
MM_INSTANTIATE(bf16)

}  // namespace mmengine::kernels
