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

// Training-mode BatchNorm with the statistics of the rows of every rank: per channel the
// count, sum and sum of squares are all-reduced (one collective) and give the global mean and
// biased variance; backward all-reduces the two per-channel gradient sums through the same
// op (on one rank too: the caller picks batch_norm_train where no ranks are involved). `stats` gets the global statistics (count:
// the global count, the shards being equal).
Tensor batch_norm_train_sync(const Tensor& x, const Tensor& gamma, const Tensor& beta, double eps, BatchStats* stats,
                             Communicator& comm);

// Sums every defined .grad over ranks, packed into buckets of at most bucket_bytes (one
// collective per bucket). Afterwards every rank holds the same gradients.
void all_reduce_gradients(const std::vector<Tensor*>& params, Communicator& comm, size_t bucket_bytes = 32u << 20);

}  // namespace mmengine
