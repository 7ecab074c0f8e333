#include "mixmatch/guess.h"

#include "engine/autograd.h"
#include "engine/kernel_version.h"
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
  bool same_shape = true;
  for (const Tensor& u : views) same_shape = same_shape && u.shape() == views[0].shape();
  std::vector<Tensor> probs;
  if (views.size() > 1 && views.size() <= 32 && same_shape && opts.groups.empty() &&
      fusion_enabled(Fusion::GroupedBatchNorm)) {
    // One pass over the K views, BatchNorm statistics per view: K forwards' statistics and
    // running updates (the convolutions over K B images: other GEMM shapes on CUDA, so equal
    // to reduction tolerance there; tests/test_fusions.cpp).
    ForwardOptions grouped = opts;
    grouped.groups.assign(views.size(), RowGroup{opts.update_running_stats, opts.tag});
    probs = split(softmax(model(concat(views), grouped)), views[0].size(0));
  } else {
    for (const auto& u : views) probs.push_back(softmax(model(u, opts)));
  }
  Tensor avg = probs[0];
  for (size_t k = 1; k < probs.size(); ++k) avg = add(avg, probs[k]);
  return sharpen(mul(avg, 1.0 / static_cast<double>(views.size())), temperature);
}

}  // namespace mmengine
