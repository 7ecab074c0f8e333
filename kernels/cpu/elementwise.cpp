#include "kernels/bf16.h"
#include "kernels/elementwise_math.h"

namespace mmengine::kernels {

template <typename T>
void unary_forward_cpu(Unary op, T p, const T* x, T* y, int64_t n) {
#pragma omp parallel for schedule(static) if (n > 32768)
  for (int64_t i = 0; i < n; ++i) y[i] = unary_value(op, p, x[i]);
}

template <typename T>
void unary_backward_cpu(Unary op, T p, const T* x, const T* y, const T* gy, T* gx, int64_t n) {
#pragma omp parallel for schedule(static) if (n > 32768)
  for (int64_t i = 0; i < n; ++i) gx[i] = gy[i] * unary_derivative(op, p, x[i], y[i]);
}

template <typename T>
void binary_forward_cpu(Binary op, const T* a, const T* b, T* out, int64_t n) {
#pragma omp parallel for schedule(static) if (n > 32768)
  for (int64_t i = 0; i < n; ++i) out[i] = binary_value<compute_t<T>>(op, a[i], b[i]);
}

template <typename T>
void binary_backward_cpu(Binary op, const T* a, const T* b, const T* g, T* ga, T* gb, int64_t n) {
#pragma omp parallel for schedule(static) if (n > 32768)
  for (int64_t i = 0; i < n; ++i) {
    if (ga) ga[i] = compute_t<T>(g[i]) * binary_da<compute_t<T>>(op, a[i], b[i]);
    if (gb) gb[i] = compute_t<T>(g[i]) * binary_db<compute_t<T>>(op, a[i], b[i]);
  }
}

template <typename T>
void channel_forward_cpu(Binary op, const T* x, const T* ch, T* out, int64_t outer, int64_t channels, int64_t inner) {
#pragma omp parallel for collapse(2) schedule(static) if (outer * channels * inner > 32768)
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t c = 0; c < channels; ++c) {
      int64_t base = (o * channels + c) * inner;
      for (int64_t i = 0; i < inner; ++i) out[base + i] = binary_value(op, x[base + i], ch[c]);
    }
}

template <typename T>
void channel_backward_cpu(Binary op, const T* x, const T* ch, const T* g, T* gx, T* gch, int64_t outer,
                          int64_t channels, int64_t inner) {
#pragma omp parallel for schedule(static) if (outer * channels * inner > 32768)
  for (int64_t c = 0; c < channels; ++c) {
    typename Accumulator<T>::type acc = 0;
    for (int64_t o = 0; o < outer; ++o) {
      int64_t base = (o * channels + c) * inner;
      for (int64_t i = 0; i < inner; ++i) {
        if (gx) gx[base + i] = g[base + i] * binary_da(op, x[base + i], ch[c]);
        acc += g[base + i] * binary_db(op, x[base + i], ch[c]);
      }
    }
    if (gch) gch[c] = static_cast<T>(acc);
  }
}

#define MM_INSTANTIATE(T)                                                                               \
  template void unary_forward_cpu<T>(Unary, T, const T*, T*, int64_t);                                  \
  template void unary_backward_cpu<T>(Unary, T, const T*, const T*, const T*, T*, int64_t);             \
  template void binary_forward_cpu<T>(Binary, const T*, const T*, T*, int64_t);                         \
  template void binary_backward_cpu<T>(Binary, const T*, const T*, const T*, T*, T*, int64_t);          \
  template void channel_forward_cpu<T>(Binary, const T*, const T*, T*, int64_t, int64_t, int64_t);      \
  template void channel_backward_cpu<T>(Binary, const T*, const T*, const T*, T*, T*, int64_t, int64_t, int64_t);
MM_INSTANTIATE(float)
MM_INSTANTIATE(double)

template <typename S, typename D>
void convert_cpu(const S* x, D* y, int64_t n) {
#pragma omp parallel for schedule(static) if (n > 32768)
  for (int64_t i = 0; i < n; ++i) y[i] = static_cast<D>(x[i]);
}
template void convert_cpu<float, bf16>(const float*, bf16*, int64_t);
template void convert_cpu<bf16, float>(const bf16*, float*, int64_t);
template void binary_forward_cpu<bf16>(Binary, const bf16*, const bf16*, bf16*, int64_t);
template void binary_backward_cpu<bf16>(Binary, const bf16*, const bf16*, const bf16*, bf16*, bf16*, int64_t);

}  // namespace mmengine::kernels
