// The CUDA execution context (engine/cuda/context.h): stream-aware caching allocator, uploads
// through pinned staging, and (on the emulated device, which counts what each stream is given)
// every launch, GEMM, copy and fill of the engine on the context stream.
#include <cmath>
#include <cstring>
#include <vector>

#include "engine/autograd.h"
#include "engine/memory.h"
#include "engine/ops.h"
#include "engine/precision.h"
#include "engine/rng.h"
#include "engine/runtime.h"
#include "layers/wideresnet.h"
#include "data/synthetic.h"
#include "mixmatch/ema.h"
#include "mixmatch/evaluate.h"
#include "mixmatch/loss.h"
#include "mixmatch/mixup.h"
#include "mixmatch/step.h"
#include "mixmatch/step_runner.h"
#include "tests/test_util.h"
#ifdef MMENGINE_WITH_CUDA
#include "engine/cuda/context.h"
#include "kernels/cuda/check.h"
#endif

using namespace mmengine;
using namespace mmengine::testing;

namespace {
std::shared_ptr<void> step_buffer(int64_t step, Device d) {
  auto b = allocate(d, sizeof(int64_t));
  copy_bytes(b.get(), d, &step, Device::CPU, sizeof(int64_t));
  return b;
}
std::vector<int64_t> read_indices(const std::shared_ptr<void>& p, int64_t n, Device d) {
  std::vector<int64_t> v(n);
  copy_bytes(v.data(), Device::CPU, p.get(), d, n * sizeof(int64_t));
  return v;
}
}  // namespace

// The device draws are the host draws (draw_mixup, linear_rampup): bit for bit on the CPU twin
// (and the emulated device, which runs the .cu on the host's libm); on a GPU the Beta draw's
// double log/exp/pow are CUDA's (within 2 ulp, not glibc's) and nvcc contracts a*b+c into FMAs,
// so lambda may differ in its last bits there (seen on an H100, 2026-11-27: 0.627161 vs
// 0.627161, unequal doubles): 1e-13 relative in double, one float ulp as float. The permutation
// (integer draws) and the ramp (correctly rounded division) stay exact on every device.
void expect_draw(double got, double want, Device d, DType as, const std::string& what) {
  if (as == DType::F32) want = static_cast<float>(want);
  if (d == Device::CPU || cuda_emulated())
    EXPECT_EQ(got, want) << what;
  else if (as == DType::F64)
    EXPECT_NEAR(got, want, 1e-13 * std::abs(want)) << what;
  else
    EXPECT_LE(std::abs(got - want), std::nextafter(std::abs(static_cast<float>(want)), INFINITY) - std::abs(want)) << what;
}

TEST(StepDraws, CudaAndCpuTwinsMatchTheHostDraws) {
  for (Device d : {Device::CPU, Device::CUDA}) {
    if (d == Device::CUDA && !cuda_available()) continue;  // the CPU half still runs
    for (bool per_sample : {false, true})
      for (int64_t step : {0, 5, 700, 40000}) {
        StepDrawSettings s;
        s.alpha = 0.75;
        s.lambda_u = 75;
        s.seed = 11;
        s.per_sample = per_sample;
        s.rampup_steps = 1000;
        const int64_t rows = 48;
        StepDraws got = draw_step(s, rows, step_buffer(step, d), DType::F32, d);
        MixUpDraw want = draw_mixup(rows, s.alpha, s.seed, static_cast<uint64_t>(step), per_sample);
        const std::vector<double> lam = got.lambda.to_vector(), rest = got.rest.to_vector(), logged = got.logged.to_vector();
        for (int64_t r = 0; r < rows; ++r) {
          const double l = per_sample ? want.per_row[r] : want.lambda;
          expect_draw(lam[r], l, d, DType::F32, std::string(device_name(d)) + " lambda, row " + std::to_string(r));
          expect_draw(rest[r], 1.0 - l, d, DType::F32, std::string(device_name(d)) + " 1 - lambda, row " + std::to_string(r));
        }
        EXPECT_EQ(read_indices(got.perm, rows, d), want.perm) << device_name(d);
        expect_draw(logged[0], want.lambda, d, DType::F64, std::string(device_name(d)) + " logged lambda");
        EXPECT_EQ(logged[1], s.lambda_u * linear_rampup(step, s.rampup_steps)) << device_name(d);
        EXPECT_EQ(got.weight.item(), static_cast<double>(static_cast<float>(logged[1])));
      }
  }
}

