#include "tests/cuda_probe.h"

#include "kernels/cuda/check.h"
#include "kernels/bf16.h"
#include "kernels/cuda/tensor_core.cuh"

namespace mmengine::testing::probe {

namespace {
__global__ void warp_ops_kernel(int* out) {
  const int v = static_cast<int>(threadIdx.x);
  const unsigned full = 0xffffffffu;
  int* o = out + threadIdx.x * kWarpOps;
  o[0] = __shfl_down_sync(full, v, 3);
  o[1] = __shfl_up_sync(full, v, 5);
  o[2] = __shfl_xor_sync(full, v, 6);
  o[3] = __shfl_sync(full, v, 7);
  o[4] = __shfl_down_sync(full, v, 1, 8);
  o[5] = static_cast<int>(__ballot_sync(full, v & 1));
  o[6] = __any_sync(full, v == 40);
  o[7] = __all_sync(full, v < 64);
}

__global__ void shared_reverse_kernel(int* out) {
  __shared__ int buf[128];
  buf[threadIdx.x] = threadIdx.x;
  __syncthreads();
  out[threadIdx.x] = buf[127 - threadIdx.x];
}

__global__ void count_kernel(unsigned long long* counter) { atomicAdd(counter, 1ull); }

__global__ void empty_kernel() {}

__global__ void divergent_barrier_kernel(int* out) {
  if (threadIdx.x < 16) __syncthreads();
  out[threadIdx.x] = 1;
}

__global__ void divergent_shuffle_kernel(int* out) {
  int v = threadIdx.x;
  if (threadIdx.x < 16) v = __shfl_down_sync(0xffffffffu, v, 1);
  out[threadIdx.x] = v;
}

// Loads the fragments as tensor_core.cuh documents them, multiplies, stores D.
__global__ void mma_tf32_kernel(const float* A, const float* B, const float* C, float* D) {
  const int lane = static_cast<int>(threadIdx.x), g = lane / 4, t = lane % 4;
  const uint32_t a[4] = {kernels::tf32_round(A[g * 8 + t]), kernels::tf32_round(A[(g + 8) * 8 + t]),
                         kernels::tf32_round(A[g * 8 + t + 4]), kernels::tf32_round(A[(g + 8) * 8 + t + 4])};
  const uint32_t b[2] = {kernels::tf32_round(B[t * 8 + g]), kernels::tf32_round(B[(t + 4) * 8 + g])};
  float c[4], d[4];
  for (int i = 0; i < 4; ++i) c[i] = C[(g + 8 * (i / 2)) * 8 + 2 * t + i % 2];
  kernels::mma_m16n8k8_tf32(d, a, b, c);
  for (int i = 0; i < 4; ++i) D[(g + 8 * (i / 2)) * 8 + 2 * t + i % 2] = d[i];
}

// The same for mma_m16n8k16_bf16: A [16][16], B [16][8] rounded to bf16 on the device.
__global__ void mma_bf16_kernel(const float* A, const float* B, const float* C, float* D) {
  const int lane = static_cast<int>(threadIdx.x), g = lane / 4, t = lane % 4;
  auto bits = [](float x) { return kernels::float_bits(kernels::bf16_round(x)); };
  auto a_pair = [&](int row, int k) { return kernels::pack_bf16x2(bits(A[row * 16 + k]), bits(A[row * 16 + k + 1])); };
  auto b_pair = [&](int k, int col) { return kernels::pack_bf16x2(bits(B[k * 8 + col]), bits(B[(k + 1) * 8 + col])); };
  const uint32_t a[4] = {a_pair(g, 2 * t), a_pair(g + 8, 2 * t), a_pair(g, 2 * t + 8), a_pair(g + 8, 2 * t + 8)};
  const uint32_t b[2] = {b_pair(2 * t, g), b_pair(2 * t + 8, g)};
  float c[4], d[4];
  for (int i = 0; i < 4; ++i) c[i] = C[(g + 8 * (i / 2)) * 8 + 2 * t + i % 2];
  kernels::mma_m16n8k16_bf16(d, a, b, c);
  for (int i = 0; i < 4; ++i) D[(g + 8 * (i / 2)) * 8 + 2 * t + i % 2] = d[i];
}

template <typename T>
struct DeviceBuffer {
  T* p = nullptr;
  size_t n;
  explicit DeviceBuffer(size_t count) : n(count) {
    MM_CUDA_CHECK(cudaMalloc(&p, n * sizeof(T)));
    MM_CUDA_CHECK(cudaMemset(p, 0, n * sizeof(T)));
  }
  ~DeviceBuffer() { cudaFree(p); }
  std::vector<T> get() const {
    std::vector<T> h(n);
    MM_CUDA_CHECK(cudaMemcpy(h.data(), p, n * sizeof(T), cudaMemcpyDeviceToHost));
    return h;
  }
};
}  // namespace

std::vector<int> warp_ops() {
  DeviceBuffer<int> out(64 * kWarpOps);
  warp_ops_kernel<<<1, 64>>>(out.p);
  MM_LAUNCH_CHECK();
  return out.get();
}

std::vector<int> shared_reverse() {
  DeviceBuffer<int> out(128);
  shared_reverse_kernel<<<1, 128>>>(out.p);
  MM_LAUNCH_CHECK();
  return out.get();
}

unsigned long long atomic_count(unsigned grid, unsigned block) {
  DeviceBuffer<unsigned long long> counter(1);
  count_kernel<<<grid, block>>>(counter.p);
  MM_LAUNCH_CHECK();
  return counter.get()[0];
}

std::pair<std::string, std::string> launch_error(unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
                                                 unsigned bz) {
  empty_kernel<<<dim3(gx, gy, gz), dim3(bx, by, bz)>>>();
  const std::string first = cudaGetErrorName(cudaGetLastError());
  MM_CUDA_CHECK(cudaDeviceSynchronize());
  return {first, cudaGetErrorName(cudaGetLastError())};
}

std::string sgemm_status(bool trans_a, bool trans_b, int m, int n, int k, int lda, int ldb, int ldc) {
  static cublasHandle_t handle = [] {
    cublasHandle_t h;
    MM_CUDA_CHECK(cublasCreate(&h));
    return h;
  }();
  DeviceBuffer<float> a(4096), b(4096), c(4096);
  const float alpha = 1, beta = 0;
  const cublasStatus_t st = cublasSgemm(handle, trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, m,
                                        n, k, &alpha, a.p, lda, b.p, ldb, &beta, c.p, ldc);
  MM_CUDA_CHECK(cudaDeviceSynchronize());
  return cublasGetStatusName(st);
}

std::vector<float> mma_tf32(const std::vector<float>& a, const std::vector<float>& b, const std::vector<float>& c) {
  DeviceBuffer<float> da(128), db(64), dc(128), dd(128);
  MM_CUDA_CHECK(cudaMemcpy(da.p, a.data(), 128 * sizeof(float), cudaMemcpyHostToDevice));
  MM_CUDA_CHECK(cudaMemcpy(db.p, b.data(), 64 * sizeof(float), cudaMemcpyHostToDevice));
  MM_CUDA_CHECK(cudaMemcpy(dc.p, c.data(), 128 * sizeof(float), cudaMemcpyHostToDevice));
  mma_tf32_kernel<<<1, 32>>>(da.p, db.p, dc.p, dd.p);
  MM_LAUNCH_CHECK();
  return dd.get();
}

std::vector<float> mma_bf16(const std::vector<float>& a, const std::vector<float>& b, const std::vector<float>& c) {
  DeviceBuffer<float> da(256), db(128), dc(128), dd(128);
  MM_CUDA_CHECK(cudaMemcpy(da.p, a.data(), 256 * sizeof(float), cudaMemcpyHostToDevice));
  MM_CUDA_CHECK(cudaMemcpy(db.p, b.data(), 128 * sizeof(float), cudaMemcpyHostToDevice));
  MM_CUDA_CHECK(cudaMemcpy(dc.p, c.data(), 128 * sizeof(float), cudaMemcpyHostToDevice));
  mma_bf16_kernel<<<1, 32>>>(da.p, db.p, dc.p, dd.p);
  MM_LAUNCH_CHECK();
  return dd.get();
}

std::string cublas_check_message() {
  try {
    MM_CUDA_CHECK(cublasSgemm(nullptr, CUBLAS_OP_N, CUBLAS_OP_N, 1, 1, 1, nullptr, nullptr, 1, nullptr, 1, nullptr,
                              nullptr, 1));
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

void divergent_barrier() {
  DeviceBuffer<int> out(32);
  divergent_barrier_kernel<<<1, 32>>>(out.p);
  MM_LAUNCH_CHECK();
  MM_CUDA_CHECK(cudaDeviceSynchronize());
}

void divergent_shuffle() {
  DeviceBuffer<int> out(32);
  divergent_shuffle_kernel<<<1, 32>>>(out.p);
  MM_LAUNCH_CHECK();
  MM_CUDA_CHECK(cudaDeviceSynchronize());
}

}  // namespace mmengine::testing::probe
