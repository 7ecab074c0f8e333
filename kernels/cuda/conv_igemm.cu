// Implicit-GEMM convolution on tensor cores (kernels/conv_igemm.h): one tiled GEMM kernel,
// instantiated for the three convolution GEMMs through small operand structs that gather
// their elements from the NCHW tensors (no column buffer).
//
// Tiling: a block of 128 threads (4 warps, 2 x 2) computes a 64 x BN tile of the output GEMM
// (BN = 16, 32, 64 or 128, the smallest that covers N up to 128), warp tile 32 x BN/2, as
// 2 x BN/16 mma.m16n8k8 TF32 products per K step of 8. The K dimension is walked in slices of
// 16: each thread gathers its share of the next slice into registers while the warps multiply
// the current one from shared memory (one barrier pair per slice). Shared rows are padded by 8
// words so the fragment reads (lanes g = 0..7 along the row, t = 0..3 along K) hit 32
// different banks. Operands are rounded to TF32 (cvt.rna) when stored to shared memory (3xTF32,
// SPLIT: stored as they are and split at the fragment reads, tf32_split); the
// accumulators are FP32 in registers; edges (M, N, K not multiples of the tile) read zeros and
// store nothing. Activations may be bf16 (kernels/conv_igemm.h): converted to float at the
// gather, the float32 weights rounded to bf16 there, results rounded at the store; every operand
// is then a bf16 value, stored to shared memory as its float bits (no cvt), and the products are
// bf16 mma.m16n8k16 (one per 16-wide K slice, twice TF32's tensor rate; exact products, FP32
// sums), with shared rows padded by 4 words instead of 8 so the pairwise fragment reads
// (k = 2t, 2t + 1) also hit 32 different banks.
#include <algorithm>
#include <type_traits>

#include "kernels/batchnorm_math.h"
#include "kernels/bf16.h"
#include "kernels/conv_igemm.h"
#include "kernels/cuda/conv_igemm_moments.cuh"
#include "kernels/cuda/launch.cuh"
#include "kernels/cuda/tensor_core.cuh"
#include "kernels/reduce.h"

