// Optimizer and teacher updates, in place on parameter storage (they are not autograd ops).
#pragma once
#ifdef MMENGINE_WITH_CUDA
#include <cuda_runtime.h>  // cudaStream_t: every CUDA launcher takes its stream last
#endif
#include <cstdint>

namespace mmengine::kernels {

// torch.optim.Adam (no weight decay, no amsgrad), step t >= 1:
//   m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
//   p -= (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
// step_on_device: when set, t is read from there (memory of the update's device) instead of
// `step`, so a captured CUDA graph replays the update with each step's own t.
struct AdamSpec {
  double lr, beta1, beta2, eps;
  int64_t step;
  const int64_t* step_on_device = nullptr;
};
template <typename T> void adam_update_cpu(const AdamSpec& s, T* p, const T* g, T* m, T* v, int64_t n);

// teacher = decay * teacher + (1 - decay) * student, then student *= student_scale
// (student_scale = 1 - 0.02 lr in the reference ports, 1 to leave the student alone).
template <typename T> void ema_update_cpu(T* teacher, T* student, double decay, double student_scale, int64_t n);

#ifdef MMENGINE_WITH_CUDA
template <typename T> void adam_update_cuda(const AdamSpec& s, T* p, const T* g, T* m, T* v, int64_t n, cudaStream_t stream);
template <typename T> void ema_update_cuda(T* teacher, T* student, double decay, double student_scale, int64_t n, cudaStream_t stream);
#endif

}  // namespace mmengine::kernels
