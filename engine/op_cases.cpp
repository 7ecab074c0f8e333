#include "engine/op_cases.h"

#include <cmath>

#include "engine/ops.h"
#include "engine/rng.h"

namespace mmengine {

Tensor case_input(const Shape& shape, Device device, DType dtype, uint64_t seed, uint64_t which, double low, double high,
                  double away_from_zero, bool requires_grad) {
  // Draw in float64 on the CPU so every device and dtype gets the same values.
  std::vector<double> v = rand_uniform(shape, seed * 1000003ULL + which, 0, DType::F64, Device::CPU, low, high).to_vector();
  for (auto& x : v)
    if (std::fabs(x) < away_from_zero) x = x < 0 ? x - away_from_zero : x + away_from_zero;
  Tensor t = Tensor::from_vector(v, shape, dtype, device);
  t.set_requires_grad(requires_grad);
  return t;
}

namespace {
using Inputs = std::vector<Tensor>;

// A case whose inputs all have the given shapes (small for finite differences, large for the
// CPU-vs-CUDA comparison) and the given value range.
GradCase make_case(std::string name, std::vector<Shape> small, std::vector<Shape> large,
                   std::function<Tensor(const Inputs&)> f, double low = -1.0, double high = 1.0, double away = 0.0) {
  GradCase c;
  c.name = std::move(name);
  c.make_inputs = [=](Device d, DType t, uint64_t seed, bool big) {
    const auto& shapes = big ? large : small;
    Inputs in;
    for (size_t i = 0; i < shapes.size(); ++i) in.push_back(case_input(shapes[i], d, t, seed, i, low, high, away));
    return in;
  };
  c.forward = std::move(f);
  return c;
}

const Shape kSmall{3, 5, 7}, kLarge{37, 65, 43};
}  // namespace

std::vector<GradCase> op_grad_cases() {
  std::vector<GradCase> cases;
  auto binary = [&](const char* name, Tensor (*f)(const Tensor&, const Tensor&), double low, double high) {
    cases.push_back(make_case(name, {kSmall, kSmall}, {kLarge, kLarge}, [f](const Inputs& in) { return f(in[0], in[1]); },
                              low, high));
  };
  binary("add", add, -1, 1);
  binary("sub", sub, -1, 1);
  binary("mul", mul, -1, 1);
  binary("div", div, 0.5, 2);
  cases.push_back(make_case("add_scalar", {kSmall}, {kLarge}, [](const Inputs& in) { return add(in[0], 0.75); }));
  cases.push_back(make_case("mul_scalar", {kSmall}, {kLarge}, [](const Inputs& in) { return mul(in[0], -1.5); }));
  cases.push_back(make_case("neg", {kSmall}, {kLarge}, [](const Inputs& in) { return neg(in[0]); }));

  auto channel = [&](const char* name, Tensor (*f)(const Tensor&, const Tensor&), double low, double high) {
    cases.push_back(make_case(name, {{2, 3, 5, 7}, {3}}, {{5, 37, 17, 13}, {37}},
                              [f](const Inputs& in) { return f(in[0], in[1]); }, low, high));
  };
  channel("add_channel", add_channel, -1, 1);
  channel("sub_channel", sub_channel, -1, 1);
  channel("mul_channel", mul_channel, -1, 1);
  channel("div_channel", div_channel, 0.5, 2);

  cases.push_back(make_case("pow", {kSmall}, {kLarge}, [](const Inputs& in) { return pow(in[0], 2.5); }, 0.5, 2));
  cases.push_back(make_case("exp", {kSmall}, {kLarge}, [](const Inputs& in) { return exp(in[0]); }));
  cases.push_back(make_case("log", {kSmall}, {kLarge}, [](const Inputs& in) { return log(in[0]); }, 0.5, 2));
  cases.push_back(make_case("leaky_relu", {kSmall}, {kLarge}, [](const Inputs& in) { return leaky_relu(in[0], 0.1); },
                            -1, 1, 0.01));
  cases.push_back(make_case("matmul", {{3, 7}, {7, 5}}, {{129, 67}, {67, 95}},
                            [](const Inputs& in) { return matmul(in[0], in[1]); }));
  cases.push_back(make_case("linear", {{4, 7}, {5, 7}, {5}}, {{67, 129}, {33, 129}, {33}},
                            [](const Inputs& in) { return linear(in[0], in[1], in[2]); }));
  cases.push_back(make_case("sum", {kSmall}, {kLarge}, [](const Inputs& in) { return sum(in[0]); }));
  cases.push_back(make_case("mean", {kSmall}, {kLarge}, [](const Inputs& in) { return mean(in[0]); }));
  cases.push_back(make_case("sum_axis", {kSmall}, {kLarge}, [](const Inputs& in) { return sum(in[0], 1); }));
  cases.push_back(make_case("mean_axis", {kSmall}, {kLarge}, [](const Inputs& in) { return mean(in[0], 0, true); }));
  cases.push_back(make_case("mean_last_axis", {kSmall}, {kLarge}, [](const Inputs& in) { return mean(in[0], -1); }));
  cases.push_back(make_case("softmax", {{4, 10}}, {{1000, 10}}, [](const Inputs& in) { return softmax(in[0]); }, -3, 3));
  cases.push_back(make_case("log_softmax", {{4, 10}}, {{1000, 10}}, [](const Inputs& in) { return log_softmax(in[0]); }, -3, 3));
  cases.push_back(make_case("reshape", {kSmall}, {kLarge}, [](const Inputs& in) {
    // 5 divides both 3x5x7 and 37x65x43 without being either's last dimension; the shared
    // sub-expression tests gradient accumulation.
    return mul(reshape(in[0], {-1, 5}), reshape(in[0], {-1, 5}));
  }));
  cases.push_back(make_case("concat", {{2, 3, 4}, {1, 3, 4}, {3, 3, 4}}, {{37, 65, 3}, {1, 65, 3}, {70, 65, 3}},
                            [](const Inputs& in) { return concat(in); }));
  cases.push_back(make_case("slice", {{6, 5}}, {{300, 129}}, [](const Inputs& in) {
    return slice(in[0], 1, in[0].size(0) - 2);
  }));
  cases.push_back(make_case("split", {{7, 3}}, {{301, 129}}, [](const Inputs& in) {
    auto parts = split(in[0], 3);  // last chunk is shorter
    return concat({parts.back(), parts.front()});
  }));
  cases.push_back(make_case("index_select", {{5, 3}}, {{301, 129}}, [](const Inputs& in) {
    int64_t n = in[0].size(0);
    std::vector<int64_t> rows = random_permutation(n, 99, 0);
    rows.push_back(0);  // a repeated row: its gradients add up
    rows.push_back(n - 1);
    return index_select(in[0], rows);
  }));
  return cases;
}

}  // namespace mmengine
