// The spatial-tile ("halo") implicit-GEMM weight gradient, 3x3 stride 1 (kernels/conv_igemm.h):
// GW^T[(c, tap), co] = sum over output pixels p of X(p, (c, tap)) GY(p, co).
//
// Block: 128 threads (4 warps) compute GW^T for 16 input channels x 9 taps (rows) and BN = 32 or 64
// output channels (columns): warp w owns columns w * BN/4 .. + BN/4 (NW = BN/32 n8 fragments) for
// all 9 taps, i.e. 9 x NW accumulators of mma.m16n8k8 TF32, whose m16 rows are the 16 channels at
// one tap and whose k8 inner dimension is 8 consecutive pixels of a rectangle row. Per k-step a
// warp loads 36 A and 2 NW B fragment words for 9 NW products ((36 + 2 NW) / 9 NW shared loads
// per product: 4.2 at BN = 32, 2.2 at 64). The ROWS layout (MMENGINE_IGEMM=halo-rows) instead
// gives three warps a kernel row each (3 taps) for all BN columns (3 x BN/8 products from 12 A
// and BN/4 B words: 1.7 loads per product at 32, 1.2 at 64); the fourth only stages (which warp:
// rotated with the block index). The inner
// dimension is walked one 64-pixel TH x TW output rectangle of one image (the halo forward's
// tiles) per stage, over the split's range of rectangles (blockIdx.z). Per stage the block
// stages in shared memory:
//   window [16][plane]: the 16 channels over the rectangle's input window, (TH + 2) rows of
//          TW + 2, zeros outside the image (and past the last channel); plane = that area
//          rounded up to 4 mod 8 words, so the A fragment reads (lanes g along the channels,
//          t along the pixels) hit 32 different banks;
//   gy     [BN][64 + 4]: the rectangle's gy for the block's output channels, zero for pixels
//          outside the output; rows of 68 words (4 mod 8): conflict-free B fragment reads.
// Tap (ky, kx) of pixel (ty, tx) and channel c reads window[c][(ty + ky) * (TW + 2) + tx + kx]: a
// k-step's 8 pixels lie in one rectangle row, so the 9 taps' fragments are the same addresses
// shifted by the tap's offset. A rectangle that overhangs the output masks its missing pixels'
// A values to zero (gy is zero there already, but a non-finite x times zero would not be). The
// next stage is loaded into registers while the warps multiply the current one (one barrier pair
// per stage). Operands are TF32-rounded when staged (3xTF32, SPLIT: staged as they are and split
// at the fragment reads); the sums are FP32 in registers. Each split writes its partial GW to the
// workspace (or GW itself when there is one split); sum_axis adds the splits in order.
// bf16 activations (--precision bf16): x and gy are staged as their float values, which are exact
// in TF32, so the TF32 products are exact as the bf16 mma's would be (FP32 sums either way): the
// same kernel with half the global bytes. (.bf16 fragments would pair consecutive pixels, which
// the taps with kx = 1 read at odd window offsets: not done.)
#include <algorithm>
#include <type_traits>

#include "kernels/bf16.h"
#include "kernels/conv_igemm.h"
#include "kernels/cuda/launch.cuh"
#include "kernels/cuda/tensor_core.cuh"
#include "kernels/reduce.h"

