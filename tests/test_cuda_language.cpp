// The CUDA language as the kernels use it, on the device (a GPU, or the emulated device of an
// MMENGINE_CUDA=EMULATED build, docs/emulator.md): warp collectives, shared memory with a
// barrier, atomics across blocks, and launch-configuration errors through cudaGetLastError.
// On the emulated device also: divergent barriers and shuffles abort naming kernel and line.
#include "tests/test_util.h"

#include "engine/runtime.h"
#include "kernels/bf16.h"
#include "kernels/cuda/tensor_core.cuh"

#ifdef MMENGINE_WITH_CUDA
#include "tests/cuda_probe.h"
#endif

namespace mmengine::testing {
namespace {
float tf32(float x) { return kernels::bits_float(kernels::tf32_round_bits(kernels::float_bits(x))); }

// cvt.rna.tf32.f32: 10 mantissa bits, ties away from zero.
TEST(TensorCore, Tf32RoundingIsRoundToNearestTiesAway) {
  EXPECT_EQ(tf32(1.0f), 1.0f);
  EXPECT_EQ(tf32(1.0f + 0x1p-12f), 1.0f) << "below half an ulp (2^-10) rounds down";
  EXPECT_EQ(tf32(1.0f + 0x1p-11f), 1.0f + 0x1p-10f) << "a tie rounds away from zero";
  EXPECT_EQ(tf32(-1.0f - 0x1p-11f), -1.0f - 0x1p-10f) << "a tie rounds away from zero";
  EXPECT_EQ(tf32(1.0f + 0x1p-11f - 0x1p-23f), 1.0f);
  EXPECT_EQ(tf32(INFINITY), INFINITY);
  EXPECT_TRUE(std::isnan(tf32(NAN)));
  EXPECT_EQ(tf32(0x1.fffffep127f), INFINITY) << "the largest float rounds up past the TF32 range";
}
}  // namespace
}  // namespace mmengine::testing

#ifdef MMENGINE_WITH_CUDA

