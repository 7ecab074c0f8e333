// The CPU twins of the halo weight gradient (kernels/conv_igemm.h, kernels/cuda/
// conv_igemm_halo_wgrad.cu): the reference weight gradient (kernels/cpu/conv_igemm.cpp) on
// TF32-rounded operands (3xTF32: as they are; bf16 values are TF32 values) behind the halo launcher's own check of the shape;
// the workspace is unused on the CPU. Also the split plan, a function of the shape that both
// devices' workspace sizes use.
#include <algorithm>

#include "kernels/bf16.h"
#include "kernels/conv_igemm.h"

namespace mmengine::kernels {

template <typename A>
void conv_igemm_grad_weight_halo_cpu(const ConvGeometry& g, int64_t cout, const A* x, const A* gy, float* gw,
                                     float* /*workspace*/) {
  check_igemm_halo_wgrad_supported(g);
  conv_igemm_grad_weight_cpu(g, cout, x, gy, gw, nullptr);
}
template <typename A>
void conv_igemm_grad_weight_halo_rows_cpu(const ConvGeometry& g, int64_t cout, const A* x, const A* gy, float* gw,
                                          float* workspace) {
  conv_igemm_grad_weight_halo_cpu(g, cout, x, gy, gw, workspace);
}
#define MM_INSTANTIATE(A)                                                                                            \
  template void conv_igemm_grad_weight_halo_cpu<A>(const ConvGeometry&, int64_t, const A*, const A*, float*, float*); \
  template void conv_igemm_grad_weight_halo_rows_cpu<A>(const ConvGeometry&, int64_t, const A*, const A*, float*,     \
                                                        float*);
MM_INSTANTIATE(float)
MM_INSTANTIATE(bf16)
void conv_igemm_grad_weight_halo_split_cpu(const ConvGeometry& g, int64_t cout, const float* x, const float* gy,
                                           float* gw, float* /*workspace*/) {
  check_igemm_halo_wgrad_supported(g);
  conv_igemm_grad_weight_split_cpu(g, cout, x, gy, gw, nullptr);
}
int64_t conv_igemm_halo_wgrad_workspace_cpu(const ConvGeometry&, int64_t) { return 0; }

// About two waves of 132 SMs (an H100) in blocks, with at least 4 rectangles (256 pixels) per
// split on average (the last split may be shorter): a function of the shape only, so the sums
// come out the same on every GPU.
IgemmHaloWgradPlan igemm_halo_wgrad_plan(const ConvGeometry& g, int64_t cout) {
  constexpr int64_t kTargetBlocks = 2 * 132, kMinTiles = 4;
  const IgemmHaloTiles t = igemm_halo_tiles(g.out_h(), g.out_w());
  const int shift = t.tw_shift;
  const int64_t tiles_x = t.tiles_x, per_image = t.per_image(), tiles = g.batch * per_image;
  MM_CHECK(tiles < (int64_t(1) << 31), "conv igemm halo weight gradient: ", tiles, " tiles exceed 32-bit indexing");
  const int64_t tile_n = igemm_halo_wgrad_tile_n(cout);
  const int64_t blocks = (g.in_channels + kIgemmHaloWgradChannels - 1) / kIgemmHaloWgradChannels *
                         ((cout + tile_n - 1) / tile_n);
  if (tiles == 0 || blocks == 0) return {shift, int(tiles_x), int(per_image), int(tiles), 1, 1};
  int64_t count = std::max<int64_t>(1, std::min((kTargetBlocks + blocks - 1) / blocks, tiles / kMinTiles));
  const int64_t chunk = (tiles + count - 1) / count;
  count = (tiles + chunk - 1) / chunk;
  return {shift, int(tiles_x), int(per_image), int(tiles), int(count), int(chunk)};
}

}  // namespace mmengine::kernels
