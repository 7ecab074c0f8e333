#include "engine/memory.h"
#include "engine/ops.h"
#include "engine/rng.h"
#include "tests/test_util.h"

using namespace mmengine;
using namespace mmengine::testing;

class TensorOnDevice : public ::testing::TestWithParam<Device> {};

TEST_P(TensorOnDevice, RoundTripsThroughHostBitExactly) {
  MM_SKIP_WITHOUT(GetParam());
  for (DType t : {DType::F32, DType::F64}) {
    Tensor host = rand_normal({3, 5, 7}, 11, 0, t);
    Tensor there = host.to(GetParam());
    EXPECT_EQ(there.device(), GetParam());
    EXPECT_EQ(there.to(Device::CPU).to_vector(), host.to_vector());
    EXPECT_EQ(there.clone().to_vector(), host.to_vector());
  }
}

TEST_P(TensorOnDevice, FactoriesFillEveryElement) {
  MM_SKIP_WITHOUT(GetParam());
  PoisonScope poison;
  for (DType t : {DType::F32, DType::F64}) {
    for (double v : Tensor::zeros({2, 33, 17}, t, GetParam()).to_vector()) ASSERT_EQ(v, 0.0);
    for (double v : Tensor::full({1, 1, 1, 1}, 2.5, t, GetParam()).to_vector()) ASSERT_EQ(v, 2.5);
    EXPECT_EQ(Tensor::scalar(3.0, t, GetParam()).item(), 3.0);
  }
}

TEST_P(TensorOnDevice, DtypeConversionKeepsDevice) {
  MM_SKIP_WITHOUT(GetParam());
  Tensor a = Tensor::from_vector({1.5, -2.25, 3.0}, {3}, DType::F64, GetParam());
  Tensor b = a.to(DType::F32);
  EXPECT_EQ(b.dtype(), DType::F32);
  EXPECT_EQ(b.device(), GetParam());
  EXPECT_EQ(b.to_vector(), (std::vector<double>{1.5, -2.25, 3.0}));
}

TEST_P(TensorOnDevice, CopiesShareStorageAndClonesDoNot) {
  MM_SKIP_WITHOUT(GetParam());
  Tensor a = Tensor::zeros({4}, DType::F32, GetParam());
  Tensor shared = a, cloned = a.clone();
  a.fill_(7);
  EXPECT_EQ(shared.to_vector()[3], 7.0);
  EXPECT_EQ(cloned.to_vector()[3], 0.0);
}

INSTANTIATE_TEST_SUITE_P(Devices, TensorOnDevice, ::testing::Values(Device::CPU, Device::CUDA),
                         [](const auto& info) { return param_name(info.param); });

TEST(Tensor, ErrorsNameWhatWasExpected) {
  Tensor a = Tensor::zeros({2, 3});
  try {
    (void)a.data<double>();
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("float32[2, 3] on cpu"), std::string::npos) << e.what();
  }
  EXPECT_THROW(Tensor::empty({-1, 2}), Error);
  EXPECT_THROW(Tensor().shape(), Error);
  EXPECT_THROW(add(a, Tensor::zeros({3, 2})), Error);
  EXPECT_THROW(add(a, Tensor::zeros({2, 3}, DType::F64)), Error);
  EXPECT_THROW(a.item(), Error);
}

TEST(Tensor, CudaTensorWithoutDeviceIsAClearError) {
  if (cuda_available()) GTEST_SKIP() << "a CUDA device is present; this checks the no-device error";
  try {
    Tensor::zeros({2}, DType::F32, Device::CUDA);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("CUDA"), std::string::npos) << e.what();
  }
}

TEST(CudaAllocator, SteadyStateReusesCachedBlocks) {
  MM_SKIP_WITHOUT(Device::CUDA);
  auto step = [] {
    Tensor a = Tensor::full({257, 129}, 1.0, DType::F32, Device::CUDA);
    Tensor b = exp(mul(a, 0.5));
    return sum(b).item();
  };
  step();
  size_t mallocs = cuda_allocator_stats().device_mallocs;
  for (int i = 0; i < 5; ++i) step();
  EXPECT_EQ(cuda_allocator_stats().device_mallocs, mallocs) << "steady state must not call cudaMalloc";
  EXPECT_GT(cuda_allocator_stats().cache_hits, 0u);
}
