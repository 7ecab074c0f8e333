// The program tools/emulator-mutants.sh builds around (possibly mutated) copies of the kernels
// with shared-memory block reductions and warp shuffles: elementwise (binary forward and the
// per-channel gradient), reduce (the block-per-output sum) and batchnorm (forward and
// backward, both the (channel, group x split) grid kernels, plain and with three groups, fused
// LeakyReLU and the running update, and the v0 block-per-channel ones), and the multi-tensor
// Adam and EMA kernels (their tile-to-chunk lookup). Each runs on the emulated device with exact-size cudaMalloc buffers (so
// AddressSanitizer sees a write one past the end) and must equal its CPU twin; exit 1 if not.
#include <cuda_runtime.h>

#include <cmath>
#include <cstdlib>
#include <cstdio>
#include <string>
#include <vector>

#include "kernels/batchnorm.h"
#include "kernels/elementwise.h"
#include "kernels/optim.h"
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
  // batchnorm forward and backward: the (channel, group x split) grid kernels, with one group
  // and nothing fused, and with three groups, fused LeakyReLU and the running statistics moved
  // by groups 0 and 2; and the v0 block-per-channel ones (one group).
  for (const int variant : {0, 1, 2}) {
    const bool v0 = variant == 2, grouped = variant == 1;
    const int64_t G = grouped ? 3 : 1, N = grouped ? 3 : 4, C = 3, HW = 100, n = G * N * C * HW;
    auto x = values(n, 7), gamma = values(C, 8), beta = values(C, 9), gy = values(n, 10);
    auto rmean = values(C, 11), rvar = values(C, 12);
    for (auto& v : rvar) v = 1.5 + v;
    std::vector<double> y(n), mean(G * C), var(G * C), invstd(G * C), gx(n), gg(C), gb(C);
    BnTrainExtras<double> e;
    if (grouped) {
      e.groups = G;
      e.leaky = true;
      e.slope = 0.1;
      e.momentum = 0.3;
      e.update_mask = 0b101;
      e.running_mean = rmean.data();
      e.running_var = rvar.data();
    }
    batchnorm_forward_train_cpu(x.data(), gamma.data(), beta.data(), y.data(), mean.data(), var.data(), invstd.data(), N, C,
                                HW, 1e-5, e, nullptr);
    const double* y_act = grouped ? y.data() : nullptr;
    batchnorm_backward_cpu(x.data(), gy.data(), y_act, e.slope, gamma.data(), mean.data(), invstd.data(), gx.data(),
                           gg.data(), gb.data(), G, N, C, HW, nullptr);
    const std::string tag = v0 ? "batchnorm v0 " : grouped ? "batchnorm grouped+leaky+running " : "batchnorm ";
    Dev dx(x), dgamma(gamma), dbeta(beta), dy(n), dmean(G * C), dvar(G * C), dinv(G * C), dgy(gy), dgx(n), dgg(C), dgb(C);
    Dev drm(values(C, 11)), drv(rvar.size());
    {
      std::vector<double> rv0 = values(C, 12);
      for (auto& v : rv0) v = 1.5 + v;
      cudaMemcpy(drv.p, rv0.data(), C * sizeof(double), cudaMemcpyHostToDevice);
    }
    Dev work(static_cast<size_t>(batchnorm_workspace_cuda(G, N, C, HW)));
    BnTrainExtras<double> de = e;
    de.running_mean = grouped ? drm.p : nullptr;
    de.running_var = grouped ? drv.p : nullptr;
    if (v0)
      batchnorm_forward_train_v0_cuda(dx.p, dgamma.p, dbeta.p, dy.p, dmean.p, dvar.p, dinv.p, N, C, HW, 1e-5, nullptr);
    else
      batchnorm_forward_train_cuda(dx.p, dgamma.p, dbeta.p, dy.p, dmean.p, dvar.p, dinv.p, N, C, HW, 1e-5, de, work.p, nullptr);
    expect((tag + "forward y").c_str(), dy.get(), y);
    expect((tag + "forward mean").c_str(), dmean.get(), mean);
    expect((tag + "forward var").c_str(), dvar.get(), var);
    if (grouped) {
      expect((tag + "running mean").c_str(), drm.get(), rmean);
      expect((tag + "running var").c_str(), drv.get(), rvar);
    }
    if (v0)
      batchnorm_backward_v0_cuda(dx.p, dgy.p, dgamma.p, dmean.p, dinv.p, dgx.p, dgg.p, dgb.p, N, C, HW, nullptr);
    else
      batchnorm_backward_cuda(dx.p, dgy.p, grouped ? dy.p : nullptr, e.slope, dgamma.p, dmean.p, dinv.p, dgx.p, dgg.p,
                              dgb.p, G, N, C, HW, work.p, nullptr);
    expect((tag + "backward gx").c_str(), dgx.get(), gx);
    expect((tag + "backward ggamma").c_str(), dgg.get(), gg);
    expect((tag + "backward gbeta").c_str(), dgb.get(), gb);
  }
  {  // multi-tensor Adam and EMA: chunks around the tile size, one EMA chunk a copy
    const std::vector<int64_t> sizes{5, 4097, 1, 4096};
    std::vector<std::vector<double>> p, g, m, v, t;
    std::vector<AdamChunk<double>> host_adam, dev_adam;
    std::vector<EmaChunk<double>> host_ema, dev_ema;
    for (size_t i = 0; i < sizes.size(); ++i) {
      const size_t k = static_cast<size_t>(sizes[i]);
      p.push_back(values(k, 20 + i)), g.push_back(values(k, 30 + i)), m.push_back(values(k, 40 + i));
      v.push_back(values(k, 50 + i)), t.push_back(values(k, 60 + i));
      for (auto& x : v.back()) x = x * x;
    }
    std::vector<Dev> devs;
    devs.reserve(5 * sizes.size());  // no reallocation: a Dev frees its buffer when destroyed
    for (size_t i = 0; i < sizes.size(); ++i) {
      for (auto* h : {&p[i], &g[i], &m[i], &v[i], &t[i]}) devs.emplace_back(*h);
      Dev* d = &devs[5 * i];
      host_adam.push_back({p[i].data(), g[i].data(), m[i].data(), v[i].data(), sizes[i], 0});
      dev_adam.push_back({d[0].p, d[1].p, d[2].p, d[3].p, sizes[i], 0});
      host_ema.push_back({t[i].data(), p[i].data(), sizes[i], 0, 0.9, 0.99, i == 1 ? 1 : 0});
      dev_ema.push_back({d[4].p, d[0].p, sizes[i], 0, 0.9, 0.99, i == 1 ? 1 : 0});
    }
    const int64_t count = static_cast<int64_t>(sizes.size());
    const int64_t tiles = multi_tensor_tiles(host_adam.data(), count);
    multi_tensor_tiles(dev_adam.data(), count);
    multi_tensor_tiles(host_ema.data(), count);
    multi_tensor_tiles(dev_ema.data(), count);
    const AdamSpec spec{0.01, 0.9, 0.999, 1e-8, 3};
    adam_update_multi_cpu(spec, host_adam.data(), count, tiles);
    ema_update_multi_cpu(host_ema.data(), count, tiles);
    AdamChunk<double>* adam_table = nullptr;
    EmaChunk<double>* ema_table = nullptr;
    cudaMalloc(reinterpret_cast<void**>(&adam_table), sizeof(AdamChunk<double>) * count);
    cudaMalloc(reinterpret_cast<void**>(&ema_table), sizeof(EmaChunk<double>) * count);
    cudaMemcpy(adam_table, dev_adam.data(), sizeof(AdamChunk<double>) * count, cudaMemcpyHostToDevice);
    cudaMemcpy(ema_table, dev_ema.data(), sizeof(EmaChunk<double>) * count, cudaMemcpyHostToDevice);
    adam_update_multi_cuda(spec, adam_table, count, tiles, nullptr);
    ema_update_multi_cuda(ema_table, count, tiles, nullptr);
    for (size_t i = 0; i < sizes.size(); ++i) {
      const std::string k = std::to_string(i);
      expect(("adam multi p" + k).c_str(), devs[5 * i].get(), p[i]);
      expect(("adam multi m" + k).c_str(), devs[5 * i + 2].get(), m[i]);
      expect(("adam multi v" + k).c_str(), devs[5 * i + 3].get(), v[i]);
      expect(("ema multi teacher" + k).c_str(), devs[5 * i + 4].get(), t[i]);
    }
    cudaFree(adam_table);
    cudaFree(ema_table);
  }
  if (cudaGetLastError() != cudaSuccess) ++failures;
  std::printf("%d failures\n", failures);
  return failures == 0 ? 0 : 1;
}
