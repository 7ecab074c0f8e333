// The spatial-tile ("halo") implicit-GEMM convolution, stride 1 (kernels/conv_igemm.h): the
// forward, and the input gradient as the forward of gy with the transposed, flipped weights
// (the weight gradient: conv_igemm_halo_wgrad.cu).
//
// Block: 128 threads (4 warps, 2 x 2) compute a 64 x BN tile of the GEMM, rows = the 64 pixels
// of a TH x TW output rectangle of one image, columns = BN output channels (16, 32 or 64); warp
// tile 32 x BN/2 as 2 x BN/16 mma.m16n8k8 TF32 products per k-step. The K dimension is walked in
// stages of 8 input channels; a stage is K*K k-steps, one per tap, each over the 8 channels. Per
// stage the block stages in shared memory:
//   window  [8][plane]: the stage's channels over the rectangle's input window, rows of
//           TW + K - 1, (TH + K - 1) rows, zeros outside the image; plane = that area rounded up
//           to 8 mod 32 words, so the fragment reads (lanes g along the pixel row, t along the
//           channels) hit 32 different banks;
//   weights [K*K*8][BN + 8]: row tap * 8 + channel, read from the workspace (for each stage its
//           [K*K][8][Cout] tile, TF32-rounded unless SPLIT, zero past the last channel): a thread keeps one column and
//           walks rows 128 / BN apart, so the loads are contiguous along Cout and one pointer
//           plus a stride addresses them; conflict-free stores (at BN = 16 by the row order
//           below) and reads.
// Tap (ky, kx) of pixel (ty, tx) and channel c reads window[c][(ty + ky) * (TW + K - 1) + tx + kx]:
// a thread computes its four pixels' offsets once; a k-step adds the tap's offset. The next
// stage is loaded into registers while the warps multiply the current one (one barrier pair per
// stage). Operands are TF32-rounded when staged (the window) or when the workspace is written
// (the weights), or for 3xTF32 (SPLIT) staged as they are and split at the fragment reads; the
// sums are FP32 in registers.
// bf16 activations (--precision bf16): a shared word holds two channels (2j in the low half, 2j + 1
// in the high half: a .bf16 fragment register), so a stage is 16 channels in the same 8 word rows
// and one mma.m16n8k16 per tap and fragment pair replaces two m16n8k8: the fragment reads are the
// TF32 kernel's (word rows t and t + 4 hold k = 2t, 2t + 1 and 2t + 8, 2t + 9), half the shared
// loads and products per channel. The workspace holds the weights rounded to bf16 in the same
// pairs (once per call, not per load); results are rounded to bf16 once, at the store.
#include <algorithm>
#include <type_traits>

#include "kernels/bf16.h"
#include "kernels/conv_igemm.h"
#include "kernels/cuda/conv_igemm_moments.cuh"
#include "kernels/cuda/launch.cuh"
#include "kernels/cuda/tensor_core.cuh"

