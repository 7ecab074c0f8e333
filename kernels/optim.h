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

// Multi-tensor forms: one launch over many tensors, described by an array of chunks (on the
// device of the tensors: device memory for CUDA), with the same per-element formulas, so the
// numbers equal one per-tensor call per chunk. Each chunk covers tiles of kMultiTensorTile
// elements: chunk i owns tiles [first_tile, first_tile + ceil(n / tile)) of the launch, and
// multi_tensor_tiles() numbers them (call it on the host array before copying it).
constexpr int64_t kMultiTensorTile = 4096;
template <typename T>
struct AdamChunk {
  T* p;
  const T* g;
  T* m;
  T* v;
  int64_t n, first_tile;
};
// EMA chunk: average (teacher = decay t + (1 - decay) s, then s *= scale), or with
// copy != 0 the teacher takes the scaled student (the state the teacher does not average).
template <typename T>
struct EmaChunk {
  T* teacher;
  T* student;
  int64_t n, first_tile;
  double decay, scale;
  int64_t copy;
};
// Sets every chunk's first_tile; returns the launch's tile count.
template <typename Chunk>
int64_t multi_tensor_tiles(Chunk* chunks, int64_t count) {
  int64_t tiles = 0;
  for (int64_t i = 0; i < count; ++i) {
    chunks[i].first_tile = tiles;
    tiles += (chunks[i].n + kMultiTensorTile - 1) / kMultiTensorTile;
  }
  return tiles;
}
template <typename T>
void adam_update_multi_cpu(const AdamSpec& s, const AdamChunk<T>* chunks, int64_t count, int64_t tiles);
template <typename T>
void ema_update_multi_cpu(const EmaChunk<T>* chunks, int64_t count, int64_t tiles);

#ifdef MMENGINE_WITH_CUDA
template <typename T>
void adam_update_multi_cuda(const AdamSpec& s, const AdamChunk<T>* chunks, int64_t count, int64_t tiles, cudaStream_t stream);
template <typename T>
void ema_update_multi_cuda(const EmaChunk<T>* chunks, int64_t count, int64_t tiles, cudaStream_t stream);
template <typename T> void adam_update_cuda(const AdamSpec& s, T* p, const T* g, T* m, T* v, int64_t n, cudaStream_t stream);
template <typename T> void ema_update_cuda(T* teacher, T* student, double decay, double student_scale, int64_t n, cudaStream_t stream);
#endif

}  // namespace mmengine::kernels