// Draws pinned from the host implementation before they moved into kernels/philox_sequence.h:
// resumed runs and stored results keep their numbers.
TEST(StepDraws, HostDrawsAreTheNumbersOfEarlierVersions) {
  MixUpDraw a = draw_mixup(48, 0.75, 7, 3, false), b = draw_mixup(48, 0.75, 7, 1000, true);
  EXPECT_EQ(a.lambda, 0.80022434602978321);
  EXPECT_EQ(b.lambda, 0.7583517789304195);
  PhiloxStream s(4, 2);
  double sum = 0;
  for (int i = 0; i < 100; ++i) sum += s.beta(0.3, 0.75);
  EXPECT_EQ(sum, 25.834864359176777);
}

#ifdef MMENGINE_WITH_CUDA
TEST(CudaContext, AllocatorReusesABlockOnlyOnTheStreamThatFreedIt) {
  MM_SKIP_WITHOUT(Device::CUDA);
  const size_t bytes = 3 * 4096 + 17;  // a size class no other test of this process is likely to free
  void* first = nullptr;
  {
    auto a = allocate(Device::CUDA, bytes);
    first = a.get();
  }  // back to the context stream's pool
  cudaStream_t other = nullptr;
  MM_CUDA_CHECK(cudaStreamCreateWithFlags(&other, cudaStreamNonBlocking));
  {
    CudaStreamScope scope(other);
    EXPECT_EQ(cuda_stream(), other);
    auto b = allocate(Device::CUDA, bytes);
    EXPECT_NE(b.get(), first) << "a block freed on the context stream was handed to another stream";
  }
  EXPECT_NE(cuda_stream(), other);  // the scope restored the context stream
  auto c = allocate(Device::CUDA, bytes);
  EXPECT_EQ(c.get(), first) << "the context stream's own freed block should be reused";
  MM_CUDA_CHECK(cudaStreamSynchronize(other));
}

TEST(CudaContext, UploadsLargerThanTheStagingRingRoundTripExactly) {
  MM_SKIP_WITHOUT(Device::CUDA);
  // 40 MiB: ten 4 MiB staging chunks, more than the ring's eight buffers, so it waits for one.
  const int64_t n = int64_t(10) << 20;
  Tensor host = rand_uniform({n}, 99, 0, DType::F32);
  const int64_t syncs = cuda_host_syncs();
  Tensor dev = host.to(Device::CUDA);
  EXPECT_GE(cuda_host_syncs(), syncs);
  Tensor back = dev.to(Device::CPU);
  EXPECT_EQ(std::memcmp(back.raw(), host.raw(), host.nbytes()), 0);
  EXPECT_GT(cuda_host_syncs(), syncs) << "a device-to-host copy waits for the stream and is counted";
}