namespace mmengine::kernels {

namespace {
constexpr int kThreadsW = 128, kPixels = 64, kChannels = kIgemmHaloWgradChannels, kTaps = 9, kGyRow = kPixels + 4;
constexpr int kPlaneMax = 140;  // tile width 32: 4 x 34 = 136 words, rounded up to 4 mod 8

// The window's words per channel for tile width 1 << tw_shift: the area rounded up to 4 mod 8.
MM_HD int wgrad_plane(int tw_shift) {
  const int area = ((kPixels >> tw_shift) + 2) * ((1 << tw_shift) + 2);
  return area + (12 - area % 8) % 8;
}

template <typename A>
struct HaloWgrad {
  const A* x;   // [N, CI, IH, IW]
  const A* gy;  // [N, CO, OH, OW]
  float* out;       // [splits][CO][CI * 9]
  int ci, ih, iw, co, oh, ow, pad;
  int tw_shift, tiles_x, tiles_per_image, tiles, chunk;
};

template <typename A, int NW, bool SPLIT, bool ROWS>
__global__ void __launch_bounds__(kThreadsW) igemm_halo_wgrad_kernel(HaloWgrad<A> p) {
  static_assert(std::is_same_v<A, float> || !SPLIT, "3xTF32 is float32 only");
  constexpr bool ROUND = std::is_same_v<A, float> && !SPLIT;  // (bf16 values are TF32 values already)
  constexpr int BN = 32 * NW;
  // A warp's accumulators: TAPS taps x NF n8 fragments (columns: all 9 taps x NW; ROWS: one
  // kernel row's 3 taps x every n8 fragment of the block).
  constexpr int TAPS = ROWS ? 3 : kTaps, NF = ROWS ? BN / 8 : NW;
  constexpr int WIN_PER = (kChannels * kPlaneMax + kThreadsW - 1) / kThreadsW, GY_PER = BN * kPixels / kThreadsW;
  constexpr int GY_STEP = kThreadsW / kPixels;  // output channels between a thread's gy elements
  __shared__ uint32_t window[kChannels * kPlaneMax];
  __shared__ uint32_t gys[BN * kGyRow];

  const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32, g = lane / 4, t = lane % 4;
  const int tw = 1 << p.tw_shift, th = kPixels >> p.tw_shift, hw = tw + 2, area = (th + 2) * hw;
  const int plane = wgrad_plane(p.tw_shift);
  const int c0 = blockIdx.x * kChannels, n0 = blockIdx.y * BN, wn = ROWS ? 0 : warp * (BN / 4);
  // ROWS: the warp's role, rotated with the block so that co-resident blocks leave different
  // warp slots (SM sub-partitions, each with its own tensor core) without products: role r < 3
  // owns kernel row r, role 3 only stages.
  const int role = ROWS ? (warp + blockIdx.x + blockIdx.y + blockIdx.z) % 4 : 0;
  const bool stager = ROWS && role == 3;  // (warp-uniform)
  const int tap0 = ROWS ? role * 3 : 0;   // this warp's first tap
  const int row_off = ROWS ? role * hw : 0;  // ROWS: its kernel row's offset in the window
  const int t_begin = blockIdx.z * p.chunk, t_end = p.tiles - t_begin < p.chunk ? p.tiles : t_begin + p.chunk;
  const int in_plane = p.ih * p.iw, out_plane = p.oh * p.ow, cmax = p.ci - c0;

  // The window words this thread stages, packed (channel << 16 | row << 8 | column within the
  // window), -1 on a plane's padding words (zero), -2 past the last plane (nothing).
  int wdec[WIN_PER];
  MM_UNROLL
  for (int i = 0; i < WIN_PER; ++i) {
    const int e = tid + i * kThreadsW;
    wdec[i] = -2;
    if (e < kChannels * plane) {
      const int cl = e / plane, r = e - cl * plane, hy = r / hw, hx = r - hy * hw;
      wdec[i] = r < area ? cl << 16 | hy << 8 | hx : -1;
    }
  }
  // This thread's gy pixel (the same in every rectangle) and first output channel.
  const int gm = tid % kPixels, gty = gm >> p.tw_shift, gtx = gm & (tw - 1), gco = tid / kPixels;

  // Rectangle `tile`: its image and output origin.
  auto origin = [&](int tile, int& img, int& oy0, int& ox0) {
    img = tile / p.tiles_per_image;
    const int r = tile - img * p.tiles_per_image, row = r / p.tiles_x;
    oy0 = row * th;
    ox0 = (r - row * p.tiles_x) * tw;
  };
  float rwin[WIN_PER], rgy[GY_PER];
  auto load = [&](int tile) {
    int img, oy0, ox0;
    origin(tile, img, oy0, ox0);
    const A* xi = p.x + (int64_t(img) * p.ci + c0) * in_plane;
    const int y0 = oy0 - p.pad, x0 = ox0 - p.pad;
    MM_UNROLL
    for (int i = 0; i < WIN_PER; ++i) {
      const int d = wdec[i], cl = d >> 16, iy = y0 + (d >> 8 & 255), ix = x0 + (d & 255);
      rwin[i] = d >= 0 && cl < cmax && iy >= 0 && iy < p.ih && ix >= 0 && ix < p.iw
                    ? static_cast<float>(xi[cl * in_plane + iy * p.iw + ix])
                    : 0.0f;
    }
    const int oy = oy0 + gty, ox = ox0 + gtx;
    const bool pixel_ok = oy < p.oh && ox < p.ow;
    const A* gi = p.gy + (int64_t(img) * p.co + n0 + gco) * out_plane + (pixel_ok ? oy * p.ow + ox : 0);
    MM_UNROLL
    for (int i = 0; i < GY_PER; ++i)
      rgy[i] = pixel_ok && n0 + gco + i * GY_STEP < p.co ? static_cast<float>(gi[int64_t(i) * GY_STEP * out_plane])
                                                         : 0.0f;
  };

  float acc[TAPS][NF][4];
  MM_UNROLL
  for (int tap = 0; tap < TAPS; ++tap)
    for (int nf = 0; nf < NF; ++nf)
      for (int i = 0; i < 4; ++i) acc[tap][nf][i] = 0.0f;

  const int at = g * plane + t, bt = (wn + g) * kGyRow + t;  // this lane's fragment addresses at pixel 0
  // One stage's products; MASKED: the rectangle overhangs the output, and the A values of its
  // missing pixels are zeroed.
  auto products = [&](auto masked, int oy0, int ox0) {
    constexpr bool MASKED = decltype(masked)::value;
    MM_UNROLL
    for (int j = 0; j < kPixels / 8; ++j) {
      const int ty = (8 * j) >> p.tw_shift, tx = (8 * j) & (tw - 1), base = at + ty * hw + tx;
      uint32_t keep0 = ~0u, keep4 = ~0u;  // pixels t and t + 4 of the k-step
      if constexpr (MASKED) {
        const bool row_ok = oy0 + ty < p.oh;
        keep0 = row_ok && ox0 + tx + t < p.ow ? ~0u : 0u;
        keep4 = row_ok && ox0 + tx + t + 4 < p.ow ? ~0u : 0u;
      }
      uint32_t bf[NF][2];
      [[maybe_unused]] uint32_t bl[NF][2];  // (3xTF32: the low parts)
      MM_UNROLL
      for (int nf = 0; nf < NF; ++nf) {
        bf[nf][0] = gys[bt + nf * 8 * kGyRow + 8 * j];
        bf[nf][1] = gys[bt + nf * 8 * kGyRow + 8 * j + 4];
        if constexpr (SPLIT) {
          bl[nf][0] = tf32_split(bf[nf][0]);
          bl[nf][1] = tf32_split(bf[nf][1]);
        }
      }
      MM_UNROLL
      for (int tap = 0; tap < TAPS; ++tap) {
        const int a = ROWS ? base + row_off + tap : base + (tap / 3) * hw + tap % 3;
        uint32_t af[4] = {window[a] & keep0, window[a + 8 * plane] & keep0, window[a + 4] & keep4,
                          window[a + 8 * plane + 4] & keep4};
        if constexpr (SPLIT) {  // 3xTF32: the cross terms, then hi x hi below
          uint32_t al[4];
          MM_UNROLL
          for (int i = 0; i < 4; ++i) al[i] = tf32_split(af[i]);
          MM_UNROLL
          for (int nf = 0; nf < NF; ++nf) {
            mma_m16n8k8_tf32(acc[tap][nf], af, bl[nf], acc[tap][nf]);
            mma_m16n8k8_tf32(acc[tap][nf], al, bf[nf], acc[tap][nf]);
          }
        }
        MM_UNROLL
        for (int nf = 0; nf < NF; ++nf) mma_m16n8k8_tf32(acc[tap][nf], af, bf[nf], acc[tap][nf]);
      }
    }
  };

  if (t_begin < t_end) load(t_begin);
  for (int tile = t_begin; tile < t_end; ++tile) {
    MM_UNROLL
    for (int i = 0; i < WIN_PER; ++i)
      if (wdec[i] != -2) window[tid + i * kThreadsW] = ROUND ? tf32_round(rwin[i]) : float_bits(rwin[i]);
    MM_UNROLL
    for (int i = 0; i < GY_PER; ++i)
      gys[(gco + i * GY_STEP) * kGyRow + gm] = ROUND ? tf32_round(rgy[i]) : float_bits(rgy[i]);
    __syncthreads();
    int img, oy0, ox0;
    origin(tile, img, oy0, ox0);
    if (tile + 1 < t_end) load(tile + 1);  // the next rectangle's loads overlap the products
    if (!stager) {  // (the staging warp only stages)
      if (oy0 + th <= p.oh && ox0 + tw <= p.ow) products(std::false_type{}, oy0, ox0);
      else products(std::true_type{}, oy0, ox0);
    }
    __syncthreads();  // the next stage overwrites the window and gy
  }

  // Every (output channel, channel, tap) of this split is this block's alone: plain stores.
  const int k = p.ci * kTaps;
  float* out = p.out + int64_t(blockIdx.z) * p.co * k;
  if (stager) return;
  MM_UNROLL
  for (int tap = 0; tap < TAPS; ++tap)
    for (int nf = 0; nf < NF; ++nf)
      for (int i = 0; i < 4; ++i) {
        const int cl = g + 8 * (i / 2), co = n0 + wn + nf * 8 + 2 * t + i % 2;
        if (cl < cmax && co < p.co) out[int64_t(co) * k + (c0 + cl) * kTaps + tap0 + tap] = acc[tap][nf][i];
      }
}

template <typename A, bool SPLIT, bool ROWS = false>
void halo_wgrad(const ConvGeometry& g, int64_t cout, const A* x, const A* gy, float* gw, float* workspace,
                cudaStream_t stream) {
  check_igemm_halo_wgrad_supported(g);
  const int64_t K = g.col_rows();
  if (K == 0 || cout == 0) return;
  const IgemmHaloWgradPlan plan = igemm_halo_wgrad_plan(g, cout);
  const int64_t limit = int64_t(1) << 31, tile_n = igemm_halo_wgrad_tile_n(cout);
  MM_CHECK(g.batch * g.in_channels * g.height * g.width < limit && g.batch * cout * g.col_cols() < limit &&
               int64_t(plan.count) * cout * K < limit,
           "conv igemm halo weight gradient: tensors of 2^31 or more elements are not supported");
  MM_CHECK(plan.count == 1 || workspace != nullptr, "conv igemm halo weight gradient: needs its workspace");
  MM_CHECK(plan.count <= 65535 && (cout + tile_n - 1) / tile_n <= 65535, "conv igemm halo weight gradient: ",
           plan.count, " splits x ", cout, " channels exceed one launch's grid");
  const HaloWgrad<A> p{x, gy, plan.count > 1 ? workspace : gw, int(g.in_channels), int(g.height), int(g.width),
                    int(cout), int(g.out_h()), int(g.out_w()), int(g.padding), plan.tw_shift, plan.tiles_x,
                    plan.tiles_per_image, plan.tiles, plan.chunk};
  const dim3 grid(static_cast<unsigned>((g.in_channels + kChannels - 1) / kChannels),
                  static_cast<unsigned>((cout + tile_n - 1) / tile_n), static_cast<unsigned>(plan.count));
  if (tile_n == 32) igemm_halo_wgrad_kernel<A, 1, SPLIT, ROWS><<<grid, kThreadsW, 0, stream>>>(p);
  else igemm_halo_wgrad_kernel<A, 2, SPLIT, ROWS><<<grid, kThreadsW, 0, stream>>>(p);
  MM_LAUNCH_CHECK();
  if (plan.count > 1) sum_axis_cuda(workspace, gw, 1, plan.count, cout * K, stream);  // the splits in order
}
}  // namespace

int64_t conv_igemm_halo_wgrad_workspace_cuda(const ConvGeometry& g, int64_t cout) {
  const IgemmHaloWgradPlan plan = igemm_halo_wgrad_plan(g, cout);
  return plan.count > 1 ? int64_t(plan.count) * cout * g.col_rows() : 0;
}

template <typename A>
void conv_igemm_grad_weight_halo_cuda(const ConvGeometry& g, int64_t cout, const A* x, const A* gy, float* gw,
                                      float* workspace, cudaStream_t stream) {
  halo_wgrad<A, false>(g, cout, x, gy, gw, workspace, stream);
}
void conv_igemm_grad_weight_halo_split_cuda(const ConvGeometry& g, int64_t cout, const float* x, const float* gy,
                                            float* gw, float* workspace, cudaStream_t stream) {
  halo_wgrad<float, true>(g, cout, x, gy, gw, workspace, stream);
}
template <typename A>
void conv_igemm_grad_weight_halo_rows_cuda(const ConvGeometry& g, int64_t cout, const A* x, const A* gy, float* gw,
                                           float* workspace, cudaStream_t stream) {
  halo_wgrad<A, false, true>(g, cout, x, gy, gw, workspace, stream);
}
#define MM_INSTANTIATE(A)                                                                                            \
  template void conv_igemm_grad_weight_halo_cuda<A>(const ConvGeometry&, int64_t, const A*, const A*, float*, float*, \
                                                    cudaStream_t);                                                   \
  template void conv_igemm_grad_weight_halo_rows_cuda<A>(const ConvGeometry&, int64_t, const A*, const A*, float*,    \
                                                         float*, cudaStream_t);
MM_INSTANTIATE(float)
MM_INSTANTIATE(bf16)

}  // namespace mmengine::kernels
