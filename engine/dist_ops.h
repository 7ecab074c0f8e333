// Differentiable collectives and synchronized BatchNorm over a Communicator (engine/dist.h),
// for data-parallel training in which every rank computes the same global loss from gathered
// outputs and back-propagates through its own rows only: the parameter gradient of the whole
// batch is then the sum over ranks of the per-rank gradients (all_reduce_gradients).
#pragma once
#include <vector>

#include "engine/dist.h"
#include "engine/ops_nn.h"

namespace mmengine {

// The sum over ranks. Backward: the sum over ranks of the incoming gradients (each rank holds
// the gradient of its own part of the objective).
Tensor all_reduce_sum(const Tensor& x, Communicator& comm);
// [rows, ...] per rank -> [size * rows, ...] in rank order. Backward: this rank's rows of the
// gradient (every rank computes the same loss from the gathered rows, so no communication).
Tensor all_gather_rows(const Tensor& x, Communicator& comm);

// Training-mode BatchNorm with the statistics of the rows of every rank (synchronized BN;
// engine/ops_batchnorm.cpp, the phases of kernels/batchnorm.h): the options of
// batch_norm_train (row groups: group g's statistics are those of group g's rows on every
// rank; fused LeakyReLU; running statistics moved with the global count), each rank holding
// the same number of rows. Forward: this rank's per-(group, channel) sum and centered sum of
// squares (float64), all-gathered and combined in rank order (every rank computes the same
// mean and biased variance; one collective). Backward: the two per-(group, channel) gradient
// sums all-reduced (one collective); the gamma and beta gradients are this rank's own (the
// data-parallel gradient all-reduce sums them). On one rank: batch_norm_train's numbers bit for
// bit. `stats` gets the global statistics (count: per group, all ranks).
Tensor batch_norm_train_sync(const Tensor& x, const Tensor& gamma, const Tensor& beta, double eps, BatchStats* stats,
                             Communicator& comm, const BatchNormTrainOptions& options = {});

// Sums the tensors over ranks in place (their storage is written), times `scale` (applied once
// per bucket: 1 / ranks gives the mean), packed in order into buckets of one dtype and device
// of at most bucket_bytes (a larger tensor gets a bucket of its own), one collective per
// bucket, without autograd. Afterwards every rank holds the same values.
void all_reduce_sum_bucketed(const std::vector<Tensor>& tensors, Communicator& comm, size_t bucket_bytes = 32u << 20,
                             double scale = 1.0);
// all_reduce_sum_bucketed of every defined .grad.
void all_reduce_gradients(const std::vector<Tensor*>& params, Communicator& comm, size_t bucket_bytes = 32u << 20);

}  // namespace mmengine
