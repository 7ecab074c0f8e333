#include "mixmatch/step.h"

#include <cmath>

#include "engine/autograd.h"
#include "engine/kernel_version.h"
#include "engine/ops.h"
#include "mixmatch/ema.h"
#include "mixmatch/guess.h"
#include "mixmatch/interleave.h"
#include "mixmatch/loss.h"
#include "mixmatch/mixup.h"

namespace mmengine {

namespace {
ForwardOptions call_options(BnUpdate update, bool first_call, const char* tag) {
  ForwardOptions o;
  o.update_running_stats = update != BnUpdate::First || first_call;
  o.tag = tag;
  return o;
}

Tensor one_hot(const std::vector<int32_t>& labels, int num_classes, DType dt, Device dev) {
  std::vector<double> v(labels.size() * num_classes, 0.0);
  for (size_t i = 0; i < labels.size(); ++i) {
    MM_CHECK(labels[i] >= 0 && labels[i] < num_classes, "label ", labels[i], " out of range");
    v[i * num_classes + labels[i]] = 1.0;
  }
  return Tensor::from_vector(v, {static_cast<int64_t>(labels.size()), num_classes}, dt, dev);
}

void check_finite(double v, const char* term, int64_t step) {
  // `step` counts from 0; the message uses the 1-based number of the progress line and metrics.
  MM_CHECK(std::isfinite(v), "non-finite loss at step ", step + 1, ": ", term, " = ", v);
}
}  // namespace

Tensor forward_mixed(Module& model, const Tensor& mixed, int64_t batch, BnMode mode, BnUpdate update) {
  if (mode == BnMode::Single) return model(mixed, call_options(update, true, "single"));
  std::vector<Tensor> chunks = split(mixed, batch);
  if (mode == BnMode::Interleave) chunks = interleave(chunks, batch);
  auto tag_of = [&](size_t i) {
    return mode == BnMode::Interleave ? "interleaved" : (i == 0 ? "labeled-mixed" : "unlabeled-mixed");
  };
  std::vector<Tensor> logits;
  if (fusion_enabled(Fusion::GroupedBatchNorm) && mixed.size(0) % batch == 0 && chunks.size() > 1 &&
      chunks.size() <= 32) {
    // One pass over all chunks, BatchNorm statistics per chunk: the same numbers as one call
    // per chunk (the convolution weight gradients add the chunks in another order).
    ForwardOptions grouped;
    for (size_t i = 0; i < chunks.size(); ++i) {
      ForwardOptions one = call_options(update, i == 0, tag_of(i));
      grouped.groups.push_back({one.update_running_stats, one.tag});
    }
    logits = split(model(mode == BnMode::Interleave ? concat(chunks) : mixed, grouped), batch);
  } else {
    for (size_t i = 0; i < chunks.size(); ++i) logits.push_back(model(chunks[i], call_options(update, i == 0, tag_of(i))));
  }
  if (mode == BnMode::Interleave) logits = interleave(logits, batch);  // swaps the slices back
  return concat(logits);
}

StepResult mixmatch_step(WideResNet& student, WideResNet* teacher, Adam& adam, const StepBatch& b,
                         const TrainConfig& cfg, int64_t step, int num_classes) {
  const int64_t B = b.x.size(0);
  const DType dt = b.x.dtype();
  const Device dev = b.x.device();
  student.train();

  // 1-2. Guess and sharpen, without gradient. The port updates BN statistics here too.
  ForwardOptions guess_opts;
  guess_opts.update_running_stats = cfg.bn_update == BnUpdate::All;
  guess_opts.tag = "unlabeled";
  Tensor q = guess_labels(student, b.u, cfg.T, guess_opts);

  // 3. MixUp over all rows.
  std::vector<Tensor> inputs{b.x}, targets{one_hot(b.labels, num_classes, dt, dev)};
  for (auto& u : b.u) inputs.push_back(u), targets.push_back(q);
  Tensor all_inputs = concat(inputs), all_targets = concat(targets);
  MixUpDraw draw = draw_mixup(all_inputs.size(0), cfg.alpha, cfg.seed, static_cast<uint64_t>(step),
                              cfg.mixup_lambda == MixupLambda::Sample);
  Tensor mixed_input, mixed_target;
  {
    NoGrad ng;
    mixed_input = mix(all_inputs, draw);
    mixed_target = mix(all_targets, draw);
  }

  // 4-5. Forward in the BN mode, loss.
  Tensor logits = forward_mixed(student, mixed_input, B, cfg.bn_mode, cfg.bn_update);
  const double ramp = linear_rampup(step, cfg.resolved_rampup());
  MixMatchLoss loss = mixmatch_loss(slice(logits, 0, B), slice(mixed_target, 0, B), slice(logits, B, logits.size(0)),
                                    slice(mixed_target, B, mixed_target.size(0)), cfg.lambda_u, ramp);
  StepResult r;
  r.lx = loss.lx.item();
  r.lu = loss.lu.item();
  r.loss = loss.total.item();
  r.weight = loss.weight;
  r.lambda = draw.lambda;  // per-sample draws: their mean
  check_finite(r.lx, "L_x", step);
  check_finite(r.lu, "L_u", step);
  check_finite(r.loss, "total", step);

  // 6. Adam on the student, then the EMA teacher.
  student.zero_grad();
  loss.total.backward();
  adam.set_lr(cfg.effective_lr());
  adam.step();
  if (teacher && cfg.ema) {
    EmaSpec spec;
    spec.decay = cfg.ema_decay;
    spec.weight_decay = 0.02 * cfg.effective_lr();
    spec.scope = cfg.ema_scope;
    spec.decay_scope = cfg.decay_scope;
    ema_step(*teacher, student, spec);
  }
  return r;
}

}  // namespace mmengine
