#include "kernels/batchnorm.h"

#include <cmath>

namespace mmengine::kernels {

int64_t batchnorm_workspace_cpu(int64_t, int64_t, int64_t) { return 0; }

template <typename T>
void batchnorm_forward_train_cpu(const T* x, const T* gamma, const T* beta, T* y, T* mean, T* var, T* invstd, int64_t N,
                                 int64_t C, int64_t HW, double eps, double* /*workspace: none needed*/) {
  const double count = static_cast<double>(N * HW);
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < C; ++c) {
    double s = 0;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < HW; ++i) s += x[(n * C + c) * HW + i];
    const double mu = s / count;
    double ss = 0;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < HW; ++i) {
        const double d = x[(n * C + c) * HW + i] - mu;
        ss += d * d;
      }
    const double v = ss / count, is = 1.0 / std::sqrt(v + eps);
    mean[c] = static_cast<T>(mu);
    var[c] = static_cast<T>(v);
    invstd[c] = static_cast<T>(is);
    const double scale = gamma[c] * is, shift = beta[c] - mu * scale;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < HW; ++i) {
        const int64_t k = (n * C + c) * HW + i;
        y[k] = static_cast<T>(x[k] * scale + shift);
      }
  }
}

template <typename T>
void batchnorm_backward_cpu(const T* x, const T* gy, const T* gamma, const T* mean, const T* invstd, T* gx, T* ggamma,
                            T* gbeta, int64_t N, int64_t C, int64_t HW, double* /*workspace: none needed*/) {
  const double count = static_cast<double>(N * HW);
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < C; ++c) {
    const double mu = mean[c], is = invstd[c];
    double sum_gy = 0, sum_gy_xhat = 0;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < HW; ++i) {
        const int64_t k = (n * C + c) * HW + i;
        sum_gy += gy[k];
        sum_gy_xhat += gy[k] * (x[k] - mu) * is;
      }
    if (gbeta) gbeta[c] = static_cast<T>(sum_gy);
    if (ggamma) ggamma[c] = static_cast<T>(sum_gy_xhat);
    const double k1 = gamma[c] * is / count;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < HW; ++i) {
        const int64_t k = (n * C + c) * HW + i;
        const double xhat = (x[k] - mu) * is;
        gx[k] = static_cast<T>(k1 * (count * gy[k] - sum_gy - xhat * sum_gy_xhat));
      }
  }
}

#define MM_INSTANTIATE(T)                                                                                         \
  template void batchnorm_forward_train_cpu<T>(const T*, const T*, const T*, T*, T*, T*, T*, int64_t, int64_t, int64_t, \
                                               double, double*);                                                  \
  template void batchnorm_backward_cpu<T>(const T*, const T*, const T*, const T*, const T*, T*, T*, T*, int64_t, int64_t, \
                                          int64_t, double*);
MM_INSTANTIATE(float)
MM_INSTANTIATE(double)

}  // namespace mmengine::kernels
