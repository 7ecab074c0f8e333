#include "kernels/reduce.h"

#include <vector>

#include "kernels/common.h"

namespace mmengine::kernels {

template <typename T>
void sum_axis_cpu(const T* x, T* out, int64_t outer, int64_t len, int64_t inner) {
  using Acc = typename Accumulator<T>::type;
  std::vector<Acc> acc(inner);
  for (int64_t o = 0; o < outer; ++o) {
    std::fill(acc.begin(), acc.end(), Acc(0));
    for (int64_t l = 0; l < len; ++l) {
      const T* row = x + (o * len + l) * inner;
      for (int64_t i = 0; i < inner; ++i) acc[i] += row[i];
    }
    for (int64_t i = 0; i < inner; ++i) out[o * inner + i] = static_cast<T>(acc[i]);
  }
}

template <typename T>
void broadcast_axis_cpu(const T* g, T* gx, int64_t outer, int64_t len, int64_t inner, T scale) {
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t l = 0; l < len; ++l)
      for (int64_t i = 0; i < inner; ++i) gx[(o * len + l) * inner + i] = scale * g[o * inner + i];
}

template void sum_axis_cpu<float>(const float*, float*, int64_t, int64_t, int64_t);
template void sum_axis_cpu<double>(const double*, double*, int64_t, int64_t, int64_t);
template void broadcast_axis_cpu<float>(const float*, float*, int64_t, int64_t, int64_t, float);
template void broadcast_axis_cpu<double>(const double*, double*, int64_t, int64_t, int64_t, double);

}  // namespace mmengine::kernels
