#include "mixmatch/loss_cases.h"

#include "engine/op_cases.h"
#include "engine/ops.h"
#include "mixmatch/guess.h"
#include "mixmatch/interleave.h"
#include "mixmatch/loss.h"
#include "mixmatch/mixup.h"

namespace mmengine {

std::vector<GradCase> mixmatch_grad_cases() {
  std::vector<GradCase> cases;
  GradCase loss;
  loss.name = "mixmatch_loss";
  loss.make_inputs = [](Device d, DType t, uint64_t seed, bool big) {
    const int64_t B = big ? 67 : 3, C = 10;
    // Targets are probability rows (softmax of random values), as mixed targets are. The softmax
    // runs on the CPU so every device gets bit-identical targets (CUDA's double exp differs from
    // glibc's in the last bit for a few percent of inputs).
    auto probs = [&](int64_t rows, uint64_t which) {
      Tensor p = softmax(case_input({rows, C}, Device::CPU, t, seed, which, -2, 2, 0.0, false));
      return p.detach().to(d);
    };
    return std::vector<Tensor>{case_input({B, C}, d, t, seed, 0, -3, 3), probs(B, 1),
                               case_input({2 * B, C}, d, t, seed, 2, -3, 3), probs(2 * B, 3)};
  };
  loss.forward = [](const std::vector<Tensor>& in) {
    return mixmatch_loss(in[0], in[1], in[2], in[3], 75.0, 0.3).total;
  };
  cases.push_back(loss);

  GradCase sharp;
  sharp.name = "sharpen";
  sharp.make_inputs = [](Device d, DType t, uint64_t seed, bool big) {
    return std::vector<Tensor>{case_input({big ? 300 : 4, 10}, d, t, seed, 0, 0.05, 1.0)};
  };
  sharp.forward = [](const std::vector<Tensor>& in) { return sharpen(in[0], 0.5); };
  cases.push_back(sharp);

  GradCase inter;
  inter.name = "mixup_interleave";
  inter.make_inputs = [](Device d, DType t, uint64_t seed, bool big) {
    return std::vector<Tensor>{case_input({3 * (big ? 64 : 5), 2, 3}, d, t, seed, 0)};
  };
  inter.forward = [](const std::vector<Tensor>& in) {
    const int64_t B = in[0].size(0) / 3;
    Tensor mixed = mix(in[0], draw_mixup(3 * B, 0.75, 1, 2));
    auto chunks = interleave(split(mixed, B), B);
    // Scale each interleaved chunk differently so a wrong routing shows in the gradient.
    for (size_t i = 0; i < chunks.size(); ++i) chunks[i] = mul(chunks[i], 1.0 + static_cast<double>(i));
    return concat(interleave(chunks, B));
  };
  cases.push_back(inter);
  return cases;
}

}  // namespace mmengine
