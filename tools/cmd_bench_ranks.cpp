// mmengine bench --ranks (tools/bench_ranks.h).
#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "engine/dist.h"
#include "engine/dist_ops.h"
#include "engine/file_io.h"
#include "engine/rng.h"
#include "engine/runtime.h"
#include "layers/layers.h"
#include "layers/wideresnet.h"
#include "mixmatch/ema.h"
#include "mixmatch/step.h"
#include "tools/bench_ranks.h"
#include "tools/bench_timing.h"

namespace mmengine {

int run_bench_ranks(const BenchOpts& o) {
  const Device dev = resolve_device(o.device);
  DistOptions d;
  d.device = dev;
  d.backend = parse_dist_backend(o.dist);
  const std::shared_ptr<Communicator> comm = make_communicator(d);
  if (dev == Device::CUDA) use_cuda_device_of_rank(comm->local_rank());
  const int n = comm->size();
  MM_CHECK(o.batch % n == 0, "--batch ", o.batch, ": must be divisible by the number of ranks (", n, ")");
  const bool say = comm->rank() == 0;
  const int repeats = std::max(o.repeats, 1);

  BenchModels models(o.depth, o.widen, dev);
  WideResNet &student = models.student, &teacher = models.teacher;
  Adam adam(student.named_parameters(), 0.002);
  StepBatch batch;
  batch.x = rand_normal({o.batch, 3, 32, 32}, 2, 0, DType::F32, dev);
  for (int k = 0; k < 2; ++k) batch.u.push_back(rand_normal({o.batch, 3, 32, 32}, 3 + k, 0, DType::F32, dev));
  for (int64_t i = 0; i < o.batch; ++i) batch.labels.push_back(static_cast<int32_t>(i % 10));
  TrainConfig cfg;
  cfg.batch_size = o.batch;
  cfg.epochs = 1;
  cfg.steps_per_epoch = 1 << 20;
  int64_t step = 0;

  nlohmann::ordered_json out;
  out["device"] = device_name(dev);
  out["ranks"] = n;
  out["backend"] = dist_backend_name(comm->backend());
  out["model"] = "WRN-" + std::to_string(o.depth) + "-" + std::to_string(o.widen);
  out["batch"] = o.batch;
  out["git_commit"] = MMENGINE_GIT_COMMIT;
  if (say)
    std::printf("mmengine bench --ranks: %d rank(s) (%s) on %s, %s, global B = %lld (%lld rows of each chunk per rank)%s\n",
                n, dist_backend_name(comm->backend()), device_name(dev), out["model"].get<std::string>().c_str(),
                (long long)o.batch, (long long)(o.batch / n),
                dev == Device::CUDA && cuda_emulated() ? " -- EMULATED CUDA: not GPU numbers" : "");
  double step_ms[2] = {0, 0};        // global, local BN
  int64_t collectives[2] = {0, 0};  // per step
  for (bool sync : {true, false}) {
    // One step through a counting communicator: the collectives a step sends (the gradient
    // all-reduce included), then the timed steps on the plain one.
    CountingCommunicator counted(comm);
    mixmatch_step(student, &teacher, adam, batch, cfg, step++, 10, StepRanks{&counted, sync, true});
    const StepRanks ranks{comm.get(), sync, true};
    const BenchStats s = measure(dev, o.warmup, repeats, [&] {
      mixmatch_step(student, &teacher, adam, batch, cfg, step++, 10, ranks);
    });
    step_ms[sync ? 0 : 1] = s.median;
    collectives[sync ? 0 : 1] = counted.all_reduces + counted.all_gathers + counted.broadcasts;
    const std::string name = std::string("step, BN statistics ") + (sync ? "global" : "local");
    if (say)
      std::printf("%-40s %10.3f ms (min %.3f, max %.3f); %lld all-gathers, %lld all-reduces, %.2f MB sent\n", name.c_str(),
                  s.median, s.min, s.max, (long long)counted.all_gathers, (long long)counted.all_reduces,
                  counted.bytes / 1e6);
    out["timings"][name] = {{"median_ms", s.median}, {"min_ms", s.min}, {"max_ms", s.max}};
    out["collectives"][name] = {{"all_gathers", counted.all_gathers}, {"all_reduces", counted.all_reduces},
                                {"broadcasts", counted.broadcasts}, {"bytes", counted.bytes}};
  }
  const double global_ms = step_ms[0];
  // Synchronized BN's overhead in the step (its exchanges, and its kernels against local BN's,
  // whose step averages the running statistics instead), per collective it adds.
  const int64_t extra = collectives[0] - collectives[1];
  const double overhead_ms = step_ms[0] - step_ms[1];
  if (say)
    std::printf("%-40s %10.3f ms per step (%+.1f us per added collective, of %lld; compute included)\n",
                "synchronized BN overhead (global - local)", overhead_ms,
                extra > 0 ? overhead_ms * 1e3 / static_cast<double>(extra) : 0.0, (long long)extra);
  out["sync_bn_overhead"] = {{"ms_per_step", overhead_ms}, {"added_collectives", extra}};
  // One exchange of synchronized BN alone (the scaling estimate's input): an all-gather of the
  // moments of the model's widest BatchNorm call (3 chunks x C channels x 2 float64) and an
  // all-reduce of its gradient sums, each timed in a loop of 25 after the ranks align.
  if (comm->backend() != DistBackend::None) {  // (none: every collective is the identity)
    int64_t C = 0;
    for (BatchNorm2d* bn : student.batchnorms()) C = std::max<int64_t>(C, bn->weight.size(0));
    const int64_t n = 2 * 3 * C;
    Tensor moments = Tensor::zeros({1, n}, DType::F64, dev), sums = Tensor::zeros({n}, DType::F64, dev);
    constexpr int kLoop = 25;
    const BenchStats g = measure(dev, o.warmup, repeats, [&] {
      comm->all_gather_u64(0);
      for (int i = 0; i < kLoop; ++i) comm->all_gather_rows(moments);
    });
    const BenchStats r = measure(dev, o.warmup, repeats, [&] {
      comm->all_gather_u64(0);
      for (int i = 0; i < kLoop; ++i) comm->all_reduce_sum(sums);
    });
    const double gather_us = g.median * 1e3 / kLoop, reduce_us = r.median * 1e3 / kLoop;
    if (say)
      std::printf("%-40s %10.1f us per all-gather, %.1f us per all-reduce of %lld float64 (one aligning collective "
                  "per %d included)\n",
                  "synchronized BN exchange", gather_us, reduce_us, (long long)n, kLoop);
    out["sync_bn_exchange"] = {{"values", n}, {"all_gather_us", gather_us}, {"all_reduce_us", reduce_us}};
  }
  // The gradients of the last step, all-reduced alone (the ranks wait for each other first).
  std::vector<Tensor*> params;
  double bytes = 0;
  for (auto& [name, p] : student.named_parameters())
    if (p->grad().defined()) params.push_back(p), bytes += static_cast<double>(p->grad().nbytes());
  const BenchStats ar = measure(dev, o.warmup, repeats, [&] {
    comm->all_gather_u64(0);
    all_reduce_gradients(params, *comm);
  });
  const double bus_gbs = n > 1 ? 2.0 * (n - 1) / n * bytes / (ar.median * 1e-3) / 1e9 : 0;
  if (say) {
    std::printf("%-40s %10.3f ms for %.2f MB (bus bandwidth %.3g GB/s; includes a tiny alignment collective)\n",
                "gradient all-reduce", ar.median, bytes / 1e6, bus_gbs);
    std::printf("%-40s %9.1f %%\n", "all-reduce / step (global BN)", 100 * ar.median / global_ms);
  }
  out["allreduce"] = {{"bytes", bytes}, {"median_ms", ar.median}, {"bus_gb_per_s", bus_gbs},
                      {"share_of_step", ar.median / global_ms}};
  if (say && !o.json.empty()) write_file_atomically(o.json, out.dump(2) + "\n");
  return 0;
}

}  // namespace mmengine
