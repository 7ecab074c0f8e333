#include "kernels/random.h"

#include "kernels/random_math.h"

namespace mmengine::kernels {

template <typename T>
void fill_uniform_cpu(T* out, int64_t n, uint64_t seed, uint64_t offset, double low, double high) {
  for (int64_t i = 0; i < n; ++i) out[i] = static_cast<T>(uniform_at(seed, offset + i, low, high));
}

template <typename T>
void fill_normal_cpu(T* out, int64_t n, uint64_t seed, uint64_t offset, double mean, double stddev) {
  for (int64_t i = 0; i < n; ++i) out[i] = static_cast<T>(normal_at(seed, offset + i, mean, stddev));
}

template void fill_uniform_cpu<float>(float*, int64_t, uint64_t, uint64_t, double, double);
template void fill_uniform_cpu<double>(double*, int64_t, uint64_t, uint64_t, double, double);
template void fill_normal_cpu<float>(float*, int64_t, uint64_t, uint64_t, double, double);
template void fill_normal_cpu<double>(double*, int64_t, uint64_t, uint64_t, double, double);

}  // namespace mmengine::kernels
