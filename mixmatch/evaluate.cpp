#include "mixmatch/evaluate.h"

#include <algorithm>
#include <cmath>

#include "data/augment.h"
#include "engine/autograd.h"
#include "engine/dispatch.h"
#include "engine/memory.h"
#include "engine/ops.h"
#include "kernels/score.h"

namespace mmengine {

EvalResult evaluate(Module& model, const ImageDataset& data, const std::vector<int64_t>& indices, Device device,
                    int64_t batch) {
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
  for (int64_t begin = 0; begin < n; begin += batch) {
    const int64_t end = std::min(n, begin + batch);
    std::vector<int64_t> idx(indices.begin() + begin, indices.begin() + end);
    Tensor logp = log_softmax(model(normalized_images(data, idx, device)));
    MM_DISPATCH_FLOAT(logp.dtype(), T,
                      MM_KERNEL(device, score_rows, T)(logp.data<T>(), static_cast<const int32_t*>(device_labels.get()) + begin,
                                                       end - begin, logp.size(1), scores.data<double>() + 2 * begin));
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
