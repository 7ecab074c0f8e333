// Evaluation scores of a batch, per row, on the device of the log-probabilities, so an
// evaluation reads its results back once per image set instead of once per batch:
// out[2r] = -logp[r, label[r]] (the cross-entropy term), out[2r + 1] = 1 when the first largest
// logp of row r sits at label[r] (std::max_element's tie rule), else 0. Labels are in [0, C).
#pragma once
#ifdef MMENGINE_WITH_CUDA
#include <cuda_runtime.h>  // cudaStream_t: every CUDA launcher takes its stream last
#endif
#include <cstdint>

namespace mmengine::kernels {

template <typename T>
void score_rows_cpu(const T* logp, const int32_t* labels, int64_t n, int64_t C, double* out);

#ifdef MMENGINE_WITH_CUDA
template <typename T>
void score_rows_cuda(const T* logp, const int32_t* labels, int64_t n, int64_t C, double* out, cudaStream_t stream);
#endif

}  // namespace mmengine::kernels