TEST(CudaContext, EveryLaunchGemmCopyAndFillGoesToTheContextStream) {
  MM_SKIP_WITHOUT(Device::CUDA);
#ifndef MMENGINE_CUDA_EMULATED
  GTEST_SKIP() << "needs the emulated device, which counts the work of each stream";
#else
  WideResNetConfig cfg;
  cfg.depth = 10;
  cfg.widen_factor = 1;
  WideResNet net(cfg);
  net.to(Device::CUDA);
  Tensor x = rand_normal({4, 3, 32, 32}, 3, 0, DType::F32, Device::CUDA);
  const mmemu::StreamWork legacy0 = mmemu::stream_work(nullptr), ctx0 = mmemu::stream_work(cuda_stream());
  net.train();
  Tensor y = net(x);
  Tensor loss = mean(mul(y, y));
  loss.backward();
  (void)loss.item();
  const mmemu::StreamWork legacy = mmemu::stream_work(nullptr), ctx = mmemu::stream_work(cuda_stream());
  EXPECT_EQ(legacy.kernels, legacy0.kernels);
  EXPECT_EQ(legacy.gemms, legacy0.gemms);
  EXPECT_EQ(legacy.copies, legacy0.copies);
  EXPECT_EQ(legacy.fills, legacy0.fills);
  EXPECT_GT(ctx.kernels, ctx0.kernels);
  EXPECT_GT(ctx.gemms, ctx0.gemms);
  EXPECT_GT(ctx.copies, ctx0.copies);
#endif
}
#endif

#ifdef MMENGINE_WITH_CUDA
namespace {
struct TinyStep {
  WideResNet student, teacher;
  Adam adam;
  StepBatch batch;
  TrainConfig cfg;
  static WideResNetConfig model() {
    WideResNetConfig c;
    c.depth = 10;
    c.widen_factor = 1;
    return c;
  }
  explicit TinyStep(Device d) : student(model()), teacher(model()), adam(student.named_parameters(), 0.002) {
    student.to(d);
    teacher.to(d);
    copy_state(student, teacher);
    adam = Adam(student.named_parameters(), 0.002);
    const int64_t B = 4;
    batch.x = rand_normal({B, 3, 16, 16}, 2, 0, DType::F32, d);
    for (int k = 0; k < 2; ++k) batch.u.push_back(rand_normal({B, 3, 16, 16}, 3 + k, 0, DType::F32, d));
    for (int64_t i = 0; i < B; ++i) batch.labels.push_back(static_cast<int32_t>(i % 10));
    cfg.epochs = 1;
    cfg.steps_per_epoch = 100;
  }
  StepResult run(int64_t step) { return mixmatch_step(student, &teacher, adam, batch, cfg, step, 10); }
  std::vector<double> state() {  // every value the steps change, in order
    std::vector<double> out;
    for (Module* m : {static_cast<Module*>(&student), static_cast<Module*>(&teacher)}) {
      for (auto& [name, t] : m->named_state()) {
        const auto v = t->to_vector();
        out.insert(out.end(), v.begin(), v.end());
      }
      for (auto& c : m->named_counters()) out.push_back(static_cast<double>(*c.value));
    }
    for (auto& [name, t] : adam.state()) {
      const auto v = t.to_vector();
      out.insert(out.end(), v.begin(), v.end());
    }
    out.push_back(static_cast<double>(adam.steps()));
    return out;
  }
};
}  // namespace

TEST(CudaContext, MixMatchStepMakesNoHostSynchronization) {
  MM_SKIP_WITHOUT(Device::CUDA);
  TinyStep t(Device::CUDA);
  t.run(0);  // first step: lazily created state, warmed pools
  const int64_t before = cuda_host_syncs();
#ifdef MMENGINE_CUDA_EMULATED
  const mmemu::StreamWork legacy0 = mmemu::stream_work(nullptr), ctx0 = mmemu::stream_work(cuda_stream());
#endif
  StepResult r = t.run(1);
  EXPECT_EQ(cuda_host_syncs(), before) << "a device-to-host copy or a synchronization inside the step";
#ifdef MMENGINE_CUDA_EMULATED
  const mmemu::StreamWork legacy = mmemu::stream_work(nullptr), ctx = mmemu::stream_work(cuda_stream());
  EXPECT_EQ(legacy.kernels + legacy.gemms + legacy.copies + legacy.fills,
            legacy0.kernels + legacy0.gemms + legacy0.copies + legacy0.fills);
  std::printf("one MixMatch step (WRN-10-1, B = 4, interleave): %lld kernels, %lld cuBLAS calls, %lld copies, %lld fills\n",
              ctx.kernels - ctx0.kernels, ctx.gemms - ctx0.gemms, ctx.copies - ctx0.copies, ctx.fills - ctx0.fills);
#endif
  const StepValues v = r.read();  // reading the values is where the host waits
  EXPECT_GT(cuda_host_syncs(), before);
  EXPECT_TRUE(std::isfinite(v.loss));
  EXPECT_GT(v.lambda, 0.5);
}

