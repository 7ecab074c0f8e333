#include "engine/autograd.h"
#include "engine/op_cases.h"
#include "engine/ops.h"
#include "tests/test_util.h"
#include "tools/grad_cases.h"

using namespace mmengine;
using namespace mmengine::testing;

namespace {
struct Param {
  std::string name;
  Device device;
};
void PrintTo(const Param& p, std::ostream* os) { *os << p.name << " on " << device_name(p.device); }
std::vector<Param> params() {
  std::vector<Param> p;
  for (Device d : {Device::CPU, Device::CUDA})
    for (auto& c : all_grad_cases()) p.push_back({c.name, d});
  return p;
}
}  // namespace

class GradCheck : public ::testing::TestWithParam<Param> {};

TEST_P(GradCheck, AnalyticMatchesFiniteDifferences) {
  MM_SKIP_WITHOUT(GetParam().device);
  for (auto& c : all_grad_cases()) {
    if (c.name != GetParam().name) continue;
    GradCheckResult r = gradcheck(c, GetParam().device);
    EXPECT_TRUE(r.passed) << r.message;
    EXPECT_GT(r.values_checked, 0);
  }
}

INSTANTIATE_TEST_SUITE_P(AllCases, GradCheck, ::testing::ValuesIn(params()), [](const auto& info) {
  std::string n = info.param.name + "_" + param_name(info.param.device);
  for (auto& ch : n)
    if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
  return n;
});

// The checker must catch a wrong backward: an op whose recorded gradient is off by 1%.
TEST(GradCheckItself, CatchesAWrongBackward) {
  GradCase broken;
  broken.name = "broken_square";
  broken.make_inputs = [](Device d, DType t, uint64_t seed, bool) {
    return std::vector<Tensor>{case_input({3, 4}, d, t, seed, 0)};
  };
  broken.forward = [](const std::vector<Tensor>& in) {
    Tensor y;
    {
      NoGrad ng;
      y = mul(in[0], in[0]);
    }
    Tensor x = in[0].detach();
    return record(y, "broken_square", {in[0]}, [x](const Tensor& g) {
      NoGrad ng;
      return std::vector<Tensor>{mul(mul(g, x), 2.02)};
    });
  };
  EXPECT_FALSE(gradcheck(broken, Device::CPU).passed);
}

TEST(GradCheckItself, RefusesFloat32) {
  GradCase c;
  c.name = "f32";
  c.make_inputs = [](Device d, DType, uint64_t seed, bool) {
    return std::vector<Tensor>{case_input({3}, d, DType::F32, seed, 0)};
  };
  c.forward = [](const std::vector<Tensor>& in) { return exp(in[0]); };
  GradCheckResult r = gradcheck(c, Device::CPU);
  EXPECT_FALSE(r.passed);
  EXPECT_NE(r.message.find("float64"), std::string::npos) << r.message;
}

TEST(GradCheckItself, ToleranceRule) {
  EXPECT_TRUE(gradient_close(1.0, 1.0005));
  EXPECT_FALSE(gradient_close(1.0, 1.01));
  EXPECT_TRUE(gradient_close(0.0, 5e-6));
  EXPECT_FALSE(gradient_close(std::nan(""), 1.0));
}
