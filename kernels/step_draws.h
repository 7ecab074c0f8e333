// The inputs of a MixMatch step that used to be built on the host, built on the step's device
// instead so the step needs no host synchronization (and can be replayed as a CUDA graph):
// - step_draws: from (seed, step), with the step read from device memory, the MixUp lambdas
//   (one per row: the batch's lambda repeated, or per-row draws), 1 - lambda per row, the
//   permutation of the rows, and the unlabeled-loss weight lambda_u * ramp(step); also the two
//   logged values in double (the mean lambda and the weight), by the host functions' formulas
//   (mixmatch/mixup.cpp draw_mixup, mixmatch/loss.cpp linear_rampup): the same Philox
//   sequences (kernels/philox_sequence.h) and the same double arithmetic, never contracted into
//   FMAs. The CPU twin and the emulated device give the host's numbers bit for bit; on a GPU,
//   CUDA's log / cos / pow may differ from glibc's in the last bit, which in rare draws can flip
//   the Gamma sampler's acceptance test and give another lambda. One CUDA
//   thread draws them (a Fisher-Yates shuffle is sequential); rows is a few hundred.
// - one_hot: float one-hot rows from int32 labels (range-checked by the caller on the host).
#pragma once
#ifdef MMENGINE_WITH_CUDA
#include <cuda_runtime.h>  // cudaStream_t: every CUDA launcher takes its stream last
#endif
#include <cstdint>

namespace mmengine::kernels {

struct StepDrawSpec {
  int64_t rows;          // all MixUp rows (B labeled + K * B unlabeled)
  double alpha;          // Beta(alpha, alpha), alpha > 0
  uint64_t seed;         // the run's seed
  bool per_sample;       // one lambda per row instead of one for the batch
  double lambda_u;       // the unlabeled-loss weight at the end of the ramp
  int64_t rampup_steps;  // 0: no ramp
};

// step: one int64 on the device (>= 0); lam, rest, perm: rows each; weight: one T;
// logged: two doubles (mean lambda, weight).
template <typename T>
void step_draws_cpu(const StepDrawSpec& s, const int64_t* step, T* lam, T* rest, int64_t* perm, T* weight, double* logged);
template <typename T> void one_hot_cpu(const int32_t* labels, int64_t n, int64_t classes, T* out);

#ifdef MMENGINE_WITH_CUDA
template <typename T>
void step_draws_cuda(const StepDrawSpec& s, const int64_t* step, T* lam, T* rest, int64_t* perm, T* weight, double* logged,
                     cudaStream_t stream);
template <typename T> void one_hot_cuda(const int32_t* labels, int64_t n, int64_t classes, T* out, cudaStream_t stream);
#endif

}  // namespace mmengine::kernels
