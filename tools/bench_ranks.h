// `mpirun -np N mmengine bench --ranks`: the data-parallel MixMatch step on N ranks (the
// process's communicator, engine/dist.h, of backend --dist) with synchronized and with local
// BatchNorm, the collectives each sends per step (counted) and what synchronized BN costs per
// collective it adds, and the gradient all-reduce alone (its bytes, time and bus bandwidth
// 2 (N - 1) / N x bytes / time), as a share of the step. Rank 0 prints; every rank takes part.
// Under one process: one rank, the step still through every collective (`--dist nccl`: NCCL's
// one-rank collectives and our wait for each).
#pragma once
#include <string>

namespace mmengine {

struct BenchOpts {
  std::string device = "auto", json, dist = "auto";
  int64_t depth = 28, widen = 2, batch = 64;
  int warmup = 3, repeats = 20;
  bool quick = false, conv_layers = false;
  std::string variants = "all";  // tools/cmd_bench.cpp: kBenchParts
  std::string precision = "fp32";  // every row at this --precision (engine/precision.h)
};

int run_bench_ranks(const BenchOpts& o);

}  // namespace mmengine
