#include "kernels/softmax.h"

#include "kernels/softmax_math.h"

namespace mmengine::kernels {

template <typename T>
void softmax_forward_cpu(const T* x, T* y, int64_t rows, int64_t cols, bool log_out) {
  for (int64_t r = 0; r < rows; ++r) softmax_row(x + r * cols, y + r * cols, cols, log_out);
}

template <typename T>
void softmax_backward_cpu(const T* y, const T* gy, T* gx, int64_t rows, int64_t cols, bool log_out) {
  for (int64_t r = 0; r < rows; ++r) softmax_backward_row(y + r * cols, gy + r * cols, gx + r * cols, cols, log_out);
}

template void softmax_forward_cpu<float>(const float*, float*, int64_t, int64_t, bool);
template void softmax_forward_cpu<double>(const double*, double*, int64_t, int64_t, bool);
template void softmax_backward_cpu<float>(const float*, const float*, float*, int64_t, int64_t, bool);
template void softmax_backward_cpu<double>(const double*, const double*, double*, int64_t, int64_t, bool);

}  // namespace mmengine::kernels
