// Row gathers along dim 0 (index_select, permutations) and their backward. Indices live on the
// same device as the data. Rows are `row` elements long.
#pragma once
#ifdef MMENGINE_WITH_CUDA
#include <cuda_runtime.h>  // cudaStream_t: every CUDA launcher takes its stream last
#endif
#include <cstdint>

namespace mmengine::kernels {

// dst[r] = src[idx[r]] for r < nidx
template <typename T> void gather_rows_cpu(const T* src, const int64_t* idx, T* dst, int64_t nidx, int64_t row);
// gsrc = 0, then gsrc[idx[r]] += gdst[r] (gsrc has nsrc rows; repeated indices add up)
template <typename T> void scatter_add_rows_cpu(const T* gdst, const int64_t* idx, T* gsrc, int64_t nidx, int64_t row, int64_t nsrc);

#ifdef MMENGINE_WITH_CUDA
template <typename T> void gather_rows_cuda(const T* src, const int64_t* idx, T* dst, int64_t nidx, int64_t row, cudaStream_t stream);
template <typename T> void scatter_add_rows_cuda(const T* gdst, const int64_t* idx, T* gsrc, int64_t nidx, int64_t row, int64_t nsrc, cudaStream_t stream);
#endif

}  // namespace mmengine::kernels
