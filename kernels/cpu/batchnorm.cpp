// The reference BatchNorm (kernels/batchnorm.h): per channel, the groups one after another.
#include "kernels/batchnorm.h"

#include <cmath>

#include "kernels/batchnorm_math.h"
#include "kernels/bf16.h"

namespace mmengine::kernels {

int64_t batchnorm_workspace_cpu(int64_t, int64_t, int64_t, int64_t) { return 0; }

namespace {
// The values of channel c in the group of rows [n0, n0 + N), visited in row order.
template <typename F>
void for_group(int64_t n0, int64_t N, int64_t c, int64_t C, int64_t HW, F f) {
  for (int64_t n = n0; n < n0 + N; ++n)
    for (int64_t i = 0; i < HW; ++i) f((n * C + c) * HW + i);
}

// The sum of a group's values of channel c and the sum of squares centered on their mean.
template <typename T, typename A>
void group_moments(const A* x, int64_t n0, int64_t N, int64_t c, int64_t C, int64_t HW, double& s, double& ss) {
  s = 0;
  for_group(n0, N, c, C, HW, [&](int64_t k) { s += static_cast<T>(x[k]); });
  const double mu = s / static_cast<double>(N * HW);
  ss = 0;
  for_group(n0, N, c, C, HW, [&](int64_t k) {
    const double d = static_cast<T>(x[k]) - mu;
    ss += d * d;
  });
}

// Stores the statistics of (group g, channel c), moves the running statistics if g is flagged
// (count: the values behind the statistics), and normalizes the group's values.
template <typename T, typename A>
void group_apply(const A* x, const T* gamma, const T* beta, A* y, T* mean, T* var, T* invstd, int64_t g, int64_t N,
                 int64_t c, int64_t C, int64_t HW, double eps, const BnTrainExtras<T>& e, double mu, double v,
                 double count) {
  const int64_t gc = g * C + c;
  const double is = 1.0 / std::sqrt(v + eps);
  mean[gc] = static_cast<T>(mu);
  var[gc] = static_cast<T>(v);
  invstd[gc] = static_cast<T>(is);
  if (e.update_mask >> g & 1u) bn_running_update(e, c, mean[gc], var[gc], count);
  const double scale = gamma[c] * is, shift = beta[c] - mu * scale;
  for_group(g * N, N, c, C, HW,
            [&](int64_t k) { y[k] = bn_apply_value(static_cast<T>(x[k]), scale, shift, e.leaky, e.slope); });
}

// A group's (sum g, sum g * xhat) of channel c, g the gradient at the BatchNorm output.
template <typename T, typename A>
void group_grad_sums(const A* x, const A* gy, const A* y_act, T slope, double mu, double is, int64_t n0, int64_t N,
                     int64_t c, int64_t C, int64_t HW, double& sum_g, double& sum_g_xhat) {
  sum_g = 0;
  sum_g_xhat = 0;
  for_group(n0, N, c, C, HW, [&](int64_t k) {
    const T gk = bn_output_grad(gy[k], y_act, k, slope);
    sum_g += gk;
    sum_g_xhat += gk * (static_cast<T>(x[k]) - mu) * is;
  });
}

// The input gradient of a group's values of channel c from the sums over `count` values.
template <typename T, typename A>
void group_grad_input(const A* x, const A* gy, const A* y_act, T slope, T gamma, double mu, double is, A* gx,
                      int64_t n0, int64_t N, int64_t c, int64_t C, int64_t HW, double count, double sum_g,
                      double sum_g_xhat) {
  const double k1 = gamma * is / count;
  for_group(n0, N, c, C, HW, [&](int64_t k) {
    gx[k] = bn_input_grad(static_cast<T>(x[k]), bn_output_grad(gy[k], y_act, k, slope), mu, is, k1, count, sum_g,
                          sum_g_xhat);
  });
}
}  // namespace

template <typename T, typename A>
void batchnorm_forward_train_cpu(const A* x, const T* gamma, const T* beta, A* y, T* mean, T* var, T* invstd, int64_t N,
                                 int64_t C, int64_t HW, double eps, const BnTrainExtras<T>& e,
                                 double* /*workspace: none needed*/) {
  const double count = static_cast<double>(N * HW);
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < C; ++c)
    for (int64_t g = 0; g < e.groups; ++g) {  // in group order: the running statistics move group by group
      double s, ss;
      group_moments<T>(x, g * N, N, c, C, HW, s, ss);
      group_apply(x, gamma, beta, y, mean, var, invstd, g, N, c, C, HW, eps, e, s / count, ss / count, count);
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
      const int64_t gc = g * C + c;
      double sum_g, sum_g_xhat;
      group_grad_sums(x, gy, y_act, slope, mean[gc], invstd[gc], g * N, N, c, C, HW, sum_g, sum_g_xhat);
      total_g += sum_g;
      total_g_xhat += sum_g_xhat;
      group_grad_input(x, gy, y_act, slope, gamma[c], mean[gc], invstd[gc], gx, g * N, N, c, C, HW, count, sum_g,
                       sum_g_xhat);
    }
    if (gbeta) gbeta[c] = static_cast<T>(total_g);
    if (ggamma) ggamma[c] = static_cast<T>(total_g_xhat);
  }
}

