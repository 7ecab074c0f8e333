// One MixMatch training step: guess, sharpen, MixUp, the forward in the chosen BatchNorm mode,
// the loss, Adam, and the EMA teacher.
#pragma once
#include <memory>
#include <vector>

#include "data/stream.h"
#include "engine/adam.h"
#include "engine/dist.h"
#include "layers/wideresnet.h"
#include "mixmatch/config.h"

namespace mmengine {

struct StepValues {
  double loss = 0, lx = 0, lu = 0, weight = 0, lambda = 0;
};

// What a step leaves on its device: nothing is read back inside the step (no host
// synchronization), the caller reads the values when it logs them.
struct StepResult {
  int64_t step = 0;
  Tensor loss, lx, lu;  // one element each
  Tensor logged;        // [2] float64: the mean MixUp lambda, the unlabeled-loss weight
  // The values (one host synchronization on CUDA); a non-finite loss is an error naming this
  // step (the first non-finite step may be earlier: losses are read once per log interval).
  StepValues read() const;
};

// Data parallel (docs/architecture.md, "dist"): every rank builds the same global step; each
// forward chunk (after MixUp and interleaving; the guess views too) is split by rows across the
// ranks, every rank runs its rows and gathers the logits, so all ranks compute the same global
// loss and back-propagate through their own rows; gradients are summed over ranks before Adam.
// sync_bn: BatchNorm statistics of every rank's rows (--bn-sync global, the single-rank
// result); otherwise of each rank's own rows, and the running statistics are averaged over the
// ranks after the step. comm null or one rank: the single-process step, unless
// collectives_on_one_rank (the one-rank NCCL check runs every collective of the step).
struct StepRanks {
  Communicator* comm = nullptr;
  bool sync_bn = true;
  bool collectives_on_one_rank = false;
  int size() const { return comm ? comm->size() : 1; }
  int rank() const { return comm ? comm->rank() : 0; }
  bool distributed() const { return comm && (comm->size() > 1 || collectives_on_one_rank); }
};

// The logits of the mixed batch (rows in mixed order: B labeled, then K * B unlabeled), by
// the BN mode: one forward per interleaved chunk and un-interleave, one per chunk without
// swapping, or a single pass. Which calls update the running statistics follows bn_update.
Tensor forward_mixed(Module& model, const Tensor& mixed, int64_t batch, BnMode mode, BnUpdate update,
                     const StepRanks& ranks = {});

// The values a step reads that change every step, in memory of the step's device (so a
// replayed CUDA graph reads each step's own): the step number and Adam's update count t after
// the step, and the labeled batch's labels. Their sizes are fixed by the batch size.
struct StepDeviceInputs {
  std::shared_ptr<void> scalars;  // int64[2]: step, t
  std::shared_ptr<void> labels;   // int32[B]
};
StepDeviceInputs allocate_step_inputs(int64_t batch, Device dev);
// Uploads (no host synchronization); labels are range-checked here, on the host.
void write_step_inputs(const StepDeviceInputs& in, const std::vector<int32_t>& labels, int64_t step, int64_t adam_t,
                       int num_classes, Device dev);

// Runs the step and updates student (Adam), teacher (EMA, when enabled) in place.
StepResult mixmatch_step(WideResNet& student, WideResNet* teacher, Adam& adam, const StepBatch& batch,
                         const TrainConfig& cfg, int64_t step, int num_classes, const StepRanks& ranks = {});
// The same with the per-step values already on the device (batch.labels is not read); every
// device operation of it can be captured in a CUDA graph (mixmatch/step_runner.h).
StepResult mixmatch_step(WideResNet& student, WideResNet* teacher, Adam& adam, const StepBatch& batch,
                         const TrainConfig& cfg, int64_t step, int num_classes, const StepDeviceInputs& in,
                         const StepRanks& ranks = {});

}  // namespace mmengine
