#include <algorithm>
#include <cmath>

#include "kernels/philox.h"
#include "engine/rng.h"
#include "tests/test_util.h"

using namespace mmengine;
using namespace mmengine::testing;

// Known-answer vectors of Philox-4x32-10 from the Random123 distribution (kat_vectors).
TEST(Philox, MatchesKnownAnswers) {
  PhiloxOut zero = philox4x32(0, 0, 0);
  EXPECT_EQ(zero.v[0], 0x6627e8d5u);
  EXPECT_EQ(zero.v[1], 0xe169c58du);
  EXPECT_EQ(zero.v[2], 0xbc57ac4cu);
  EXPECT_EQ(zero.v[3], 0x9b00dbd8u);
  PhiloxOut ones = philox4x32(~0ULL, ~0ULL, ~0ULL);
  EXPECT_EQ(ones.v[0], 0x408f276du);
  EXPECT_EQ(ones.v[1], 0x41c83b0eu);
  EXPECT_EQ(ones.v[2], 0xa20bc7c6u);
  EXPECT_EQ(ones.v[3], 0x6d5451fdu);
  PhiloxOut pi = philox4x32(0x299f31d0a4093822ULL, 0x85a308d3243f6a88ULL, 0x0370734413198a2eULL);
  EXPECT_EQ(pi.v[0], 0xd16cfe09u);
  EXPECT_EQ(pi.v[1], 0x94fdccebu);
  EXPECT_EQ(pi.v[2], 0x5001e420u);
  EXPECT_EQ(pi.v[3], 0x24126ea1u);
}

TEST(Philox, UniformAndNormalHaveTheRightMoments) {
  Tensor u = rand_uniform({200000}, 5, 0, DType::F64);
  Tensor n = rand_normal({200000}, 5, 0, DType::F64);
  double su = 0, sn = 0, sn2 = 0, lo = 1, hi = 0;
  for (double x : u.to_vector()) su += x, lo = std::min(lo, x), hi = std::max(hi, x);
  for (double x : n.to_vector()) sn += x, sn2 += x * x;
  EXPECT_NEAR(su / 200000, 0.5, 0.005);
  EXPECT_GE(lo, 0.0);
  EXPECT_LT(hi, 1.0);
  EXPECT_NEAR(sn / 200000, 0.0, 0.01);
  EXPECT_NEAR(sn2 / 200000, 1.0, 0.01);
}

TEST(Philox, OffsetsSelectTheSameNumbers) {
  auto whole = rand_uniform({100}, 9, 0, DType::F64).to_vector();
  auto tail = rand_uniform({50}, 9, 50, DType::F64).to_vector();
  for (int i = 0; i < 50; ++i) EXPECT_EQ(tail[i], whole[50 + i]);
}

TEST(Philox, CudaGivesTheSameNumbersAsCpu) {
  MM_SKIP_WITHOUT(Device::CUDA);
  for (DType t : {DType::F32, DType::F64}) {
    EXPECT_EQ(rand_uniform({1001}, 3, 17, t, Device::CUDA).to_vector(), rand_uniform({1001}, 3, 17, t).to_vector());
    // Normal goes through log/cos, whose last bits may differ between libm and CUDA.
    EXPECT_TRUE(all_close(rand_normal({1001}, 3, 17, t, Device::CUDA), rand_normal({1001}, 3, 17, t),
                          t == DType::F32 ? Tolerance{1e-6, 1e-6} : Tolerance{1e-13, 1e-13}));
  }
}

TEST(RandomPermutation, IsAPermutationAndDependsOnTheSeed) {
  auto p = random_permutation(193, 1, 0), q = random_permutation(193, 2, 0);
  auto sorted = p;
  std::sort(sorted.begin(), sorted.end());
  for (int64_t i = 0; i < 193; ++i) ASSERT_EQ(sorted[i], i);
  EXPECT_NE(p, q);
  EXPECT_EQ(p, random_permutation(193, 1, 0));
  EXPECT_EQ(random_permutation(1, 1, 0), std::vector<int64_t>{0});
}

TEST(PhiloxStream, BetaMatchesItsMean) {
  PhiloxStream s(4, 2);
  double m = 0;
  for (int i = 0; i < 20000; ++i) m += s.beta(0.75, 0.75);
  EXPECT_NEAR(m / 20000, 0.5, 0.01);
  PhiloxStream t(4, 2);
  double m2 = 0;
  for (int i = 0; i < 20000; ++i) m2 += t.beta(2.0, 6.0);
  EXPECT_NEAR(m2 / 20000, 0.25, 0.01);
}
