// The program tools/emulator-mutants.sh builds around (possibly mutated) copies of the kernels
// with shared-memory block reductions and warp shuffles: elementwise (binary forward and the
// per-channel gradient), reduce (the block-per-output sum) and batchnorm (forward and
// backward, both the (channel, split) grid kernels and the v0 block-per-channel ones). Each runs on the emulated device with exact-size cudaMalloc buffers (so
// AddressSanitizer sees a write one past the end) and must equal its CPU twin; exit 1 if not.
#include <cuda_runtime.h>

#include <cmath>
#include <cstdlib>
#include <cstdio>
#include <string>
#include <vector>

#include "kernels/batchnorm.h"
#include "kernels/elementwise.h"
#include "kernels/reduce.h"

using namespace mmengine::kernels;

namespace {
int failures = 0;

struct Dev {
  double* p = nullptr;
  size_t n;
  explicit Dev(const std::vector<double>& h) : n(h.size()) {
    if (cudaMalloc(&p, n * sizeof(double)) != cudaSuccess) std::abort();
    cudaMemcpy(p, h.data(), n * sizeof(double), cudaMemcpyHostToDevice);
  }
  explicit Dev(size_t count) : Dev(std::vector<double>(count, std::nan(""))) {}
  ~Dev() { cudaFree(p); }
  std::vector<double> get() const {
    std::vector<double> h(n);
    cudaMemcpy(h.data(), p, n * sizeof(double), cudaMemcpyDeviceToHost);
    return h;
  }
};

std::vector<double> values(size_t n, double seed) {
  std::vector<double> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = std::sin(seed + 0.37 * i) + 0.25 * std::cos(seed * i);
  return v;
}

void expect(const char* what, const std::vector<double>& got, const std::vector<double>& want) {
  for (size_t i = 0; i < want.size(); ++i)
    if (!(std::fabs(got[i] - want[i]) <= 1e-9 * (1 + std::fabs(want[i])))) {
      std::printf("%s: element %zu is %.17g, CPU twin %.17g\n", what, i, got[i], want[i]);
      ++failures;
      return;
    }
  std::printf("%s: matches\n", what);
}
}  // namespace

int main() {
  {  // binary forward, a partial last block
    const size_t n = 1000;
    auto a = values(n, 1), b = values(n, 2);
    std::vector<double> want(n);
    binary_forward_cpu(Binary::Mul, a.data(), b.data(), want.data(), n);
    Dev da(a), db(b), out(n);
    binary_forward_cuda(Binary::Mul, da.p, db.p, out.p, n, nullptr);
    expect("binary_forward", out.get(), want);
  }
  {  // per-channel gradient: one block per channel, block_sum
    const int64_t outer = 3, channels = 5, inner = 300, n = outer * channels * inner;
    auto x = values(n, 3), ch = values(channels, 4), g = values(n, 5);
    std::vector<double> gx(n), gch(channels);
    channel_backward_cpu(Binary::Mul, x.data(), ch.data(), g.data(), gx.data(), gch.data(), outer, channels, inner);
    Dev dx(x), dch(ch), dg(g), dgx(n), dgch(channels);
    channel_backward_cuda(Binary::Mul, dx.p, dch.p, dg.p, dgx.p, dgch.p, outer, channels, inner, nullptr);
    expect("channel_backward gx", dgx.get(), gx);
    expect("channel_backward gch", dgch.get(), gch);
  }
  {  // sum over a long axis: the block-per-output kernel
    const int64_t outer = 2, len = 700, inner = 3;
    auto x = values(outer * len * inner, 6);
    std::vector<double> want(outer * inner);
    sum_axis_cpu(x.data(), want.data(), outer, len, inner);
    Dev dx(x), out(outer * inner);
    sum_axis_cuda(dx.p, out.p, outer, len, inner, nullptr);
    expect("sum_axis", out.get(), want);
  }
  {  // batchnorm forward and backward: the (channel, split) grid kernels and the v0 block-per-channel ones
    const int64_t N = 4, C = 3, HW = 100, n = N * C * HW;
    auto x = values(n, 7), gamma = values(C, 8), beta = values(C, 9), gy = values(n, 10);
    std::vector<double> y(n), mean(C), var(C), invstd(C), gx(n), gg(C), gb(C);
    batchnorm_forward_train_cpu(x.data(), gamma.data(), beta.data(), y.data(), mean.data(), var.data(), invstd.data(), N, C,
                                HW, 1e-5, nullptr);
    batchnorm_backward_cpu(x.data(), gy.data(), gamma.data(), mean.data(), invstd.data(), gx.data(), gg.data(), gb.data(), N,
                           C, HW, nullptr);
    for (const bool v0 : {false, true}) {
      const std::string tag = v0 ? "batchnorm v0 " : "batchnorm ";
      Dev dx(x), dgamma(gamma), dbeta(beta), dy(n), dmean(C), dvar(C), dinv(C), dgy(gy), dgx(n), dgg(C), dgb(C);
      Dev work(static_cast<size_t>(batchnorm_workspace_cuda(N, C, HW)));
      if (v0)
        batchnorm_forward_train_v0_cuda(dx.p, dgamma.p, dbeta.p, dy.p, dmean.p, dvar.p, dinv.p, N, C, HW, 1e-5, nullptr);
      else
        batchnorm_forward_train_cuda(dx.p, dgamma.p, dbeta.p, dy.p, dmean.p, dvar.p, dinv.p, N, C, HW, 1e-5, work.p, nullptr);
      expect((tag + "forward y").c_str(), dy.get(), y);
      expect((tag + "forward mean").c_str(), dmean.get(), mean);
      expect((tag + "forward var").c_str(), dvar.get(), var);
      if (v0)
        batchnorm_backward_v0_cuda(dx.p, dgy.p, dgamma.p, dmean.p, dinv.p, dgx.p, dgg.p, dgb.p, N, C, HW, nullptr);
      else
        batchnorm_backward_cuda(dx.p, dgy.p, dgamma.p, dmean.p, dinv.p, dgx.p, dgg.p, dgb.p, N, C, HW, work.p, nullptr);
      expect((tag + "backward gx").c_str(), dgx.get(), gx);
      expect((tag + "backward ggamma").c_str(), dgg.get(), gg);
      expect((tag + "backward gbeta").c_str(), dgb.get(), gb);
    }
  }
  if (cudaGetLastError() != cudaSuccess) ++failures;
  std::printf("%d failures\n", failures);
  return failures == 0 ? 0 : 1;
}