namespace mmengine::kernels {

namespace {
constexpr int kThreadsHalo = 128, kTilePixels = 64, kStage = 8, kWeightPad = 8;

// The window's words per channel for tile width 1 << tw_shift and kernel KS: the area rounded up
// to 8 mod 32 (at least 8).
MM_HD int halo_plane(int tw_shift, int ks) {
  const int area = ((kTilePixels >> tw_shift) + ks - 1) * ((1 << tw_shift) + ks - 1);
  return area <= 8 ? 8 : (area - 8 + 31) / 32 * 32 + 8;
}
// The largest plane over the tile widths 8, 16, 32.
constexpr int max_plane(int ks) { return ks == 3 ? 136 : 72; }

// Input channels per shared word: two bf16 (packed as a .bf16 fragment register), one float.
template <typename A>
constexpr int kHaloPack = std::is_same_v<A, bf16> ? 2 : 1;

// One stride-1 convolution as the kernel sees it: in [N, CI, IH, IW] -> out [N, CO, OH, OW];
// wt [stages][KS*KS][8][CO] holds the weights in stage order as the shared words hold them (TF32
// bits, float bits for SPLIT, bf16 pairs), a stage being 8 words = 8 * kHaloPack<A> channels.
template <typename A>
struct HaloConv {
  const A* in;
  const uint32_t* wt;
  A* out;
  int ci, ih, iw, co, oh, ow, pad;
  int tw_shift, tiles_x, tiles_y;
  double* partial;  // with STATS: per tile (blockIdx.x) its channels' sums and sums of squares [2, CO]
};

// STATS (the forward only): the block also writes, for each of its output channels, the sum and
// the sum of squares (double) of its tile's output pixels inside the output to
// p.partial[blockIdx.x][2][CO] in a fixed order (igemm_tile_moments, the gather kernel's epilogue
// too).
template <typename A, int KS, int NT, bool SPLIT, bool STATS = false>
__global__ void __launch_bounds__(kThreadsHalo) igemm_halo_kernel(HaloConv<A> p) {
  constexpr bool BF16 = std::is_same_v<A, bf16>;
  constexpr int PACK = kHaloPack<A>, KK = KS * KS, BN = 16 * NT, PLANE_MAX = max_plane(KS);
  static_assert(!BF16 || (!SPLIT && !STATS), "3xTF32 and the statistics epilogue are float32 only");
  constexpr int WIN_PER = (kStage * PLANE_MAX + kThreadsHalo - 1) / kThreadsHalo;
  constexpr int W_PER = KK * kStage * BN / kThreadsHalo, W_ROWS = kThreadsHalo / BN;  // rows apart per element
  static_assert(kThreadsHalo % BN == 0 && KK * kStage % W_ROWS == 0, "the weight stage splits evenly over the threads");
  __shared__ uint32_t window[kStage * PLANE_MAX];
  __shared__ uint32_t weights[KK * kStage][BN + kWeightPad];

  const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32, g = lane / 4, t = lane % 4;
  const int tiles = p.tiles_x * p.tiles_y, img = blockIdx.x / tiles, tile = blockIdx.x - img * tiles;
  const int tw = 1 << p.tw_shift, th = kTilePixels >> p.tw_shift;
  const int hw = tw + KS - 1, area = (th + KS - 1) * hw, plane = halo_plane(p.tw_shift, KS);
  const int oy0 = (tile / p.tiles_x) * th, ox0 = (tile - (tile / p.tiles_x) * p.tiles_x) * tw;
  const int n0 = blockIdx.y * BN, wm = (warp % 2) * 32, wn = (warp / 2) * (BN / 2);
  const int in_plane = p.ih * p.iw;

  // The window words this thread stages: the offset of its (first) input element from channel
  // c0's plane of this image (cl * PACK * in_plane + iy * iw + ix), -1 where the window lies
  // outside the image (or on the plane's padding words: zero), -2 past the last word row (nothing).
  int woff[WIN_PER];
  MM_UNROLL
  for (int i = 0; i < WIN_PER; ++i) {
    const int e = tid + i * kThreadsHalo;
    woff[i] = -2;
    if (e < kStage * plane) {
      const int cl = e / plane, r = e - cl * plane, hy = r / hw, hx = r - hy * hw;
      const int iy = oy0 - p.pad + hy, ix = ox0 - p.pad + hx;
      woff[i] = r < area && iy >= 0 && iy < p.ih && ix >= 0 && ix < p.iw ? cl * PACK * in_plane + iy * p.iw + ix : -1;
    }
  }
  // The pixel offsets of this thread's fragment rows (wm + mi * 16 + g + 8 h) in the window.
  int poff[2][2];
  MM_UNROLL
  for (int mi = 0; mi < 2; ++mi)
    MM_UNROLL
    for (int h = 0; h < 2; ++h) {
      const int m = wm + mi * 16 + g + 8 * h, ty = m >> p.tw_shift, tx = m & (tw - 1);
      poff[mi][h] = ty * hw + tx;
    }

  const A* image = p.in + int64_t(img) * p.ci * in_plane;
  // This thread's weight column and first row of a stage's tile; its element i is row
  // w_row + i * W_ROWS. At BN = 16 a warp stores two rows per element: rows 2 apart (bits 0 and
  // 1 of tid / 16 swapped: 48 words, 16 banks, apart), not adjacent (24 words: the second
  // half-warp's first 8 columns would share banks with the first's last 8).
  const int w_col = tid % BN, w_row = BN == 16 ? (tid / BN & ~3) | (tid / BN & 1) << 1 | (tid / BN >> 1 & 1) : tid / BN;
  const bool w_ok = n0 + w_col < p.co;
  const uint32_t* wcol = p.wt + int64_t(w_row) * p.co + n0 + w_col;
  // The next stage in registers: the window words (float bits, or two bf16 packed) and weights.
  uint32_t rwin[WIN_PER], rw[W_PER];
  auto load = [&](int s) {
    const int c0 = s * kStage * PACK;
    const A* base = image + int64_t(c0) * in_plane;
    const int limit = (p.ci - c0) * in_plane;  // offsets at or past it belong to channels past the last
    MM_UNROLL
    for (int i = 0; i < WIN_PER; ++i) {
      const int o = woff[i];
      if constexpr (BF16) {  // channels 2j (low half) and 2j + 1 (high half)
        const uint32_t lo = o >= 0 && o < limit ? base[o].bits : 0u;
        const uint32_t hi = o >= 0 && o + in_plane < limit ? base[o + in_plane].bits : 0u;
        rwin[i] = lo | hi << 16;
      } else {
        rwin[i] = float_bits(o >= 0 && o < limit ? base[o] : 0.0f);
      }
    }
    const uint32_t* wp = wcol + int64_t(s) * KK * kStage * p.co;
    MM_UNROLL
    for (int i = 0; i < W_PER; ++i) rw[i] = w_ok ? wp[int64_t(i) * W_ROWS * p.co] : 0u;
  };

  float acc[2][NT][4];
  MM_UNROLL
  for (int mi = 0; mi < 2; ++mi)
    for (int ni = 0; ni < NT; ++ni)
      for (int i = 0; i < 4; ++i) acc[mi][ni][i] = 0.0f;

  const int stages = (p.ci + kStage * PACK - 1) / (kStage * PACK), at0 = t * plane, at4 = (t + 4) * plane;
  load(0);
  for (int s = 0; s < stages; ++s) {
    MM_UNROLL
    for (int i = 0; i < WIN_PER; ++i)
      if (woff[i] != -2) window[tid + i * kThreadsHalo] = BF16 || SPLIT ? rwin[i] : tf32_round(bits_float(rwin[i]));
    MM_UNROLL
    for (int i = 0; i < W_PER; ++i) weights[w_row + i * W_ROWS][w_col] = rw[i];  // as the workspace holds them
    __syncthreads();
    if (s + 1 < stages) load(s + 1);  // the next stage's loads overlap the products
    MM_UNROLL
    for (int tap = 0; tap < KK; ++tap) {
      const int ky = tap / KS, kx = tap - ky * KS, toff = ky * hw + kx;
      uint32_t af[2][4], bf[NT][2];
      MM_UNROLL
      for (int mi = 0; mi < 2; ++mi) {
        af[mi][0] = window[at0 + toff + poff[mi][0]];
        af[mi][1] = window[at0 + toff + poff[mi][1]];
        af[mi][2] = window[at4 + toff + poff[mi][0]];
        af[mi][3] = window[at4 + toff + poff[mi][1]];
      }
      MM_UNROLL
      for (int ni = 0; ni < NT; ++ni) {
        const int col = wn + ni * 8 + g;
        bf[ni][0] = weights[tap * kStage + t][col];
        bf[ni][1] = weights[tap * kStage + t + 4][col];
      }
      if constexpr (SPLIT) mma_split_cross_terms<NT>(acc, af, bf);  // 3xTF32 (then hi x hi below)
      MM_UNROLL
      for (int mi = 0; mi < 2; ++mi)
        for (int ni = 0; ni < NT; ++ni) {
          if constexpr (BF16) mma_m16n8k16_bf16(acc[mi][ni], af[mi], bf[ni], acc[mi][ni]);
          else mma_m16n8k8_tf32(acc[mi][ni], af[mi], bf[ni], acc[mi][ni]);
        }
    }
    __syncthreads();  // the next stage overwrites the window and the weights
  }

  A* out = p.out + int64_t(img) * p.co * p.oh * p.ow;
  MM_UNROLL
  for (int mi = 0; mi < 2; ++mi)
    for (int ni = 0; ni < NT; ++ni)
      for (int i = 0; i < 4; ++i) {
        const int m = wm + mi * 16 + g + 8 * (i / 2), n = n0 + wn + ni * 8 + 2 * t + i % 2;
        const int oy = oy0 + (m >> p.tw_shift), ox = ox0 + (m & (tw - 1));
        if (oy < p.oh && ox < p.ow && n < p.co) out[(int64_t(n) * p.oh + oy) * p.ow + ox] = static_cast<A>(acc[mi][ni][i]);
      }

  if constexpr (STATS)  // (the tile's pixels inside the output)
    igemm_tile_moments<NT>(
        acc, wm, wn, [&](int m) { return oy0 + (m >> p.tw_shift) < p.oh && ox0 + (m & (tw - 1)) < p.ow; },
        p.partial + int64_t(blockIdx.x) * 2 * p.co, n0, p.co);
}

// How the weights workspace holds a weight: TF32-rounded bits, float bits as they are (3xTF32),
// or rounded to bf16 and packed two channels per word.
enum class HaloWeights { Tf32, Float, Bf16Pairs };
template <typename A, bool SPLIT>
constexpr HaloWeights kHaloWeights =
    std::is_same_v<A, bf16> ? HaloWeights::Bf16Pairs : SPLIT ? HaloWeights::Float : HaloWeights::Tf32;

// wt[((s * KK + tap) * 8 + cl) * CO + n] = the word for output channel n at tap and input channels
// c = (8 s + cl) * pack .. + pack - 1 (pack 2 for Bf16Pairs, c in the low half, else 1), each
// zero for c >= CI: the forward's w[n][c][tap] ([CO, CI, K, K]), or (transposed, the input
// gradient) the forward weights [CI, CO, K, K] flipped, w[c][n][KK - 1 - tap].
__global__ void igemm_halo_weights_kernel(const float* w, uint32_t* wt, int ci, int co, int kk, bool transposed,
                                          HaloWeights form, int total) {
  MM_GRID_STRIDE(i, total) {
    const int pack = form == HaloWeights::Bf16Pairs ? 2 : 1;
    const int n = static_cast<int>(i % co), rest = static_cast<int>(i / co), cl = rest % kStage,
              tap = (rest / kStage) % kk, c0 = (rest / (kStage * kk) * kStage + cl) * pack;
    auto weight = [&](int c) {
      return c >= ci ? 0.0f
             : transposed ? w[(int64_t(c) * co + n) * kk + kk - 1 - tap]
                          : w[(int64_t(n) * ci + c) * kk + tap];
    };
    if (form == HaloWeights::Bf16Pairs) {
      wt[i] = pack_bf16x2(float_bits(bf16_round(weight(c0))), float_bits(bf16_round(weight(c0 + 1))));
    } else {
      const float v = weight(c0);
      wt[i] = form == HaloWeights::Tf32 ? tf32_round(v) : float_bits(v);
    }
  }
}

// The stride-1 convolution of in [N, CI, IH, IW] by the weights (forward layout w [CO, CI, K, K],
// or transposed [CI, CO, K, K]) with padding pad into out [N, CO, OH, OW]; TF32, 3xTF32 or (bf16
// activations) bf16 products. With `partial` (float TF32 only): each tile's per-channel sums and
// sums of squares there, the tiles in order image by image ([N * tiles per image, 2, CO]).
template <typename A, bool SPLIT>
void halo_conv(int n, int ci, int ih, int iw, int co, int ks, int pad, const A* in, const float* w, bool transposed,
               A* out, float* workspace, cudaStream_t stream, double* partial = nullptr) {
  const int oh = ih + 2 * pad - ks + 1, ow = iw + 2 * pad - ks + 1;
  if (n == 0 || co == 0 || oh <= 0 || ow <= 0) return;
  const int words = kStage * kHaloPack<A>;  // channels per stage
  const int kk = ks * ks, total = (ci + words - 1) / words * kStage * kk * co;
  uint32_t* wt = reinterpret_cast<uint32_t*>(workspace);  // (device memory: any type)
  if (total > 0) {
    igemm_halo_weights_kernel<<<grid_for(total), kThreads, 0, stream>>>(w, wt, ci, co, kk, transposed,
                                                                         kHaloWeights<A, SPLIT>, total);
    MM_LAUNCH_CHECK();
  }
  const IgemmHaloTiles tiles = igemm_halo_tiles(oh, ow);
  HaloConv<A> p{in, wt, out, ci, ih, iw, co, oh, ow, pad, tiles.tw_shift, int(tiles.tiles_x), int(tiles.tiles_y), partial};
  const int64_t blocks = int64_t(n) * tiles.per_image();
  const int nt = co <= 16 ? 1 : co <= 32 ? 2 : 4;
  MM_CHECK(blocks < (int64_t(1) << 31) && (co + 16 * nt - 1) / (16 * nt) <= 65535, "conv igemm halo: ", blocks,
           " tiles x ", co, " channels exceed one launch's grid");
  const dim3 grid(static_cast<unsigned>(blocks), static_cast<unsigned>((co + 16 * nt - 1) / (16 * nt)));
  if constexpr (!SPLIT && std::is_same_v<A, float>) {
    if (partial != nullptr) {
      if (ks == 3 && nt == 1) igemm_halo_kernel<A, 3, 1, false, true><<<grid, kThreadsHalo, 0, stream>>>(p);
      else if (ks == 3 && nt == 2) igemm_halo_kernel<A, 3, 2, false, true><<<grid, kThreadsHalo, 0, stream>>>(p);
      else if (ks == 3) igemm_halo_kernel<A, 3, 4, false, true><<<grid, kThreadsHalo, 0, stream>>>(p);
      else if (nt == 1) igemm_halo_kernel<A, 1, 1, false, true><<<grid, kThreadsHalo, 0, stream>>>(p);
      else if (nt == 2) igemm_halo_kernel<A, 1, 2, false, true><<<grid, kThreadsHalo, 0, stream>>>(p);
      else igemm_halo_kernel<A, 1, 4, false, true><<<grid, kThreadsHalo, 0, stream>>>(p);
      MM_LAUNCH_CHECK();
      return;
    }
  }
  MM_CHECK(partial == nullptr, "conv igemm halo: statistics are for the float32 TF32 forward");
  if (ks == 3) {
    if (nt == 1) igemm_halo_kernel<A, 3, 1, SPLIT><<<grid, kThreadsHalo, 0, stream>>>(p);
    else if (nt == 2) igemm_halo_kernel<A, 3, 2, SPLIT><<<grid, kThreadsHalo, 0, stream>>>(p);
    else igemm_halo_kernel<A, 3, 4, SPLIT><<<grid, kThreadsHalo, 0, stream>>>(p);
  } else {
    if (nt == 1) igemm_halo_kernel<A, 1, 1, SPLIT><<<grid, kThreadsHalo, 0, stream>>>(p);
    else if (nt == 2) igemm_halo_kernel<A, 1, 2, SPLIT><<<grid, kThreadsHalo, 0, stream>>>(p);
    else igemm_halo_kernel<A, 1, 4, SPLIT><<<grid, kThreadsHalo, 0, stream>>>(p);
  }
  MM_LAUNCH_CHECK();
}

}  // namespace

int64_t conv_igemm_halo_workspace_cuda(const ConvGeometry& g, int64_t cout);

namespace {
// pack: input channels per shared word (kHaloPack of the activations' type).
void check_halo(const ConvGeometry& g, int64_t cout, const float* workspace, int pack) {
  check_igemm_halo_supported(g);
  MM_CHECK(workspace != nullptr || cout * g.col_rows() == 0, "conv igemm halo: needs its weight workspace");
  const int64_t limit = int64_t(1) << 31;  // (a stage's window offsets reach its planes of either side)
  MM_CHECK(g.batch * g.in_channels * g.height * g.width < limit && g.batch * cout * g.col_cols() < limit &&
               conv_igemm_halo_workspace_cuda(g, cout) < limit && kStage * pack * g.height * g.width < limit &&
               kStage * pack * g.col_cols() < limit,
           "conv igemm halo: tensors of 2^31 or more elements are not supported");
}
}  // namespace

// The weights in stage order, channels rounded up to whole stages of 8: the forward's (Cin in,
// Cout out) or the input gradient's (Cout in, Cin out), whichever is larger. (bf16 pairs need
// 8 words per 16 channels: 8 ceil(c / 16) <= 8 ceil(c / 8) words per 8-channel stage's share.)
int64_t conv_igemm_halo_workspace_cuda(const ConvGeometry& g, int64_t cout) {
  const int64_t taps = g.kernel_h * g.kernel_w, cin = g.in_channels;
  auto whole = [](int64_t c) { return (c + kStage - 1) / kStage * kStage; };
  return std::max(whole(cin) * cout, whole(cout) * cin) * taps;
}

namespace {
template <typename A, bool SPLIT>
void halo_forward(const ConvGeometry& g, int64_t cout, const A* x, const float* w, A* y, float* workspace,
                  cudaStream_t stream) {
  check_halo(g, cout, workspace, kHaloPack<A>);
  halo_conv<A, SPLIT>(int(g.batch), int(g.in_channels), int(g.height), int(g.width), int(cout), int(g.kernel_h),
                      int(g.padding), x, w, false, y, workspace, stream);
}
template <typename A, bool SPLIT>
void halo_grad_input(const ConvGeometry& g, int64_t cout, const float* w, const A* gy, A* gx, float* workspace,
                     cudaStream_t stream) {
  check_halo(g, cout, workspace, kHaloPack<A>);
  const int ks = int(g.kernel_h);
  halo_conv<A, SPLIT>(int(g.batch), int(cout), int(g.out_h()), int(g.out_w()), int(g.in_channels), ks,
                      ks - 1 - int(g.padding), gy, w, true, gx, workspace, stream);
}
}  // namespace

template <typename A>
void conv_igemm_forward_halo_cuda(const ConvGeometry& g, int64_t cout, const A* x, const float* w, A* y,
                                  float* workspace, cudaStream_t stream) {
  halo_forward<A, false>(g, cout, x, w, y, workspace, stream);
}
void conv_igemm_forward_halo_split_cuda(const ConvGeometry& g, int64_t cout, const float* x, const float* w, float* y,
                                        float* workspace, cudaStream_t stream) {
  halo_forward<float, true>(g, cout, x, w, y, workspace, stream);
}
int64_t conv_igemm_halo_stats_workspace_cuda(const ConvGeometry& g, int64_t cout) {
  return g.batch * igemm_halo_tiles(g.out_h(), g.out_w()).per_image() * 2 * cout;
}

void conv_igemm_forward_halo_stats_cuda(const ConvGeometry& g, int64_t cout, const float* x, const float* w, float* y,
                                        int64_t groups, double* moments, double* stats_workspace, float* workspace,
                                        cudaStream_t stream) {
  check_conv_igemm_halo_stats_supported(g, groups);
  check_halo(g, cout, workspace, 1);
  if (cout == 0) return;
  const int64_t tiles = conv_igemm_halo_stats_workspace_cuda(g, cout) / (2 * cout);  // over every image
  if (tiles == 0) {  // no pixels: zero moments (and no workspace)
    MM_CUDA_CHECK(cudaMemsetAsync(moments, 0, sizeof(double) * 2 * groups * cout, stream));
    return;
  }
  MM_CHECK(stats_workspace != nullptr, "conv igemm halo statistics: needs its workspace");
  MM_CHECK(tiles * 2 * cout < (int64_t(1) << 31), "conv igemm halo statistics: tensors of 2^31 or more elements are not supported");
  halo_conv<float, false>(int(g.batch), int(g.in_channels), int(g.height), int(g.width), int(cout), int(g.kernel_h),
                          int(g.padding), x, w, false, y, workspace, stream, stats_workspace);
  igemm_group_moments_cuda(stats_workspace, moments, groups, cout, tiles / groups,
                           static_cast<double>(g.batch / groups * g.col_cols()), stream);
}

template <typename A>
void conv_igemm_grad_input_halo_cuda(const ConvGeometry& g, int64_t cout, const float* w, const A* gy, A* gx,
                                     float* workspace, cudaStream_t stream) {
  halo_grad_input<A, false>(g, cout, w, gy, gx, workspace, stream);
}
void conv_igemm_grad_input_halo_split_cuda(const ConvGeometry& g, int64_t cout, const float* w, const float* gy,
                                           float* gx, float* workspace, cudaStream_t stream) {
  halo_grad_input<float, true>(g, cout, w, gy, gx, workspace, stream);
}

#define MM_INSTANTIATE(A)                                                                                          \
  template void conv_igemm_forward_halo_cuda<A>(const ConvGeometry&, int64_t, const A*, const float*, A*, float*,    \
                                                cudaStream_t);                                                      \
  template void conv_igemm_grad_input_halo_cuda<A>(const ConvGeometry&, int64_t, const float*, const A*, A*, float*, \
                                                   cudaStream_t);
MM_INSTANTIATE(float)
MM_INSTANTIATE(bf16)

}  // namespace mmengine::kernels
