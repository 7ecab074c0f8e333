// What a data-parallel run (mixmatch/trainer.cpp) adds around the step: the check that every
// rank holds the same model, evaluation shared across the ranks, and decisions (stop on time,
// on a signal) that every rank takes together. On one rank each is the single-process version.
#pragma once
#include <cstdint>
#include <vector>

#include "engine/adam.h"
#include "engine/dist.h"
#include "layers/module.h"
#include "mixmatch/evaluate.h"

namespace mmengine {

// FNV-1a over the bytes of every tensor of the models' state and Adam's moments, and the counters.
uint64_t training_state_checksum(const std::vector<Module*>& models, const Adam& adam);
// Throws, naming the step and the ranks that differ from rank 0, unless every rank's checksum
// is rank 0's (parameters, EMA and Adam must stay bit-identical on every rank).
void check_ranks_agree(Communicator& comm, uint64_t checksum, int64_t step);
// evaluate() over this rank's share of `indices` (every size-th image from its rank), the
// losses and hit counts summed over the ranks: every rank gets the whole set's result.
EvalResult evaluate_across_ranks(Communicator& comm, Module& model, const ImageDataset& data,
                                 const std::vector<int64_t>& indices, Device device, int64_t batch,
                                 EvalGraphs* graphs = nullptr, EvalImages* images = nullptr);
// The bitwise OR of every rank's flags.
uint64_t any_rank(Communicator& comm, uint64_t flags);

}  // namespace mmengine
