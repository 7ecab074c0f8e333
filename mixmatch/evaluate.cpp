#include "mixmatch/evaluate.h"

#include <algorithm>
#include <cmath>

#include "data/augment.h"
#include "engine/autograd.h"
#include "engine/dispatch.h"
#include "engine/memory.h"
#ifdef MMENGINE_WITH_CUDA
#include "engine/conv_backend.h"
#include "engine/cuda/graph.h"
#include "engine/kernel_version.h"
#include "engine/precision.h"
#include "kernels/gemm.h"
#endif
#include "engine/ops.h"
#include "kernels/score.h"

namespace mmengine {

namespace {
// One batch: log-probabilities of the model on `images`, scored against `labels` into `scores`
// (rows: loss, hit).
void score_batch(Module& model, const Tensor& images, const int32_t* labels, double* scores) {
  Tensor logp = log_softmax(model(images));
  MM_DISPATCH_FLOAT(logp.dtype(), T,
                    MM_KERNEL(images.device(), score_rows, T)(logp.data<T>(), labels, logp.size(0), logp.size(1),
                                                              scores));
}
}  // namespace

#ifdef MMENGINE_WITH_CUDA
namespace {
// The process-wide switches an evaluation forward depends on: a graph replays what it captured,
// so a replay under other switches would silently give the captured path's numbers.
std::string eval_settings() {
  std::string s = std::string("activations ") + dtype_name(activation_dtype()) + ", convolutions " +
                  enum_name(kConvBackends, conv_backend()) +
                  (uses_igemm(conv_backend()) ? std::string(" ") + igemm_tiling_name(igemm_tiling()) : "") + ", kernels " + kernel_version_name(kernel_version()) +
                  ", GEMMs " + (kernels::gemm_tf32_cuda() ? "tf32" : "fp32") + ", fusions";
  for (Fusion f : all_fusions())
    if (fusion_enabled(f)) s += std::string(" ") + fusion_name(f);
  return s;
}
}  // namespace

struct EvalGraphs::Entry {
  CudaGraph graph;
  std::string settings;          // eval_settings() of the capture
  Tensor images;                 // [batch, C, H, W]: what every replay reads
  std::shared_ptr<void> labels;  // int32 [batch]
  Tensor scores;                 // [batch, 2]: what every replay writes
  int runs = 0;
};

namespace {
// One full batch through the model's graph: the inputs into its static buffers (rows
// [row0, row0 + batch) of `images`, copied straight from there), the first call warm (eager, in
// the graph's pool), the second captured, every one after replayed; the scores out.
void score_batch_graphed(EvalGraphs::Entry& g, Module& model, const Tensor& images, int64_t row0, int64_t batch,
                         const int32_t* labels, double* out) {
  const Device device = images.device();
  Shape shape = images.shape();
  shape[0] = batch;
  if (g.runs == 0) {  // the static buffers, outside the graph's pool
    g.images = Tensor::empty(shape, images.dtype(), device);
    g.labels = allocate(device, sizeof(int32_t) * batch);
    g.scores = Tensor::empty({batch, 2}, DType::F64, device);
  }
  MM_CHECK(g.images.shape() == shape && g.images.dtype() == images.dtype(), "--graph on: the evaluation batch changed from ",
           describe(g.images), " to ", dtype_name(images.dtype()), shape_str(shape), " (a CUDA graph needs static shapes)");
  MM_CHECK(row0 >= 0 && row0 + batch <= images.size(0), "evaluate: rows [", row0, ", ", row0 + batch, ") of ",
           describe(images));
  copy_bytes(g.images.raw(), device, static_cast<const char*>(images.raw()) + row0 * (images.nbytes() / images.size(0)),
             device, g.images.nbytes());
  copy_bytes(g.labels.get(), device, labels, device, sizeof(int32_t) * batch);
  auto body = [&] { score_batch(model, g.images, static_cast<const int32_t*>(g.labels.get()), g.scores.data<double>()); };
  if (g.runs == 0) {
    g.graph.warm(body);
  } else {
    if (!g.graph.captured()) g.graph.capture(body);
    g.graph.replay();
  }
  ++g.runs;
  copy_bytes(out, device, g.scores.data<double>(), device, sizeof(double) * 2 * batch);
}
}  // namespace
#else
struct EvalGraphs::Entry {};
#endif

EvalGraphs::EvalGraphs() = default;
EvalGraphs::~EvalGraphs() = default;

EvalGraphs::Entry& EvalGraphs::entry(const Module& model) {
  for (auto& [m, e] : entries_)
    if (m == &model) return *e;
  entries_.emplace_back(&model, std::make_unique<Entry>());
  return *entries_.back().second;
}

Tensor EvalImages::images(const ImageDataset& data, const std::vector<int64_t>& indices, Device device) {
  for (const Entry& e : entries_)
    if (e.data == &data && e.device == device && e.indices == indices) return e.images;
  MM_CHECK(!indices.empty(), "evaluation images: an empty image list");
  // (The host gathers the uint8 images, 3 KB each for CIFAR-10; the device normalizes them.)
  entries_.push_back({&data, indices, device, normalized_images(data, indices, device)});
  return entries_.back().images;
}

EvalResult evaluate(Module& model, const ImageDataset& data, const std::vector<int64_t>& indices, Device device,
                    int64_t batch, EvalGraphs* graphs, EvalImages* cached) {
  MM_CHECK(!graphs || device == Device::CUDA, "--graph on: evaluation graphs need --device cuda");
#ifndef MMENGINE_WITH_CUDA
  MM_CHECK(!graphs, "--graph on: this build has no CUDA");
#endif
  NoGrad ng;
  const bool was_training = model.training();
  model.eval();
  EvalResult r;
  const int64_t n = static_cast<int64_t>(indices.size());
  if (n == 0) {
    model.train(was_training);
    return r;
  }
  // Per-row scores stay on the device until the whole set is done: one read, not one per batch.
  std::vector<int32_t> labels(indices.size());
  for (size_t i = 0; i < indices.size(); ++i) {
    labels[i] = data.labels[indices[i]];
    MM_CHECK(labels[i] >= 0 && labels[i] < data.num_classes, "evaluate: label ", labels[i], " of image ", indices[i],
             " is outside [0, ", data.num_classes, ")");
  }
  const std::shared_ptr<void> device_labels = upload_bytes(device, labels.data(), labels.size() * sizeof(int32_t));
  Tensor scores = Tensor::empty({n, 2}, DType::F64, device);
  const int32_t* all_labels = static_cast<const int32_t*>(device_labels.get());
#ifdef MMENGINE_WITH_CUDA
  // --graph on: this model's graph, its switches checked once per call.
  EvalGraphs::Entry* graph = nullptr;
  if (graphs && n >= batch) {
    graph = &graphs->entry(model);
    const std::string now = eval_settings();
    MM_CHECK(graph->runs == 0 || graph->settings == now, "--graph on: this model's evaluation graph was captured with ",
             graph->settings, "; now: ", now, " (a graph replays what it captured; use a new EvalGraphs)");
    graph->settings = now;
  }
#endif
  const Tensor all_images = cached ? cached->images(data, indices, device) : Tensor();
  for (int64_t begin = 0; begin < n; begin += batch) {
    const int64_t end = std::min(n, begin + batch);
    double* out = scores.data<double>() + 2 * begin;
    // The batch: rows [row0, row0 + end - begin) of `source` (the kept images, or normalized now).
    const Tensor source = cached ? all_images
                                 : normalized_images(data, std::vector<int64_t>(indices.begin() + begin, indices.begin() + end), device);
    const int64_t row0 = cached ? begin : 0;
#ifdef MMENGINE_WITH_CUDA
    if (graph && end - begin == batch) {  // copied once, straight into the graph's buffer
      score_batch_graphed(*graph, model, source, row0, batch, all_labels + begin, out);
      continue;
    }
#endif
    score_batch(model, cached ? slice(source, row0, row0 + end - begin) : source, all_labels + begin, out);
  }
  const std::vector<double> s = scores.to_vector();
  double loss_sum = 0;
  int64_t correct = 0;
  for (int64_t i = 0; i < n; ++i) {  // in image order, as the per-batch reads summed them
    loss_sum += s[2 * i];
    correct += s[2 * i + 1] != 0;
  }
  r.count = n;
  if (r.count > 0) {
    r.loss = loss_sum / r.count;
    r.accuracy = 100.0 * correct / r.count;
  }
  model.train(was_training);
  return r;
}

}  // namespace mmengine