// The step on the (emulated) CUDA device gives the CPU's numbers: the draws made on the device
// are the host's, so the losses agree to float accumulation error.
TEST(CudaContext, MixMatchStepOnCudaMatchesCpu) {
  MM_SKIP_WITHOUT(Device::CUDA);
  TinyStep c(Device::CPU), g(Device::CUDA);
  for (int64_t step : {0, 1}) {
    const StepValues a = c.run(step).read(), b = g.run(step).read();
    EXPECT_EQ(a.lambda, b.lambda);
    EXPECT_EQ(a.weight, b.weight);
    EXPECT_NEAR(a.lx, b.lx, 1e-4 * (1 + std::fabs(a.lx)));
    EXPECT_NEAR(a.lu, b.lu, 1e-4 * (1 + std::fabs(a.lu)));
  }
}
#endif

#ifdef MMENGINE_WITH_CUDA
// N steps with the step captured as a CUDA graph (two warm-ups, the capture, replays) give the
// numbers of N eager steps, bit for bit, and a replayed step neither synchronizes nor uploads
// anything but its inputs.
TEST(CudaGraph, StepsWithGraphOnEqualStepsWithGraphOff) {
  MM_SKIP_WITHOUT(Device::CUDA);
  const int kSteps = 4;  // two warm-ups, the capture (replayed once), one replay
  TinyStep off(Device::CUDA), on(Device::CUDA);
  on.cfg.graph = GraphMode::On;
  StepRunner eager(off.student, &off.teacher, off.adam, off.cfg, 10), graphed(on.student, &on.teacher, on.adam, on.cfg, 10);
  for (int64_t step = 0; step < kSteps; ++step) {
#ifdef MMENGINE_CUDA_EMULATED
    const mmemu::StreamWork e0 = mmemu::stream_work(cuda_stream());
#endif
    StepResult eager_result = eager.run(off.batch, step);
#ifdef MMENGINE_CUDA_EMULATED
    const long long eager_kernels = mmemu::stream_work(cuda_stream()).kernels - e0.kernels;
#endif
    const StepValues a = eager_result.read();
    const int64_t syncs = cuda_host_syncs();
#ifdef MMENGINE_CUDA_EMULATED
    const mmemu::StreamWork w0 = mmemu::stream_work(cuda_stream());
#endif
    StepResult r = graphed.run(on.batch, step);
    if (step > 2) {
      EXPECT_EQ(cuda_host_syncs(), syncs) << "replayed step " << step;
#ifdef MMENGINE_CUDA_EMULATED
      const mmemu::StreamWork w = mmemu::stream_work(cuda_stream());
      EXPECT_EQ(w.graphs - w0.graphs, 1);
      // The same kernels as the eager step: nothing fell back to per-tensor launches in the capture.
      EXPECT_EQ(w.kernels - w0.kernels, eager_kernels) << "replayed step " << step;
      if (step == kSteps - 1)
        std::printf("one replayed step (WRN-10-1): 1 graph launch running %lld kernels, %lld cuBLAS calls\n",
                    w.kernels - w0.kernels, w.gemms - w0.gemms);
#endif
    }
    const StepValues b = r.read();
    EXPECT_EQ(a.loss, b.loss) << "step " << step;
    EXPECT_EQ(a.lx, b.lx) << "step " << step;
    EXPECT_EQ(a.lu, b.lu) << "step " << step;
    EXPECT_EQ(a.lambda, b.lambda) << "step " << step;
    EXPECT_EQ(a.weight, b.weight) << "step " << step;
  }
  EXPECT_EQ(off.adam.steps(), kSteps);
  EXPECT_TRUE(off.state() == on.state()) << "parameters, buffers, counters or Adam state differ";
}

