#include "mixmatch/step.h"

#include <cmath>

#include "engine/autograd.h"
#include "engine/dispatch.h"
#include "engine/dist_ops.h"
#include "engine/kernel_version.h"
#include "engine/memory.h"
#include "engine/ops.h"
#include "mixmatch/ema.h"
#include "mixmatch/guess.h"
#include "mixmatch/interleave.h"
#include "mixmatch/loss.h"
#include "mixmatch/mixup.h"
#include "kernels/step_draws.h"

namespace mmengine {

namespace {
// The communicator of synchronized BN (--bn-sync global across ranks), else null.
Communicator* bn_sync_of(const StepRanks& ranks) { return ranks.distributed() && ranks.sync_bn ? ranks.comm : nullptr; }

ForwardOptions call_options(BnUpdate update, bool first_call, const char* tag, const StepRanks& ranks = {}) {
  ForwardOptions o;
  o.update_running_stats = update != BnUpdate::First || first_call;
  o.tag = tag;
  o.bn_sync = bn_sync_of(ranks);
  return o;
}

// One-hot targets built on the device from labels already there.
Tensor one_hot(const std::shared_ptr<void>& labels, int64_t n, int num_classes, DType dt, Device dev) {
  Tensor out = Tensor::empty({n, num_classes}, dt, dev);
  MM_DISPATCH_FLOAT(dt, T,
                    MM_KERNEL(dev, one_hot, T)(static_cast<const int32_t*>(labels.get()), n, num_classes, out.data<T>()));
  return out;
}

// This rank's rows of a chunk (equal shares), and the rows of every rank gathered back.
Tensor shard(const Tensor& t, const StepRanks& ranks) {
  const int n = ranks.size();
  if (!ranks.distributed()) return t;
  MM_CHECK(t.size(0) % n == 0, "--batch-size: a chunk of ", t.size(0), " rows does not split evenly across ", n, " ranks");
  const int64_t rows = t.size(0) / n;
  return slice(t, rows * ranks.rank(), rows * (ranks.rank() + 1));
}
Tensor gathered(const Tensor& t, const StepRanks& ranks) {
  return ranks.distributed() ? all_gather_rows(t, *ranks.comm) : t;
}

// --bn-sync local: the ranks' running statistics drift apart; their mean keeps one model (one
// bucketed all-reduce for all of them).
void average_bn_buffers(Module& model, Communicator& comm) {
  NoGrad ng;
  std::vector<Tensor> buffers;
  for (auto& [name, t] : model.named_buffers()) buffers.push_back(*t);
  all_reduce_sum_bucketed(buffers, comm, 32u << 20, 1.0 / comm.size());
}

void check_finite(double v, const char* term, int64_t step) {
  // `step` counts from 0; the message uses the 1-based number of the progress line and metrics.
  MM_CHECK(std::isfinite(v), "non-finite loss at step ", step + 1, ": ", term, " = ", v);
}
}  // namespace

Tensor forward_mixed(Module& model, const Tensor& mixed, int64_t batch, BnMode mode, BnUpdate update,
                     const StepRanks& ranks) {
  if (mode == BnMode::Single) return gathered(model(shard(mixed, ranks), call_options(update, true, "single", ranks)), ranks);
  std::vector<Tensor> chunks = split(mixed, batch);
  if (mode == BnMode::Interleave) chunks = interleave(chunks, batch);
  auto tag_of = [&](size_t i) {
    return mode == BnMode::Interleave ? "interleaved" : (i == 0 ? "labeled-mixed" : "unlabeled-mixed");
  };
  std::vector<Tensor> logits;
  if (fusion_enabled(Fusion::GroupedBatchNorm) && mixed.size(0) % batch == 0 && chunks.size() > 1 &&
      chunks.size() <= 32) {
    // One pass over all chunks (this rank's rows of each, data parallel), BatchNorm statistics
    // per chunk: the same numbers as one call per chunk (the convolution weight gradients add
    // the chunks in another order). Data parallel, the gathered logits are rank-major
    // ([rank][chunk][rows]) and are put back chunk by chunk.
    ForwardOptions grouped;
    grouped.bn_sync = bn_sync_of(ranks);
    std::vector<Tensor> mine;
    for (size_t i = 0; i < chunks.size(); ++i) {
      ForwardOptions one = call_options(update, i == 0, tag_of(i));
      grouped.groups.push_back({one.update_running_stats, one.tag});
      mine.push_back(shard(chunks[i], ranks));
    }
    const bool whole = !ranks.distributed() && mode == BnMode::Separate;  // the chunks are `mixed` itself
    Tensor all = gathered(model(whole ? mixed : concat(mine), grouped), ranks);
    const int64_t rows = mine[0].size(0), G = static_cast<int64_t>(chunks.size());
    for (int64_t g = 0; g < G; ++g) {
      std::vector<Tensor> parts;
      for (int r = 0; r < ranks.size(); ++r) parts.push_back(slice(all, (r * G + g) * rows, (r * G + g + 1) * rows));
      logits.push_back(parts.size() == 1 ? parts[0] : concat(parts));
    }
  } else {  // one forward per chunk of this rank's rows, the logits gathered
    for (size_t i = 0; i < chunks.size(); ++i)
      logits.push_back(gathered(model(shard(chunks[i], ranks), call_options(update, i == 0, tag_of(i), ranks)), ranks));
  }
  if (mode == BnMode::Interleave) logits = interleave(logits, batch);  // swaps the slices back
  return concat(logits);
}

StepDeviceInputs allocate_step_inputs(int64_t batch, Device dev) {
  return {allocate(dev, 2 * sizeof(int64_t)), allocate(dev, static_cast<size_t>(batch) * sizeof(int32_t))};
}

void write_step_inputs(const StepDeviceInputs& in, const std::vector<int32_t>& labels, int64_t step, int64_t adam_t,
                       int num_classes, Device dev) {
  MM_CHECK(step >= 0, "linear_rampup: negative step or length");
  for (int32_t l : labels) MM_CHECK(l >= 0 && l < num_classes, "label ", l, " out of range");
  const int64_t scalars[2] = {step, adam_t};
  copy_bytes(in.scalars.get(), dev, scalars, Device::CPU, sizeof(scalars));
  copy_bytes(in.labels.get(), dev, labels.data(), Device::CPU, labels.size() * sizeof(int32_t));
}

StepResult mixmatch_step(WideResNet& student, WideResNet* teacher, Adam& adam, const StepBatch& b,
                         const TrainConfig& cfg, int64_t step, int num_classes, const StepRanks& ranks) {
  const Device dev = b.x.device();
  StepDeviceInputs in = allocate_step_inputs(static_cast<int64_t>(b.labels.size()), dev);
  write_step_inputs(in, b.labels, step, adam.steps() + 1, num_classes, dev);
  return mixmatch_step(student, teacher, adam, b, cfg, step, num_classes, in, ranks);
}

StepResult mixmatch_step(WideResNet& student, WideResNet* teacher, Adam& adam, const StepBatch& b,
                         const TrainConfig& cfg, int64_t step, int num_classes, const StepDeviceInputs& in,
                         const StepRanks& ranks) {
  const int64_t B = b.x.size(0);
  const DType dt = b.x.dtype();
  const Device dev = b.x.device();
  student.train();

  // 1-2. Guess and sharpen, without gradient. The port updates BN statistics here too.
  ForwardOptions guess_opts;
  guess_opts.update_running_stats = cfg.bn_update == BnUpdate::All;
  guess_opts.tag = "unlabeled";
  guess_opts.bn_sync = bn_sync_of(ranks);
  std::vector<Tensor> views;
  for (auto& u : b.u) views.push_back(shard(u, ranks));
  Tensor q = gathered(guess_labels(student, views, cfg.T, guess_opts), ranks);

  // 3. MixUp over all rows, drawn on the device (with the loss weight) from the step number.
  std::vector<Tensor> inputs{b.x}, targets{one_hot(in.labels, B, num_classes, dt, dev)};
  for (auto& u : b.u) inputs.push_back(u), targets.push_back(q);
  Tensor all_inputs = concat(inputs), all_targets = concat(targets);
  StepDrawSettings ds;
  ds.alpha = cfg.alpha;
  ds.lambda_u = cfg.lambda_u;
  ds.seed = cfg.seed;
  ds.per_sample = cfg.mixup_lambda == MixupLambda::Sample;
  ds.rampup_steps = cfg.resolved_rampup();
  StepDraws draw = draw_step(ds, all_inputs.size(0), in.scalars, dt, dev);
  Tensor mixed_input, mixed_target;
  {
    NoGrad ng;
    mixed_input = mix(all_inputs, draw);
    mixed_target = mix(all_targets, draw);
  }

  // 4-5. Forward in the BN mode, loss (the weight lambda_u * ramp is a device tensor).
  Tensor logits = forward_mixed(student, mixed_input, B, cfg.bn_mode, cfg.bn_update, ranks);
  StepResult r;
  r.step = step;
  r.lx = soft_cross_entropy(slice(logits, 0, B), slice(mixed_target, 0, B));
  r.lu = probability_mse(slice(logits, B, logits.size(0)), slice(mixed_target, B, mixed_target.size(0)));
  r.loss = add(r.lx, mul(r.lu, reshape(draw.weight, r.lu.shape())));
  r.logged = draw.logged;

  // 6. Adam on the student, then the EMA teacher.
  student.zero_grad();
  r.loss.backward();
  if (ranks.distributed()) {
    std::vector<Tensor*> params;
    for (auto& [name, p] : student.named_parameters()) params.push_back(p);
    all_reduce_gradients(params, *ranks.comm);
    if (!ranks.sync_bn) average_bn_buffers(student, *ranks.comm);
  }
  adam.set_lr(cfg.effective_lr());
  adam.step(static_cast<const int64_t*>(in.scalars.get()) + 1);
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

StepValues StepResult::read() const {
  StepValues v;
  const std::vector<double> logged_values = logged.to_vector();
  v.lx = lx.item();
  v.lu = lu.item();
  v.loss = loss.item();
  v.lambda = logged_values[0];  // per-sample draws: their mean
  v.weight = logged_values[1];
  check_finite(v.lx, "L_x", step);
  check_finite(v.lu, "L_u", step);
  check_finite(v.loss, "total", step);
  return v;
}

}  // namespace mmengine
