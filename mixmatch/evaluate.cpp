#include "mixmatch/evaluate.h"

#include <algorithm>
#include <cmath>

#include "data/augment.h"
#include "engine/autograd.h"
#include "engine/ops.h"

namespace mmengine {

EvalResult evaluate(Module& model, const ImageDataset& data, const std::vector<int64_t>& indices, Device device,
                    int64_t batch) {
  NoGrad ng;
  const bool was_training = model.training();
  model.eval();
  EvalResult r;
  double loss_sum = 0;
  int64_t correct = 0;
  for (size_t begin = 0; begin < indices.size(); begin += batch) {
    std::vector<int64_t> idx(indices.begin() + begin, indices.begin() + std::min(indices.size(), begin + batch));
    Tensor logp = log_softmax(model(normalized_images(data, idx, device)));
    std::vector<double> lp = logp.to_vector();
    const int64_t C = logp.size(1);
    for (size_t i = 0; i < idx.size(); ++i) {
      const double* row = lp.data() + i * C;
      const int label = data.labels[idx[i]];
      loss_sum -= row[label];
      correct += (std::max_element(row, row + C) - row) == label;
    }
  }
  r.count = static_cast<int64_t>(indices.size());
  if (r.count > 0) {
    r.loss = loss_sum / r.count;
    r.accuracy = 100.0 * correct / r.count;
  }
  model.train(was_training);
  return r;
}

}  // namespace mmengine
