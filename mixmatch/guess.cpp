#include "mixmatch/guess.h"

#include "engine/autograd.h"
#include "engine/ops.h"

namespace mmengine {

Tensor sharpen(const Tensor& p, double temperature) {
  MM_CHECK(temperature > 0, "--T: temperature must be positive, got ", temperature);
  MM_CHECK(p.dim() == 2, "sharpen: needs [rows, classes], got ", describe(p));
  Tensor pt = pow(p, 1.0 / temperature);
  // Row r divided by its sum: view [R, C] as [1, R, C] and divide by the per-"channel" sums.
  Tensor as_channels = reshape(pt, {1, pt.size(0), pt.size(1)});
  return reshape(div_channel(as_channels, sum(pt, 1)), pt.shape());
}

Tensor guess_labels(Module& model, const std::vector<Tensor>& views, double temperature, const ForwardOptions& opts) {
  MM_CHECK(!views.empty(), "guess_labels: no views");
  NoGrad ng;
  Tensor avg;
  for (const auto& u : views) {
    Tensor p = softmax(model(u, opts));
    avg = avg.defined() ? add(avg, p) : p;
  }
  return sharpen(mul(avg, 1.0 / static_cast<double>(views.size())), temperature);
}

}  // namespace mmengine