namespace mmengine::testing {
namespace {

TEST(CudaLanguage, WarpCollectivesFollowCudaSemantics) {
  MM_SKIP_WITHOUT(Device::CUDA);
  const std::vector<int> got = probe::warp_ops();
  for (int t = 0; t < 64; ++t) {
    const int lane = t % 32, warp0 = t - lane;
    const int* o = got.data() + t * probe::kWarpOps;
    SCOPED_TRACE("thread " + std::to_string(t));
    EXPECT_EQ(o[0], lane + 3 < 32 ? t + 3 : t);          // out of range: the lane's own value
    EXPECT_EQ(o[1], lane >= 5 ? t - 5 : t);
    EXPECT_EQ(o[2], warp0 + (lane ^ 6));
    EXPECT_EQ(o[3], warp0 + 7);
    EXPECT_EQ(o[4], lane % 8 + 1 < 8 ? t + 1 : t);       // width 8: segments of 8 lanes
    EXPECT_EQ(static_cast<unsigned>(o[5]), 0xaaaaaaaau);
    EXPECT_EQ(o[6], t >= 32 ? 1 : 0);                    // 40 is in the second warp
    EXPECT_EQ(o[7], 1);
  }
}

TEST(CudaLanguage, SharedMemoryAfterBarrierHoldsEveryThreadsWrite) {
  MM_SKIP_WITHOUT(Device::CUDA);
  const std::vector<int> got = probe::shared_reverse();
  for (int t = 0; t < 128; ++t) EXPECT_EQ(got[t], 127 - t) << "thread " << t;
}

TEST(CudaLanguage, AtomicAddCountsEveryThreadOfEveryBlock) {
  MM_SKIP_WITHOUT(Device::CUDA);
  EXPECT_EQ(probe::atomic_count(7, 96), 7u * 96u);
  EXPECT_EQ(probe::atomic_count(1, 1000), 1000u);
}

TEST(CudaLanguage, BadLaunchConfigurationsAreReportedOnceByGetLastError) {
  MM_SKIP_WITHOUT(Device::CUDA);
  using P = std::pair<std::string, std::string>;
  // CUDA 13 on an H100 (2026-11-27) answers every bad configuration below with
  // cudaErrorInvalidValue, older runtimes with cudaErrorInvalidConfiguration: a GPU may give
  // either; the emulator gives CUDA 13's. Reported once: the next query says success.
  const P ok{"cudaSuccess", "cudaSuccess"};
  auto expect_bad = [](const P& got, const char* what) {
    const bool cuda13 = got.first == "cudaErrorInvalidValue";
    EXPECT_TRUE(cuda13 || (!cuda_emulated() && got.first == "cudaErrorInvalidConfiguration")) << what << ": " << got.first;
    EXPECT_EQ(got.second, "cudaSuccess") << what;
  };
  EXPECT_EQ(probe::launch_error(1, 1, 1, 1024, 1, 1), ok);
  EXPECT_EQ(probe::launch_error(2, 3, 4, 8, 4, 2), ok);
  expect_bad(probe::launch_error(1, 1, 1, 1025, 1, 1), "more than 1024 threads per block");
  expect_bad(probe::launch_error(1, 1, 1, 32, 32, 2), "2048 threads per block");
  expect_bad(probe::launch_error(1, 1, 1, 1, 1, 65), "block z above 64");
  expect_bad(probe::launch_error(1, 65536, 1, 32, 1, 1), "grid y above 65535");
  expect_bad(probe::launch_error(0, 1, 1, 32, 1, 1), "empty grid");
  expect_bad(probe::launch_error(1, 1, 1, 0, 1, 1), "empty block");
}

// The emulator's cuBLAS stand-in makes cuBLAS's own argument checks.
TEST(CudaLanguage, CublasRejectsWhatCublasRejects) {
  MM_SKIP_WITHOUT(Device::CUDA);
  const std::string ok = "CUBLAS_STATUS_SUCCESS", bad = "CUBLAS_STATUS_INVALID_VALUE";
  EXPECT_EQ(probe::sgemm_status(false, false, 8, 6, 4, 8, 4, 8), ok);
  EXPECT_EQ(probe::sgemm_status(true, true, 8, 6, 4, 4, 6, 8), ok);
  EXPECT_EQ(probe::sgemm_status(false, false, 0, 6, 4, 1, 4, 1), ok) << "an empty product";
  EXPECT_EQ(probe::sgemm_status(false, false, 8, 6, 4, 7, 4, 8), bad) << "lda < m";
  EXPECT_EQ(probe::sgemm_status(true, false, 8, 6, 4, 3, 4, 8), bad) << "lda < k for op(A) = A^T";
  EXPECT_EQ(probe::sgemm_status(false, false, 8, 6, 4, 8, 3, 8), bad) << "ldb < k";
  EXPECT_EQ(probe::sgemm_status(false, true, 8, 6, 4, 8, 5, 8), bad) << "ldb < n for op(B) = B^T";
  EXPECT_EQ(probe::sgemm_status(false, false, 8, 6, 4, 8, 4, 7), bad) << "ldc < m";
  EXPECT_EQ(probe::sgemm_status(false, false, -1, 6, 4, 8, 4, 8), bad) << "negative m";
  const std::string msg = probe::cublas_check_message();
  EXPECT_NE(msg.find("cuBLAS: "), std::string::npos) << msg;
  EXPECT_NE(msg.find("cublasSgemm"), std::string::npos) << msg;
}

// The tensor-core wrapper's fragment layouts: D = A B + C through mma_m16n8k8_tf32 equals the
// plain product of the same TF32-rounded inputs (exactly on the emulator, which sums in
// double; within float accumulation error on a GPU).
TEST(CudaLanguage, TensorCoreFragmentProductEqualsPlainProduct) {
  MM_SKIP_WITHOUT(Device::CUDA);
  std::vector<float> a(128), b(64), c(128);
  for (int i = 0; i < 128; ++i) a[i] = std::sin(0.7f * i) * (1 + i % 5), c[i] = std::cos(0.3f * i);
  for (int i = 0; i < 64; ++i) b[i] = std::cos(1.3f * i) + 0.001f * i;
  const std::vector<float> d = probe::mma_tf32(a, b, c);
  for (int m = 0; m < 16; ++m)
    for (int n = 0; n < 8; ++n) {
      double want = c[m * 8 + n];
      for (int k = 0; k < 8; ++k) want += static_cast<double>(tf32(a[m * 8 + k])) * tf32(b[k * 8 + n]);
      if (cuda_emulated())
        EXPECT_EQ(d[m * 8 + n], static_cast<float>(want)) << "D[" << m << "][" << n << "]";
      else
        EXPECT_NEAR(d[m * 8 + n], want, 1e-5 * (1 + std::fabs(want))) << "D[" << m << "][" << n << "]";
    }
}

// The same for the bf16 wrapper (k = 16, two values per register).
TEST(CudaLanguage, Bf16TensorCoreFragmentProductEqualsPlainProduct) {
  MM_SKIP_WITHOUT(Device::CUDA);
  std::vector<float> a(256), b(128), c(128);
  for (int i = 0; i < 256; ++i) a[i] = std::sin(0.7f * i) * (1 + i % 5);
  for (int i = 0; i < 128; ++i) b[i] = std::cos(1.3f * i) + 0.001f * i, c[i] = std::cos(0.3f * i);
  const std::vector<float> d = probe::mma_bf16(a, b, c);
  for (int m = 0; m < 16; ++m)
    for (int n = 0; n < 8; ++n) {
      double want = c[m * 8 + n];
      for (int k = 0; k < 16; ++k)
        want += static_cast<double>(kernels::bf16_round(a[m * 16 + k])) * kernels::bf16_round(b[k * 8 + n]);
      if (cuda_emulated())
        EXPECT_EQ(d[m * 8 + n], static_cast<float>(want)) << "D[" << m << "][" << n << "]";
      else
        EXPECT_NEAR(d[m * 8 + n], want, 1e-5 * (1 + std::fabs(want))) << "D[" << m << "][" << n << "]";
    }
}

#ifdef MMENGINE_CUDA_EMULATED
TEST(CudaLanguageDeathTest, EmulatorAbortsOnDivergentBarrierNamingKernelAndLine) {
  MM_SKIP_WITHOUT(Device::CUDA);
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(probe::divergent_barrier(),
               "kernel divergent_barrier_kernel .*divergent barrier: .*__syncthreads\\(\\) at .*tests/cuda_probe.cu:[0-9]+");
}

TEST(CudaLanguageDeathTest, EmulatorAbortsOnDivergentShuffleNamingKernelAndLine) {
  MM_SKIP_WITHOUT(Device::CUDA);
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(probe::divergent_shuffle(),
               "kernel divergent_shuffle_kernel .*divergent warp collective: .*__shfl_down_sync at .*tests/cuda_probe.cu:[0-9]+");
}
#endif

}  // namespace
}  // namespace mmengine::testing
#endif  // MMENGINE_WITH_CUDA