// --graph on for evaluation (mixmatch/evaluate.h): the graphed evaluation equals the eager one
// bit for bit, with a last partial batch, over rounds whose weights and running statistics
// change in place between them (the replays read the current values); a replayed round is one
// graph launch per full batch. A replay under other switches (here bf16 activations) or another
// batch size is refused; a new EvalGraphs captures bf16 and equals eager bf16 too.
TEST(CudaGraph, EvaluationWithGraphsEqualsWithout) {
  MM_SKIP_WITHOUT(Device::CUDA);
  const TrainTest data = make_synthetic(3, 1, 10, 3, 8, 5);
  WideResNetConfig mc;
  mc.depth = 10;
  mc.widen_factor = 1;
  WideResNet model(mc);
  model.to(Device::CUDA);
  std::vector<int64_t> idx;
  for (int64_t i = 0; i < 23; ++i) idx.push_back(i);  // batches of 5: four full, one of 3
  EvalGraphs graphs, kept_graphs;
  EvalImages kept;  // the trainer's way: the images kept on the device, copied from there into the graph
  std::vector<double> losses;
  for (int round = 0; round < 3; ++round) {
    const EvalResult want = evaluate(model, data.train, idx, Device::CUDA, 5);
#ifdef MMENGINE_CUDA_EMULATED
    const mmemu::StreamWork w0 = mmemu::stream_work(cuda_stream());
#endif
    const EvalResult got = evaluate(model, data.train, idx, Device::CUDA, 5, &graphs);
#ifdef MMENGINE_CUDA_EMULATED
    const mmemu::StreamWork w = mmemu::stream_work(cuda_stream());
    EXPECT_EQ(w.graphs - w0.graphs, round == 0 ? 3 : 4) << "round " << round << ": graph launches";
#endif
    EXPECT_EQ(got.count, 23);
    EXPECT_EQ(got.loss, want.loss) << "round " << round;
    EXPECT_EQ(got.accuracy, want.accuracy) << "round " << round;
    const EvalResult from_kept = evaluate(model, data.train, idx, Device::CUDA, 5, &kept_graphs, &kept);
    EXPECT_EQ(from_kept.loss, want.loss) << "kept images, round " << round;
    EXPECT_EQ(from_kept.accuracy, want.accuracy) << "kept images, round " << round;
    losses.push_back(got.loss);
    NoGrad ng;  // in place, as training, the EMA and BatchNorm's running statistics change them
    for (auto& [name, p] : model.named_parameters()) p->copy_from(mul(*p, 1.25));
    for (auto& [name, b] : model.named_buffers()) b->copy_from(add(*b, 0.25));
  }
  EXPECT_NE(losses[0], losses[2]) << "the weights changed between rounds, so must the loss";
  expect_error_containing([&] { evaluate(model, data.train, idx, Device::CUDA, 4, &graphs); },
                          {"--graph on", "evaluation batch changed"});
  const PrecisionScope bf16(Precision::Bf16, Device::CUDA, DType::F32);
  expect_error_containing([&] { evaluate(model, data.train, idx, Device::CUDA, 5, &graphs); },
                          {"--graph on", "captured with activations float32", "now: activations bfloat16"});
  EvalGraphs bf16_graphs;
  for (int round = 0; round < 2; ++round) {
    const EvalResult got = evaluate(model, data.train, idx, Device::CUDA, 5, &bf16_graphs),
                     want = evaluate(model, data.train, idx, Device::CUDA, 5);
    EXPECT_EQ(got.loss, want.loss) << "bf16, round " << round;
  }
}

TEST(CudaGraph, GraphOnNeedsTheCudaDevice) {
  TinyStep cpu(Device::CPU);
  cpu.cfg.graph = GraphMode::On;
  try {
    StepRunner r(cpu.student, &cpu.teacher, cpu.adam, cpu.cfg, 10);
    ADD_FAILURE() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--graph on"), std::string::npos) << e.what();
  }
}
#endif