template <typename T, typename A>
void batchnorm_moments_cpu(const A* x, double* moments, int64_t G, int64_t N, int64_t C, int64_t HW,
                           double* /*workspace: none needed*/) {
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < C; ++c)
    for (int64_t g = 0; g < G; ++g) {
      double s, ss;  // (locals: the sums stay in registers, whatever x aliases)
      group_moments<T>(x, g * N, N, c, C, HW, s, ss);
      moments[g * C + c] = s;
      moments[(G + g) * C + c] = ss;
    }
}

template <typename T, typename A>
void batchnorm_forward_gathered_cpu(const A* x, const T* gamma, const T* beta, const double* gathered, int64_t R, A* y,
                                    T* mean, T* var, T* invstd, int64_t N, int64_t C, int64_t HW, double eps,
                                    const BnTrainExtras<T>& e, double* /*stat_workspace: none needed*/) {
  const double count = static_cast<double>(N * HW);
  const int64_t GC = e.groups * C;
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < C; ++c)
    for (int64_t g = 0; g < e.groups; ++g) {
      double mu, v;
      bn_combine_moments(gathered, R, GC, g * C + c, count, mu, v);
      group_apply(x, gamma, beta, y, mean, var, invstd, g, N, c, C, HW, eps, e, mu, v, static_cast<double>(R) * count);
    }
}

template <typename T, typename A>
void batchnorm_grad_moments_cpu(const A* x, const A* gy, const A* y_act, T slope, const T* mean, const T* invstd,
                                double* moments, int64_t G, int64_t N, int64_t C, int64_t HW,
                                double* /*workspace: none needed*/) {
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < C; ++c)
    for (int64_t g = 0; g < G; ++g) {
      const int64_t gc = g * C + c;
      double sum_g, sum_g_xhat;
      group_grad_sums(x, gy, y_act, slope, mean[gc], invstd[gc], g * N, N, c, C, HW, sum_g, sum_g_xhat);
      moments[gc] = sum_g;
      moments[G * C + gc] = sum_g_xhat;
    }
}

template <typename T, typename A>
void batchnorm_backward_reduced_cpu(const A* x, const A* gy, const A* y_act, T slope, const T* gamma, const T* mean,
                                    const T* invstd, const double* local, const double* reduced, int64_t R, A* gx,
                                    T* ggamma, T* gbeta, int64_t G, int64_t N, int64_t C, int64_t HW) {
  const double count = static_cast<double>(R) * static_cast<double>(N * HW);
  const int64_t GC = G * C;
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < C; ++c) {
    double total_g = 0, total_g_xhat = 0;
    for (int64_t g = 0; g < G; ++g) {
      const int64_t gc = g * C + c;
      total_g += local[gc];
      total_g_xhat += local[GC + gc];
      group_grad_input(x, gy, y_act, slope, gamma[c], mean[gc], invstd[gc], gx, g * N, N, c, C, HW, count, reduced[gc],
                       reduced[GC + gc]);
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
                                             int64_t, int64_t, int64_t, int64_t, double*);                  \
  template void batchnorm_moments_cpu<T, A>(const A*, double*, int64_t, int64_t, int64_t, int64_t, double*);           \
  template void batchnorm_forward_gathered_cpu<T, A>(const A*, const T*, const T*, const double*, int64_t, A*, T*, T*,  \
                                                     T*, int64_t, int64_t, int64_t, double, const BnTrainExtras<T>&,   \
                                                     double*);                                                          \
  template void batchnorm_grad_moments_cpu<T, A>(const A*, const A*, const A*, T, const T*, const T*, double*, int64_t, \
                                                 int64_t, int64_t, int64_t, double*);                                   \
  template void batchnorm_backward_reduced_cpu<T, A>(const A*, const A*, const A*, T, const T*, const T*, const T*,     \
                                                     const double*, const double*, int64_t, A*, T*, T*, int64_t,        \
                                                     int64_t, int64_t, int64_t);
MM_INSTANTIATE(float, float)
MM_INSTANTIATE(double, double)
MM_INSTANTIATE(float, bf16)

}  // namespace mmengine::kernels
