// One row of softmax, shared by both devices (a row is handled by one thread on CUDA: the
// class axis is short, 10 for CIFAR-10).
#pragma once
#include <cmath>

#include "kernels/common.h"

namespace mmengine::kernels {

#if !defined(__CUDACC__)
using std::exp;
using std::log;
#endif

template <typename T>
MM_HD void softmax_row(const T* x, T* y, int64_t cols, bool log_out) {
  T mx = x[0];
  for (int64_t j = 1; j < cols; ++j) mx = x[j] > mx ? x[j] : mx;
  double sum = 0;
  for (int64_t j = 0; j < cols; ++j) sum += exp(static_cast<double>(x[j] - mx));
  if (log_out) {
    T lse = static_cast<T>(log(sum));
    for (int64_t j = 0; j < cols; ++j) y[j] = x[j] - mx - lse;
  } else {
    for (int64_t j = 0; j < cols; ++j) y[j] = static_cast<T>(exp(static_cast<double>(x[j] - mx)) / sum);
  }
}

template <typename T>
MM_HD void softmax_backward_row(const T* y, const T* gy, T* gx, int64_t cols, bool log_out) {
  double s = 0;
  if (log_out) {
    for (int64_t j = 0; j < cols; ++j) s += gy[j];
    for (int64_t j = 0; j < cols; ++j) gx[j] = static_cast<T>(gy[j] - exp(static_cast<double>(y[j])) * s);
  } else {
    for (int64_t j = 0; j < cols; ++j) s += static_cast<double>(gy[j]) * y[j];
    for (int64_t j = 0; j < cols; ++j) gx[j] = static_cast<T>(y[j] * (gy[j] - s));
  }
}

}  // namespace mmengine::kernels
