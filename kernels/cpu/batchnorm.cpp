// The reference BatchNorm (kernels/batchnorm.h): per channel, the groups one after another.
#include "kernels/batchnorm.h"

#include <cmath>

#include "kernels/batchnorm_math.h"
#include "kernels/bf16.h"

namespace mmengine::kernels {

int64_t batchnorm_workspace_cpu(int64_t, int64_t, int64_t, int64_t) { return 0; }

template <typename T, typename A>
void batchnorm_forward_train_cpu(const A* x, const T* gamma, const T* beta, A* y, T* mean, T* var, T* invstd, int64_t N,
                                 int64_t C, int64_t HW, double eps, const BnTrainExtras<T>& e,
                                 double* /*workspace: none needed*/) {
  const double count = static_cast<double>(N * HW);
  const int64_t G = e.groups;
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < C; ++c)
    for (int64_t g = 0; g < G; ++g) {  // in group order: the running statistics move group by group
      const int64_t n0 = g * N, gc = g * C + c;
      double s = 0;
      for (int64_t n = n0; n < n0 + N; ++n)
        for (int64_t i = 0; i < HW; ++i) s += static_cast<T>(x[(n * C + c) * HW + i]);
      const double mu = s / count;
      double ss = 0;
      for (int64_t n = n0; n < n0 + N; ++n)
        for (int64_t i = 0; i < HW; ++i) {
          const double d = static_cast<T>(x[(n * C + c) * HW + i]) - mu;
          ss += d * d;
        }
      const double v = ss / count, is = 1.0 / std::sqrt(v + eps);
      mean[gc] = static_cast<T>(mu);
      var[gc] = static_cast<T>(v);
      invstd[gc] = static_cast<T>(is);
      if (e.update_mask >> g & 1u) bn_running_update(e, c, mean[gc], var[gc], count);
      const double scale = gamma[c] * is, shift = beta[c] - mu * scale;
      for (int64_t n = n0; n < n0 + N; ++n)
        for (int64_t i = 0; i < HW; ++i) {
          const int64_t k = (n * C + c) * HW + i;
          y[k] = bn_apply_value(static_cast<T>(x[k]), scale, shift, e.leaky, e.slope);
        }
    }
}

template <typename T, typename A>
void batchnorm_backward_cpu(const A* x, const A* gy, const A* y_act, T slope, const T* gamma, const T* mean,
                            const T* invstd, A* gx, T* ggamma, T* gbeta, int64_t G, int64_t N, int64_t C, int64_t HW,
                            double* /*workspace: none needed*/) {
  const double count = static_cast<double>(N * HW);
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < C; ++c) {
    double total_g = 0, total_g_xhat = 0;
    for (int64_t g = 0; g < G; ++g) {
      const int64_t n0 = g * N, gc = g * C + c;
      const double mu = mean[gc], is = invstd[gc];
      double sum_g = 0, sum_g_xhat = 0;
      for (int64_t n = n0; n < n0 + N; ++n)
        for (int64_t i = 0; i < HW; ++i) {
          const int64_t k = (n * C + c) * HW + i;
          const T gk = bn_output_grad(gy[k], y_act, k, slope);
          sum_g += gk;
          sum_g_xhat += gk * (static_cast<T>(x[k]) - mu) * is;
        }
      total_g += sum_g;
      total_g_xhat += sum_g_xhat;
      const double k1 = gamma[c] * is / count;
      for (int64_t n = n0; n < n0 + N; ++n)
        for (int64_t i = 0; i < HW; ++i) {
          const int64_t k = (n * C + c) * HW + i;
          gx[k] = bn_input_grad(static_cast<T>(x[k]), bn_output_grad(gy[k], y_act, k, slope), mu, is, k1, count, sum_g,
                                sum_g_xhat);
        }
    }
    if (gbeta) gbeta[c] = static_cast<T>(total_g);
    if (ggamma) ggamma[c] = static_cast<T>(total_g_xhat);
  }
}

template <typename T, typename A>
void batchnorm_forward_eval_cpu(const A* x, const T* gamma, const T* beta, const T* mean, const T* var, A* y, int64_t N,
                                int64_t C, int64_t HW, double eps, bool leaky, T slope) {
#pragma omp parallel for collapse(2) schedule(static) if (N * C * HW > (1 << 16))
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c) {
      T gs, sh;
      bn_eval_coefficients(gamma[c], beta[c], mean[c], var[c], eps, gs, sh);
      const int64_t row = (n * C + c) * HW;
      for (int64_t i = 0; i < HW; ++i) y[row + i] = bn_eval_value(static_cast<T>(x[row + i]), gs, sh, leaky, slope);
    }
}

#define MM_INSTANTIATE(T, A)                                                                                         \
  template void batchnorm_forward_eval_cpu<T, A>(const A*, const T*, const T*, const T*, const T*, A*, int64_t, int64_t, \
                                                 int64_t, double, bool, T);                                            \
  template void batchnorm_forward_train_cpu<T, A>(const A*, const T*, const T*, A*, T*, T*, T*, int64_t, int64_t,        \
                                                  int64_t, double, const BnTrainExtras<T>&, double*);                  \
  template void batchnorm_backward_cpu<T, A>(const A*, const A*, const A*, T, const T*, const T*, const T*, A*, T*, T*,  \
                                             int64_t, int64_t, int64_t, int64_t, double*);
MM_INSTANTIATE(float, float)
MM_INSTANTIATE(double, double)
MM_INSTANTIATE(float, bf16)

}  // namespace mmengine::kernels
