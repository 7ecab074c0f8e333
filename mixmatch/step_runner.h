// Runs the MixMatch training step every step, eagerly (--graph off) or as a CUDA graph
// (--graph on): the step's inputs are copied into static device buffers, two warm-up steps run
// eagerly with the graph's private allocation pool (so the capture needs no cudaMalloc), the
// third is captured and replayed, every later one only replayed. Both modes give the same
// numbers (tests/test_cuda_graph.cpp). With the graph, the host-side effects of a step (Adam's
// and the modules' integer counters) are those of the captured step, applied again after each
// replay; a result stays valid until the next run() (its tensors are the graph's outputs).
#pragma once
#include <memory>
#include <vector>

#include "mixmatch/step.h"

namespace mmengine {

class StepRunner {
 public:
  // --graph on needs the CUDA device and one process (an error naming --graph otherwise: the
  // data-parallel step's MPI collectives run on the host, outside any graph).
  StepRunner(WideResNet& student, WideResNet* teacher, Adam& adam, const TrainConfig& cfg, int num_classes,
             const StepRanks& ranks = {});
  ~StepRunner();
  StepRunner(const StepRunner&) = delete;
  StepRunner& operator=(const StepRunner&) = delete;

  StepResult run(const StepBatch& batch, int64_t step);

 private:
  struct Graphed;
  WideResNet& student_;
  WideResNet* teacher_;
  Adam& adam_;
  const TrainConfig& cfg_;
  int num_classes_;
  StepRanks ranks_;
  std::unique_ptr<Graphed> graphed_;  // --graph on
};

}  // namespace mmengine
