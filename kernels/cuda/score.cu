#include "kernels/cuda/launch.cuh"
#include "kernels/error.h"
#include "kernels/score.h"
#include "kernels/score_math.h"

namespace mmengine::kernels {

namespace {
template <typename T>
__global__ void score_rows_kernel(const T* logp, const int32_t* labels, int64_t n, int64_t C, double* out) {
  MM_GRID_STRIDE(r, n) score_row(logp + r * C, labels[r], C, out + 2 * r);
}
}  // namespace

template <typename T>
void score_rows_cuda(const T* logp, const int32_t* labels, int64_t n, int64_t C, double* out, cudaStream_t stream) {
  if (n == 0) return;
  score_rows_kernel<<<grid_for(n), kThreads, 0, stream>>>(logp, labels, n, C, out);
  MM_LAUNCH_CHECK();
}

template void score_rows_cuda<float>(const float*, const int32_t*, int64_t, int64_t, double*, cudaStream_t);
template void score_rows_cuda<double>(const double*, const int32_t*, int64_t, int64_t, double*, cudaStream_t);

}  // namespace mmengine::kernels
