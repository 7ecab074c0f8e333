#include "engine/gradcheck.h"

#include <cmath>
#include <sstream>

#include "engine/autograd.h"
#include "engine/ops.h"
#include "engine/rng.h"

namespace mmengine {

bool gradient_close(double analytic, double numeric) {
  return std::fabs(analytic - numeric) <= 1e-5 + 1e-3 * std::fabs(numeric);
}

namespace {
constexpr double kStep = 1e-6;

struct Probe {
  const GradCase& c;
  std::vector<Tensor>& inputs;
  Tensor weights;  // r, fixed for the whole check

  double loss_value() {
    NoGrad ng;
    if (c.before_forward) c.before_forward();
    Tensor y = c.forward(inputs);
    MM_CHECK(y.shape() == weights.shape(), "forward changed its output shape");
    return sum(mul(y, weights)).item();
  }

  std::vector<Tensor> analytic() {
    for (auto& t : inputs)
      if (t.requires_grad()) t.zero_grad();
    if (c.before_forward) c.before_forward();
    Tensor y = c.forward(inputs);
    Tensor loss = sum(mul(y, weights));
    loss.backward();
    std::vector<Tensor> grads;
    for (auto& t : inputs) grads.push_back(t.requires_grad() ? t.grad() : Tensor());
    return grads;
  }
};

void record_error(GradCheckResult& r, double a, double n, const std::string& where) {
  double abs_err = std::fabs(a - n);
  double rel_err = abs_err / std::max(std::fabs(n), 1e-12);
  r.max_abs_error = std::max(r.max_abs_error, abs_err);
  if (abs_err > 1e-12) r.max_rel_error = std::max(r.max_rel_error, rel_err);
  r.values_checked++;
  if (!gradient_close(a, n) && r.message.empty()) {
    std::ostringstream os;
    os.precision(10);
    os << where << ": analytic " << a << " vs numeric " << n;
    r.message = os.str();
  }
}
}  // namespace

GradCheckResult gradcheck(const GradCase& c, Device device, uint64_t seed) {
  GradCheckResult r;
  r.name = c.name;
  r.device = device;
  try {
    std::vector<Tensor> inputs = c.make_inputs(device, DType::F64, seed, false);
    Tensor probe_out;
    {
      NoGrad ng;
      if (c.before_forward) c.before_forward();
      probe_out = c.forward(inputs);
    }
    MM_CHECK(probe_out.dtype() == DType::F64, "gradient checks run in float64 only; ", c.name, " produced ",
             describe(probe_out));
    Probe p{c, inputs, rand_uniform(probe_out.shape(), seed ^ 0x5eedULL, 0, DType::F64, device, -1.0, 1.0)};

    std::vector<Tensor> g1 = p.analytic(), g2 = p.analytic();
    for (size_t i = 0; i < inputs.size(); ++i) {
      if (!inputs[i].requires_grad()) continue;
      MM_CHECK(g1[i].defined(), "input ", i, " requires grad but backward gave it none");
      auto a = g1[i].to_vector(), b = g2[i].to_vector();
      for (size_t k = 0; k < a.size(); ++k)
        MM_CHECK(std::fabs(a[k] - b[k]) <= 1e-12 * (1 + std::fabs(a[k])), "backward run twice disagrees at input ", i,
                 " element ", k, ": ", a[k], " vs ", b[k]);
    }

    PhiloxStream pick(seed, 7);
    for (size_t i = 0; i < inputs.size(); ++i) {
      Tensor& x = inputs[i];
      if (!x.requires_grad()) continue;
      std::vector<double> host = x.to_vector(), ga = g1[i].to_vector();
      const int64_t n = x.numel();
      std::vector<int64_t> elems;
      if (n <= c.max_elements) {
        for (int64_t k = 0; k < n; ++k) elems.push_back(k);
      } else {
        for (int64_t k = 0; k < c.max_elements; ++k) elems.push_back(static_cast<int64_t>(pick.below(n)));
      }
      auto load = [&](const std::vector<double>& v) { x.detach().copy_from(Tensor::from_vector(v, x.shape(), DType::F64, device)); };
      for (int64_t k : elems) {
        std::vector<double> v = host;
        v[k] = host[k] + kStep;
        load(v);
        double up = p.loss_value();
        v[k] = host[k] - kStep;
        load(v);
        double down = p.loss_value();
        record_error(r, ga[k], (up - down) / (2 * kStep), "input " + std::to_string(i) + " element " + std::to_string(k));
      }
      // Random direction: d/dt L(x + t v) = <g, v>.
      std::vector<double> dir(n), v(n);
      double dot = 0;
      for (int64_t k = 0; k < n; ++k) {
        dir[k] = pick.uniform() * 2 - 1;
        dot += ga[k] * dir[k];
      }
      for (int64_t k = 0; k < n; ++k) v[k] = host[k] + kStep * dir[k];
      load(v);
      double up = p.loss_value();
      for (int64_t k = 0; k < n; ++k) v[k] = host[k] - kStep * dir[k];
      load(v);
      double down = p.loss_value();
      load(host);
      record_error(r, dot, (up - down) / (2 * kStep), "input " + std::to_string(i) + " random direction");
    }
    r.passed = r.message.empty() && r.values_checked > 0;
    if (r.values_checked == 0) r.message = "no differentiable input";
  } catch (const std::exception& e) {
    r.passed = false;
    r.message = e.what();
  }
  return r;
}

}  // namespace mmengine
