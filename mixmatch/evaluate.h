// Evaluation with eval-mode BatchNorm: mean cross-entropy and top-1 accuracy over a list of
// images, in order, without gradient.
#pragma once
#include <memory>
#include <utility>
#include <vector>

#include "data/dataset.h"
#include "layers/module.h"

namespace mmengine {

struct EvalResult {
  double loss = 0, accuracy = 0;  // accuracy in percent
  int64_t count = 0;
};

// --graph on (CUDA): the evaluation forward of each model as a CUDA graph, kept for every later
// evaluate() call given the same EvalGraphs. Per full batch, the images and labels are copied
// into the graph's static buffers, the graph (forward, log-softmax, per-row loss and hit)
// replayed and its scores copied out; a model's first full batch runs eagerly in the graph's
// pool (warm-up), its second is captured; a last partial batch runs eagerly. The same numbers
// as without graphs (tests/test_cuda_context.cpp). The graph reads the addresses it was captured
// with, so the model's parameters and running statistics must only change in place (as the
// training step and the EMA update them); a batch size or image shape other than the captured
// one, or other process-wide switches (activation dtype, convolution backend, kernel version,
// GEMM math mode, fusions), is an error; and an EvalGraphs must not outlive the models it was
// used with (entries are keyed by the model's address).
class EvalGraphs {
 public:
  EvalGraphs();
  ~EvalGraphs();
  EvalGraphs(const EvalGraphs&) = delete;
  EvalGraphs& operator=(const EvalGraphs&) = delete;
  struct Entry;
  Entry& entry(const Module& model);

 private:
  std::vector<std::pair<const Module*, std::unique_ptr<Entry>>> entries_;
};

// The normalized images of the lists a run evaluates on, kept on the evaluation device from
// the first evaluate() that uses them (the trainer evaluates the same validation and test
// lists for two models at every evaluation: one gather, upload and normalization per list and
// run, not one per call). Keyed by the dataset's address, the list and the device: the
// datasets must outlive the cache. The same numbers as without it (the same normalization).
// Costs device memory for the run: CIFAR-10's 10,000 test and 5,000 validation images hold
// 184 MB as float32 (each of several runs sharing a GPU keeps its own).
class EvalImages {
 public:
  // [indices.size(), C, H, W] float32 on `device` (shares the kept storage).
  Tensor images(const ImageDataset& data, const std::vector<int64_t>& indices, Device device);
  size_t lists() const { return entries_.size(); }  // the image lists kept

 private:
  struct Entry {
    const ImageDataset* data;
    std::vector<int64_t> indices;
    Device device;
    Tensor images;
  };
  std::vector<Entry> entries_;
};

// `images`: where the normalized images come from (null: normalized per batch, per call).
EvalResult evaluate(Module& model, const ImageDataset& data, const std::vector<int64_t>& indices, Device device,
                    int64_t batch = 256, EvalGraphs* graphs = nullptr, EvalImages* images = nullptr);

}  // namespace mmengine
