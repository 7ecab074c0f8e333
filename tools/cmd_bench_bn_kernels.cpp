// BatchNorm's kernels against the copy bandwidth (tools/bench_bn_kernels.h).
#include <algorithm>
#include <cstdio>
#include <functional>
#include <string>

#include "kernels/error.h"
#include "engine/ops.h"
#include "engine/rng.h"
#include "tools/bench_bn_kernels.h"
#include "tools/bench_timing.h"
#ifdef MMENGINE_WITH_CUDA
#include "engine/cuda/context.h"
#include "kernels/batchnorm.h"
#include "kernels/cuda/check.h"
#endif

namespace mmengine {

void bn_kernel_rows(int64_t batch, int64_t group1_channels, int warmup, int repeats, nlohmann::ordered_json& out) {
#ifdef MMENGINE_WITH_CUDA
  const Device dev = Device::CUDA;
  // Written before every timed run: larger than any GPU's L2 (H100: 50 MB), so each timed run
  // starts from device memory (its first pass over the tensor; at these sizes, 8-25 MB at group 1
  // and a quarter of that at group 3, later passes may hit L2, as they can inside a step).
  Tensor flush = Tensor::empty({64 << 20}, DType::F32, dev);
  auto flush_l2 = [&] { MM_CUDA_CHECK(cudaMemsetAsync(flush.raw(), 0, flush.numel() * sizeof(float), cuda_stream())); };
  // Group 1's shape (the rows named "... B=N") and group 3's (4x the channels on 8x8 maps: rows
  // of 64 values, shorter than a block; named "... B=N 8x8").
  struct BnShape {
    int64_t channels, side;
    const char* suffix;
  };
  for (const BnShape& bs : {BnShape{group1_channels, 32, ""}, BnShape{4 * group1_channels, 8, " 8x8"}}) {
    const int64_t channels = bs.channels, kSide = bs.side, HW = kSide * kSide;
    const char* suffix = bs.suffix;
    std::printf("\nBatchNorm kernels alone (float32, [B, %lld, %lld, %lld], L2 flushed before each run, median of %d)\n",
                (long long)channels, (long long)kSide, (long long)kSide, repeats);
    // floor ms: the kernel's fewest bytes (each operand read once, each result written once) at the
    // copy's measured rate; of floor = floor / median, issue 13's ">= 70 % of the copy bandwidth".
    // eff. GB/s counts the passes the kernels make as written (L2 hits included).
    std::printf("%-48s %10s %10s %8s %10s %11s\n", "what", "median ms", "floor ms", "of floor", "passes MB", "eff. GB/s");
    for (int64_t N : {batch, 3 * batch}) {
      const Shape shape{N, channels, kSide, kSide};
      const double mb = static_cast<double>(N * channels * HW) * sizeof(float) / 1e6;  // one pass over the tensor
      Tensor x = rand_normal(shape, 11, 0, DType::F32, dev), gy = rand_normal(shape, 12, 0, DType::F32, dev);
      Tensor y = Tensor::empty(shape, DType::F32, dev), gx = Tensor::empty(shape, DType::F32, dev);
      Tensor gamma = rand_uniform({channels}, 13, 0, DType::F32, dev, 0.5, 1.5);
      Tensor beta = rand_uniform({channels}, 14, 0, DType::F32, dev, -0.5, 0.5);
      Tensor mean = Tensor::empty({channels}, DType::F32, dev), var = Tensor::empty({channels}, DType::F32, dev),
             invstd = Tensor::empty({channels}, DType::F32, dev);
      Tensor ggamma = Tensor::empty({channels}, DType::F32, dev), gbeta = Tensor::empty({channels}, DType::F32, dev);
      Tensor work = Tensor::empty({std::max<int64_t>(kernels::batchnorm_workspace_cuda(1, N, channels, HW), 1)}, DType::F64, dev);
      const kernels::BnTrainExtras<float> plain;  // one group, no LeakyReLU, no running statistics
      auto copy = [&] {
        MM_CUDA_CHECK(cudaMemcpyAsync(y.raw(), x.raw(), x.numel() * sizeof(float), cudaMemcpyDeviceToDevice, cuda_stream()));
      };
      auto forward = [&] {
        kernels::batchnorm_forward_train_cuda<float, float>(x.data<float>(), gamma.data<float>(), beta.data<float>(), y.data<float>(),
                                                     mean.data<float>(), var.data<float>(), invstd.data<float>(), N, channels,
                                                     HW, 1e-5, plain, work.data<double>(), cuda_stream());
      };
      auto backward = [&] {
        kernels::batchnorm_backward_cuda<float, float>(x.data<float>(), gy.data<float>(), nullptr, 0.0f, gamma.data<float>(),
                                                mean.data<float>(), invstd.data<float>(), gx.data<float>(),
                                                ggamma.data<float>(), gbeta.data<float>(), 1, N, channels, HW,
                                                work.data<double>(), cuda_stream());
      };
      forward();  // the statistics the backward reads
      // Passes over the tensor each moves as written (reads + writes), and the fewest any version
      // could (every operand read once, every result written once).
      struct Kernel {
        const char* name;
        std::function<void()> run;
        int passes, floor_passes;
      };
      const Kernel kernels_timed[] = {{"device copy", copy, 2, 2},
                                      {"forward (sums, centered squares, apply)", forward, 4, 2},
                                      {"backward (gradient sums, input gradient)", backward, 5, 3}};  // (sums: gy, x)
      double copy_gbs = 0;  // the copy's rate: 2 passes (read + write) over its time
      for (const Kernel& k : kernels_timed) {
        const BenchStats s = measure_after(dev, warmup, repeats, flush_l2, k.run);
        const double gbs = k.passes * mb / s.median;  // MB per ms = GB/s
        if (copy_gbs == 0) copy_gbs = gbs;
        const double floor_ms = k.floor_passes * mb / copy_gbs;
        const std::string name = std::string(k.name) + " B=" + std::to_string(N) + suffix;
        std::printf("%-48s %10.4f %10.4f %7.0f%% %10.1f %11.1f\n", name.c_str(), s.median, floor_ms,
                    100 * floor_ms / s.median, k.passes * mb, gbs);
        out["bn_kernels"][name] = {{"median_ms", s.median}, {"floor_ms", floor_ms}, {"of_floor", floor_ms / s.median},
                                   {"passes_mb", k.passes * mb}, {"effective_gb_per_s", gbs}};
      }
    }
  }
#else
  (void)batch, (void)group1_channels, (void)warmup, (void)repeats, (void)out;
  MM_FAIL("bench --variants bn-kernels: this build has no CUDA");
#endif
}

}  // namespace mmengine