namespace mmengine::kernels {

namespace {
constexpr int kTileM = 64, kSlice = 16, kTileThreads = 128, kPad = 8;

template <typename A>
__device__ float read_or_zero(const A* t, int i) { return i >= 0 ? static_cast<float>(t[i]) : 0.0f; }
// A float32 weight as the kernels multiply it next to activations stored as A.
template <typename A>
__device__ float weight_operand(float w) {
  if constexpr (std::is_same_v<A, bf16>) return bf16_round(w);
  else return w;
}

// Each GEMM's operands, as the kernel reads them. A(m, k) = a(am(m), ak(k)): the halves of the
// gather (kernels/conv_igemm.h), the one that is fixed for a thread computed once. B(k, n) =
// b[bk(k) + bn(n)]. store(m, n, split, v) writes one result.

// Forward: A(p, r) = x through the column matrix, B(r, co) = w[co, r]. SPLIT (float only): the
// 3xTF32 products (tf32_split), operands staged unrounded.
template <typename A, bool SPLIT = false>
struct ForwardProblem {
  IgemmShape s;
  const A* x;
  const float* b;  // w
  A* y;
  int k;            // Cin * KH * KW
  double* partial;  // with STATS: per M tile, the tile's per-channel sums and sums of squares [2, Cout]
  __device__ IgemmPixel am(int p) const { return igemm_out_pixel(s, p); }
  __device__ IgemmTap ak(int r) const { return igemm_x_tap(s, r); }
  __device__ float a(const IgemmPixel& px, const IgemmTap& t) const { return read_or_zero(x, igemm_x_index(s, px, t)); }
  static constexpr bool kBf16 = std::is_same_v<A, bf16>, kSplit = SPLIT;
  __device__ float b_at(int i) const { return weight_operand<A>(b[i]); }
  __device__ int bk(int r) const { return r; }
  __device__ int bn(int co) const { return co * k; }
  __device__ void store(int p, int co, int /*split*/, float v) const { y[igemm_y_index(s, p, co)] = static_cast<A>(v); }
};

// Input gradient of one stride phase (kernels/conv_igemm.h): phase pixel q and phase tap r are
// input pixel igemm_phase_in_index(q) and tap r' = igemm_phase_tap_index(r) = (co, ky, kx);
// A(q, r) = gy through the transposed gather, B(r, c) = w[co, c, ky, kx].
template <typename A, bool SPLIT = false>
struct GradInputProblem {
  IgemmShape s;
  IgemmPhase ph;
  const A* gy;
  const float* b;  // w
  A* gx;
  __device__ IgemmPixel am(int q) const { return igemm_in_pixel(s, igemm_phase_in_index(s, ph, q)); }
  __device__ IgemmTap ak(int r) const { return igemm_gy_tap(s, igemm_phase_tap_index(s, ph, r)); }
  __device__ float a(const IgemmPixel& px, const IgemmTap& t) const { return read_or_zero(gy, igemm_gy_index(s, px, t)); }
  static constexpr bool kBf16 = std::is_same_v<A, bf16>, kSplit = SPLIT;
  __device__ float b_at(int i) const { return weight_operand<A>(b[i]); }
  __device__ int bk(int r) const {
    const int taps = s.kh * s.kw, full = igemm_phase_tap_index(s, ph, r), co = full / taps;
    return co * s.c * taps + (full - co * taps);
  }
  __device__ int bn(int c) const { return c * s.kh * s.kw; }
  __device__ void store(int q, int c, int /*split*/, float v) const {
    const int hw = s.h * s.w, in = igemm_phase_in_index(s, ph, q), n = in / hw;
    gx[(n * s.c + c) * hw + (in - n * hw)] = static_cast<A>(v);
  }
};

// Transposed weight gradient GW^T[r, co] = sum_p X(p, r) GY(p, co): A(r, p) is the column
// matrix, B(p, co) = gy; split `split` stores its partial product to out + split * Cout * K
// ([Cout, K] each).
template <typename A, bool SPLIT = false>
struct GradWeightProblem {
  IgemmShape s;
  const A* x;
  const A* b;  // gy
  float* out;
  int k;           // Cin * KH * KW
  __device__ IgemmTap am(int r) const { return igemm_x_tap(s, r); }
  __device__ IgemmPixel ak(int p) const { return igemm_out_pixel(s, p); }
  __device__ float a(const IgemmTap& t, const IgemmPixel& px) const { return read_or_zero(x, igemm_x_index(s, px, t)); }
  static constexpr bool kBf16 = std::is_same_v<A, bf16>, kSplit = SPLIT;
  __device__ float b_at(int i) const { return static_cast<float>(b[i]); }
  __device__ int bk(int p) const { return igemm_y_index(s, p, 0); }
  __device__ int bn(int co) const { return co * s.oh * s.ow; }
  __device__ void store(int r, int co, int split, float v) const { out[(split * s.cout + co) * k + r] = v; }
};

// C[M, N] = A[M, K] B[K, N] over the K range [blockIdx.z * chunk, min(K, (blockIdx.z + 1) * chunk)).
// A_ALONG_M: the threads gathering the A slice walk along M (the operand is contiguous along
// M in memory: output or input pixels of one channel plane); each thread then keeps one M
// index for the whole kernel, and the K halves of the slice's 16 columns are computed by 16
// threads into a shared table (double-buffered: written one slice ahead, published by the
// barrier that publishes the tiles). Otherwise along K: each thread keeps its A_PER M halves and
// computes one K half per slice. B is gathered along K: one K half per thread per slice, its
// B_PER N halves kept.
// STATS (the forward): the block also writes, for each of its columns (channels), the sum and
// the sum of squares of its 64 rows (pixels) in double to pr.partial[blockIdx.x][2][N], in a
// fixed order (lanes by an xor butterfly, then the two warp rows).
template <int NT, bool A_ALONG_M, bool STATS, class Problem>
__global__ void __launch_bounds__(kTileThreads) igemm_kernel(Problem pr, int M, int N, int K, int chunk) {
  using AM = decltype(pr.am(0));
  using AK = decltype(pr.ak(0));
  constexpr bool BF16 = Problem::kBf16, SPLIT = Problem::kSplit;
  static_assert(!(BF16 && SPLIT), "3xTF32 is for float activations");
  constexpr int BN = 16 * NT, A_PER = kTileM * kSlice / kTileThreads, B_PER = BN * kSlice / kTileThreads;
  constexpr int M_STEP = kTileThreads / kSlice;  // rows between a K-major thread's elements
  constexpr int PAD = BF16 ? 4 : kPad;
  __shared__ uint32_t As[kSlice][kTileM + PAD];
  __shared__ uint32_t Bs[kSlice][BN + PAD];
  __shared__ AK k_halves[2][kSlice];
  const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32, g = lane / 4, t = lane % 4;
  const int m0 = blockIdx.x * kTileM, n0 = blockIdx.y * BN, split = blockIdx.z;
  const int k_begin = split * chunk, k_end = K - k_begin < chunk ? K : k_begin + chunk;
  const int wm = (warp % 2) * 32, wn = (warp / 2) * (BN / 2);

  // The halves fixed for this thread.
  AM am[A_ALONG_M ? 1 : A_PER];
  if constexpr (A_ALONG_M) {
    am[0] = pr.am(m0 + tid % kTileM);
  } else {
    MM_UNROLL
    for (int i = 0; i < A_PER; ++i) am[i] = pr.am(m0 + tid / kSlice + i * M_STEP);
  }
  int bn[B_PER];
  MM_UNROLL
  for (int i = 0; i < B_PER; ++i) bn[i] = pr.bn(n0 + tid / kSlice + i * M_STEP);

  float ra[A_PER], rb[B_PER];
  auto gather = [&](int k0, int buf) {
    const int kb = k0 + tid % kSlice;
    const int bk = kb < k_end ? pr.bk(kb) : 0;
    MM_UNROLL
    for (int i = 0; i < B_PER; ++i) {
      const int n = n0 + tid / kSlice + i * M_STEP;
      rb[i] = kb < k_end && n < N ? pr.b_at(bk + bn[i]) : 0.0f;
    }
    if constexpr (A_ALONG_M) {
      const bool m_ok = m0 + tid % kTileM < M;
      MM_UNROLL
      for (int i = 0; i < A_PER; ++i) {
        const int kk = tid / kTileM + i * (kTileThreads / kTileM);
        ra[i] = m_ok && k0 + kk < k_end ? pr.a(am[0], k_halves[buf][kk]) : 0.0f;
      }
    } else {
      const AK ak = pr.ak(kb);
      MM_UNROLL
      for (int i = 0; i < A_PER; ++i) {
        const int m = m0 + tid / kSlice + i * M_STEP;
        ra[i] = kb < k_end && m < M ? pr.a(am[i], ak) : 0.0f;
      }
    }
  };

  float acc[2][NT][4];
  MM_UNROLL
  for (int mi = 0; mi < 2; ++mi)
    for (int ni = 0; ni < NT; ++ni)
      for (int i = 0; i < 4; ++i) acc[mi][ni][i] = 0.0f;

  if (k_begin < k_end) {
    if (A_ALONG_M && tid < kSlice) k_halves[0][tid] = pr.ak(k_begin + tid);
    __syncthreads();
    gather(k_begin, 0);
  }
  for (int k0 = k_begin, buf = 0; k0 < k_end; k0 += kSlice, buf ^= 1) {
    MM_UNROLL
    for (int i = 0; i < A_PER; ++i) {
      const int e = tid + i * kTileThreads;
      const int m = A_ALONG_M ? e % kTileM : e / kSlice, kk = A_ALONG_M ? e / kTileM : e % kSlice;
      As[kk][m] = BF16 || SPLIT ? float_bits(ra[i]) : tf32_round(ra[i]);  // bf16, split: the float bits as they are
    }
    MM_UNROLL
    for (int i = 0; i < B_PER; ++i) {
      const int e = tid + i * kTileThreads;
      Bs[e % kSlice][e / kSlice] = BF16 || SPLIT ? float_bits(rb[i]) : tf32_round(rb[i]);
    }
    const bool more = k0 + kSlice < k_end;
    if (A_ALONG_M && more && tid < kSlice) k_halves[buf ^ 1][tid] = pr.ak(k0 + kSlice + tid);
    __syncthreads();
    if (more) gather(k0 + kSlice, buf ^ 1);  // the next slice's loads overlap the products
    if constexpr (BF16) {  // the whole slice: one m16n8k16 per (mi, ni)
      uint32_t af[2][4], bf[NT][2];
      MM_UNROLL
      for (int mi = 0; mi < 2; ++mi) {
        const int row = wm + mi * 16 + g;
        af[mi][0] = pack_bf16x2(As[2 * t][row], As[2 * t + 1][row]);
        af[mi][1] = pack_bf16x2(As[2 * t][row + 8], As[2 * t + 1][row + 8]);
        af[mi][2] = pack_bf16x2(As[2 * t + 8][row], As[2 * t + 9][row]);
        af[mi][3] = pack_bf16x2(As[2 * t + 8][row + 8], As[2 * t + 9][row + 8]);
      }
      MM_UNROLL
      for (int ni = 0; ni < NT; ++ni) {
        const int col = wn + ni * 8 + g;
        bf[ni][0] = pack_bf16x2(Bs[2 * t][col], Bs[2 * t + 1][col]);
        bf[ni][1] = pack_bf16x2(Bs[2 * t + 8][col], Bs[2 * t + 9][col]);
      }
      MM_UNROLL
      for (int mi = 0; mi < 2; ++mi)
        for (int ni = 0; ni < NT; ++ni) mma_m16n8k16_bf16(acc[mi][ni], af[mi], bf[ni], acc[mi][ni]);
    }
    MM_UNROLL
    for (int ks = 0; ks < (BF16 ? 0 : kSlice); ks += 8) {
      uint32_t af[2][4], bf[NT][2];
      MM_UNROLL
      for (int mi = 0; mi < 2; ++mi) {
        const int row = wm + mi * 16 + g;
        af[mi][0] = As[ks + t][row];
        af[mi][1] = As[ks + t][row + 8];
        af[mi][2] = As[ks + t + 4][row];
        af[mi][3] = As[ks + t + 4][row + 8];
      }
      MM_UNROLL
      for (int ni = 0; ni < NT; ++ni) {
        const int col = wn + ni * 8 + g;
        bf[ni][0] = Bs[ks + t][col];
        bf[ni][1] = Bs[ks + t + 4][col];
      }
      if constexpr (SPLIT) mma_split_cross_terms<NT>(acc, af, bf);  // (then hi x hi below)
      MM_UNROLL
      for (int mi = 0; mi < 2; ++mi)
        for (int ni = 0; ni < NT; ++ni) mma_m16n8k8_tf32(acc[mi][ni], af[mi], bf[ni], acc[mi][ni]);
    }
    __syncthreads();  // the next slice overwrites As and Bs
  }

  MM_UNROLL
  for (int mi = 0; mi < 2; ++mi)
    for (int ni = 0; ni < NT; ++ni)
      for (int i = 0; i < 4; ++i) {
        const int m = m0 + wm + mi * 16 + g + 8 * (i / 2), n = n0 + wn + ni * 8 + 2 * t + i % 2;
        if (m < M && n < N) pr.store(m, n, split, acc[mi][ni][i]);
      }

  if constexpr (STATS)
    igemm_tile_moments<NT>(acc, wm, wn, [&](int m) { return m0 + m < M; }, pr.partial + int64_t(blockIdx.x) * 2 * N, n0, N);
}

// The tile width for N columns: the smallest of 16, 32, 64, 128 covering min(N, 128)
// (igemm_wgrad_splits assumes the same choice).
int tile_n_words(int64_t N) { return N <= 16 ? 1 : N <= 32 ? 2 : N <= 64 ? 4 : 8; }

template <bool A_ALONG_M, bool STATS = false, class Problem>
void launch(const Problem& pr, int64_t M, int64_t N, int64_t K, int splits, int chunk, cudaStream_t stream) {
  const dim3 grid(static_cast<unsigned>((M + kTileM - 1) / kTileM), static_cast<unsigned>((N + 16 * tile_n_words(N) - 1) /
                                                                                         (16 * tile_n_words(N))),
                  static_cast<unsigned>(splits));
  switch (tile_n_words(N)) {
    case 1: igemm_kernel<1, A_ALONG_M, STATS, Problem><<<grid, kTileThreads, 0, stream>>>(pr, int(M), int(N), int(K), chunk); break;
    case 2: igemm_kernel<2, A_ALONG_M, STATS, Problem><<<grid, kTileThreads, 0, stream>>>(pr, int(M), int(N), int(K), chunk); break;
    case 4: igemm_kernel<4, A_ALONG_M, STATS, Problem><<<grid, kTileThreads, 0, stream>>>(pr, int(M), int(N), int(K), chunk); break;
    default: igemm_kernel<8, A_ALONG_M, STATS, Problem><<<grid, kTileThreads, 0, stream>>>(pr, int(M), int(N), int(K), chunk); break;
  }
  MM_LAUNCH_CHECK();
}

// Every index the kernels form stays below 2^31.
void check_sizes(const ConvGeometry& g, int64_t cout, int64_t extra = 0) {
  const int64_t limit = int64_t(1) << 31;
  const int64_t largest = std::max({g.batch * g.in_channels * g.height * g.width, g.batch * cout * g.col_cols(),
                                    cout * g.col_rows(), extra});
  MM_CHECK(largest < limit, "conv igemm: tensors of 2^31 or more elements are not supported (", largest, ")");
}
}  // namespace

int64_t conv_igemm_workspace_cuda(const ConvGeometry& g, int64_t cout) {
  const IgemmSplits sp = igemm_wgrad_splits(g, cout);
  return sp.count > 1 ? int64_t(sp.count) * cout * g.col_rows() : 0;
}

namespace {
template <typename A, bool SPLIT>
void forward(const ConvGeometry& g, int64_t cout, const A* x, const float* w, A* y, cudaStream_t stream) {
  const int64_t M = g.batch * g.col_cols(), K = g.col_rows();
  if (M == 0 || cout == 0) return;
  check_sizes(g, cout);
  const ForwardProblem<A, SPLIT> pr{igemm_shape(g, cout), x, w, y, int(K), nullptr};
  launch<true>(pr, M, cout, K, 1, int(K), stream);
}

// One GEMM per stride phase, each over only the taps that reach its pixels (a phase without
// taps writes zeros: its GEMM has K = 0); stride 1: one GEMM over everything.
template <typename A, bool SPLIT>
void grad_input(const ConvGeometry& g, int64_t cout, const float* w, const A* gy, A* gx, cudaStream_t stream) {
  if (g.batch * g.height * g.width == 0 || g.in_channels == 0) return;
  check_sizes(g, cout);
  const IgemmShape s = igemm_shape(g, cout);
  for (int i = 0; i < s.stride * s.stride; ++i) {
    const IgemmPhase ph = igemm_phase(s, i);
    const int64_t M = g.batch * ph.hy * ph.wx, K = cout * ph.ny * ph.nx;
    if (M == 0) continue;
    launch<true>(GradInputProblem<A, SPLIT>{s, ph, gy, w, gx}, M, g.in_channels, K, 1, int(K), stream);
  }
}

template <typename A, bool SPLIT>
void grad_weight(const ConvGeometry& g, int64_t cout, const A* x, const A* gy, float* gw, float* workspace,
                 cudaStream_t stream) {
  const int64_t K = g.col_rows(), inner = g.batch * g.col_cols();
  if (K == 0 || cout == 0) return;
  const IgemmSplits sp = igemm_wgrad_splits(g, cout);
  check_sizes(g, cout, int64_t(sp.count) * cout * K);
  const GradWeightProblem<A, SPLIT> pr{igemm_shape(g, cout), x, gy, sp.count > 1 ? workspace : gw, int(K)};
  MM_CHECK(sp.count == 1 || workspace != nullptr, "conv igemm: the weight gradient needs its workspace");
  launch<false>(pr, K, cout, inner, sp.count, sp.chunk, stream);
  if (sp.count > 1) sum_axis_cuda(workspace, gw, 1, sp.count, cout * K, stream);  // the splits in order
}
}  // namespace

template <typename A>
void conv_igemm_forward_cuda(const ConvGeometry& g, int64_t cout, const A* x, const float* w, A* y, cudaStream_t stream) {
  forward<A, false>(g, cout, x, w, y, stream);
}
void conv_igemm_forward_split_cuda(const ConvGeometry& g, int64_t cout, const float* x, const float* w, float* y,
                                   cudaStream_t stream) {
  forward<float, true>(g, cout, x, w, y, stream);
}

int64_t conv_igemm_stats_workspace_cuda(const ConvGeometry& g, int64_t cout) {
  return (g.batch * g.col_cols() + kTileM - 1) / kTileM * 2 * cout;
}

namespace {
static_assert(kTileM == kIgemmStatsTile, "conv_igemm_stats_supported assumes the forward's tile height");
constexpr int kMomentChannels = 32, kMomentLanes = 32;  // a block: 32 channels x 32 lanes over the tiles

// moments [2, G, N] from the forward's per-tile partial sums [tiles, 2, N]: block (group,
// 32-channel slice); lane l of a channel adds the group's tiles l, l + 32, ... in order, then
// lane 0 adds the 32 lane sums in lane order (deterministic), and M2 comes from the sums
// (bn_m2_from_sums). Reads are coalesced along the channels.
__global__ void igemm_group_moments_kernel(const double* __restrict__ partial, double* __restrict__ moments, int groups,
                                           int N, int tiles_per_group, double count) {
  __shared__ double lane_sums[2][kMomentLanes][kMomentChannels];
  const int grp = blockIdx.x, c = blockIdx.y * kMomentChannels + threadIdx.x, lane = threadIdx.y;
  double sum = 0, squares = 0;
  if (c < N)
    for (int t = lane; t < tiles_per_group; t += kMomentLanes) {
      const int64_t tile = int64_t(grp) * tiles_per_group + t;
      sum += partial[(tile * 2) * N + c];
      squares += partial[(tile * 2 + 1) * N + c];
    }
  lane_sums[0][lane][threadIdx.x] = sum;
  lane_sums[1][lane][threadIdx.x] = squares;
  __syncthreads();
  if (lane != 0 || c >= N) return;
  for (int l = 1; l < kMomentLanes; ++l) {
    sum += lane_sums[0][l][threadIdx.x];
    squares += lane_sums[1][l][threadIdx.x];
  }
  moments[int64_t(grp) * N + c] = sum;
  moments[int64_t(groups + grp) * N + c] = bn_m2_from_sums(sum, squares, count);
}
}  // namespace

void igemm_group_moments_cuda(const double* partial, double* moments, int64_t groups, int64_t N,
                              int64_t tiles_per_group, double count, cudaStream_t stream) {
  const dim3 grid(static_cast<unsigned>(groups), static_cast<unsigned>((N + kMomentChannels - 1) / kMomentChannels));
  igemm_group_moments_kernel<<<grid, dim3(kMomentChannels, kMomentLanes), 0, stream>>>(
      partial, moments, int(groups), int(N), int(tiles_per_group), count);
  MM_LAUNCH_CHECK();
}

void conv_igemm_forward_stats_cuda(const ConvGeometry& g, int64_t cout, const float* x, const float* w, float* y,
                                   int64_t groups, double* moments, double* workspace, cudaStream_t stream) {
  check_conv_igemm_stats_supported(g, groups);
  const int64_t M = g.batch * g.col_cols(), K = g.col_rows(), tiles = (M + kTileM - 1) / kTileM;
  if (cout == 0) return;
  if (M == 0) {  // no pixels: zero moments
    MM_CUDA_CHECK(cudaMemsetAsync(moments, 0, sizeof(double) * 2 * groups * cout, stream));
    return;
  }
  check_sizes(g, cout, tiles * 2 * cout);
  const ForwardProblem<float> pr{igemm_shape(g, cout), x, w, y, int(K), workspace};
  launch<true, true>(pr, M, cout, K, 1, int(K), stream);
  igemm_group_moments_cuda(workspace, moments, groups, cout, tiles / groups, static_cast<double>(M / groups), stream);
}

template <typename A>
void conv_igemm_grad_input_cuda(const ConvGeometry& g, int64_t cout, const float* w, const A* gy, A* gx, cudaStream_t stream) {
  grad_input<A, false>(g, cout, w, gy, gx, stream);
}
void conv_igemm_grad_input_split_cuda(const ConvGeometry& g, int64_t cout, const float* w, const float* gy, float* gx,
                                      cudaStream_t stream) {
  grad_input<float, true>(g, cout, w, gy, gx, stream);
}

template <typename A>
void conv_igemm_grad_weight_cuda(const ConvGeometry& g, int64_t cout, const A* x, const A* gy, float* gw,
                                 float* workspace, cudaStream_t stream) {
  grad_weight<A, false>(g, cout, x, gy, gw, workspace, stream);
}
void conv_igemm_grad_weight_split_cuda(const ConvGeometry& g, int64_t cout, const float* x, const float* gy, float* gw,
                                       float* workspace, cudaStream_t stream) {
  grad_weight<float, true>(g, cout, x, gy, gw, workspace, stream);
}

#define MM_INSTANTIATE(A)                                                                                        \
  template void conv_igemm_forward_cuda<A>(const ConvGeometry&, int64_t, const A*, const float*, A*, cudaStream_t); \
  template void conv_igemm_grad_input_cuda<A>(const ConvGeometry&, int64_t, const float*, const A*, A*, cudaStream_t); \
  template void conv_igemm_grad_weight_cuda<A>(const ConvGeometry&, int64_t, const A*, const A*, float*, float*,  \
                                               cudaStream_t);
MM_INSTANTIATE(float)
MM_INSTANTIATE(bf16)

}  // namespace mmengine::kernels
