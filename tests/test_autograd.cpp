#include "engine/autograd.h"
#include "engine/ops.h"
#include "tests/test_util.h"

using namespace mmengine;
using namespace mmengine::testing;

namespace {
Tensor leaf(std::vector<double> v, Shape s) {
  Tensor t = Tensor::from_vector(v, s, DType::F64);
  t.set_requires_grad(true);
  return t;
}
}  // namespace

TEST(Autograd, ChainRuleOnAScalar) {
  Tensor x = leaf({1, 2, 3}, {3});
  sum(mul(mul(x, x), 3.0)).backward();  // d/dx 3x^2 = 6x
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{6, 12, 18}));
}

TEST(Autograd, SharedSubExpressionsAddTheirGradients) {
  Tensor x = leaf({2, -1}, {2});
  Tensor y = exp(x);
  sum(add(y, mul(y, y))).backward();  // d/dx (e^x + e^2x) = e^x + 2 e^2x
  auto g = x.grad().to_vector();
  EXPECT_NEAR(g[0], std::exp(2.0) + 2 * std::exp(4.0), 1e-12);
  EXPECT_NEAR(g[1], std::exp(-1.0) + 2 * std::exp(-2.0), 1e-12);
}

TEST(Autograd, GradientsAccumulateAcrossBackwardCallsUntilZeroed) {
  Tensor x = leaf({1, 1}, {2});
  sum(mul(x, 2.0)).backward();
  sum(mul(x, 3.0)).backward();
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{5, 5}));
  x.zero_grad();
  EXPECT_FALSE(x.grad().defined());
}

TEST(Autograd, DetachAndNoGradStopGradients) {
  Tensor x = leaf({1, 2}, {2});
  Tensor d = x.detach();
  EXPECT_FALSE(d.requires_grad());
  EXPECT_EQ(d.raw(), x.raw());  // shares data
  {
    NoGrad ng;
    Tensor y = mul(x, x);
    EXPECT_FALSE(y.requires_grad());
    EXPECT_EQ(y.grad_fn(), nullptr);
  }
  Tensor z = add(mul(x, d), x);  // d contributes no gradient path
  sum(z).backward();
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{2, 3}));
}

TEST(Autograd, TheGraphIsFreedAfterBackward) {
  Tensor x = leaf({1, 2, 3}, {3});
  Tensor y = exp(x);
  std::weak_ptr<Node> node = y.grad_fn();
  Tensor loss = sum(y);
  loss.backward();
  EXPECT_TRUE(node.expired()) << "backward must release the nodes it ran";
  EXPECT_THROW(loss.backward(), Error);
}

TEST(Autograd, OnlyScalarsStartBackward) {
  Tensor x = leaf({1, 2}, {2});
  EXPECT_THROW(mul(x, 2.0).backward(), Error);
  EXPECT_THROW(Tensor::zeros({1}).backward(), Error);  // does not require grad
}

TEST(Autograd, InputsNotRequiringGradGetNone) {
  Tensor x = leaf({1, 2}, {2});
  Tensor c = Tensor::from_vector({3, 4}, {2}, DType::F64);
  sum(mul(x, c)).backward();
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{3, 4}));
  EXPECT_FALSE(c.grad().defined());
}

TEST(Autograd, DeepChainsDoNotOverflowTheStack) {
  Tensor x = leaf({1}, {1});
  Tensor y = x;
  for (int i = 0; i < 20000; ++i) y = add(y, 0.0);
  sum(y).backward();
  EXPECT_EQ(x.grad().item(), 1.0);
}
