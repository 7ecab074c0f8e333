// mmengine bench: medians of the whole MixMatch step per BN mode, WRN forward and
// forward+backward at two batch sizes, the data pipeline's images/s, a per-kernel-family
// breakdown of the step, what one step asks of the device (host synchronizations; on the
// emulated device, kernels, cuBLAS calls, copies and fills), (current kernels) each fusion of
// engine/kernel_version.h against its unfused form, on CUDA the step replayed as a CUDA graph
// beside the eager one, and (on a GPU, or alone with --conv-layers) every distinct convolution
// shape of the WRN at B and 3B, forward, input and weight gradient, on each convolution backend
// side by side. Ratios are against baselines measured in the same run (the interleaved step; the
// forward pass; the unfused form; cuDNN at the same precision). JSON with --json. `--variants`
// picks the parts (kBenchParts), so a GPU call can measure only what it needs.
#include <algorithm>
#include <cstdio>
#include <map>
#include <optional>
#include <nlohmann/json.hpp>


#include "data/stream.h"
#include "data/synthetic.h"
#include "engine/autograd.h"
#include "engine/conv_backend.h"
#include "engine/dist.h"
#include "engine/kernel_version.h"
#include "engine/memory.h"
#include "engine/ops.h"
#include "engine/ops_nn.h"
#include "engine/precision.h"
#include "engine/profiler.h"
#include "engine/rng.h"
#include "engine/safetensors.h"
#include "kernels/gemm.h"
#include "layers/layers.h"
#include "layers/wideresnet.h"
#include "mixmatch/ema.h"
#include "mixmatch/step.h"
#include "mixmatch/step_runner.h"
#include "tools/bench_bn_kernels.h"
#include "mixmatch/ablate.h"
#include "tools/bench_concurrent.h"
#include "tools/bench_ranks.h"
#include "tools/bench_timing.h"
#include "tools/commands.h"
#ifdef MMENGINE_WITH_CUDA
#include "engine/cuda/context.h"
#endif

namespace mmengine {

namespace {
using Stats = BenchStats;

// The parts of `mmengine bench`, selectable with --variants (default all).
enum class BenchPart { Model, Eval, Modes, Sync, Graph, Versions, Precisions, Fusions, Breakdown, Pipeline, ConvLayers, BnKernels };
inline constexpr EnumEntry<BenchPart> kBenchParts[] = {
    {BenchPart::Model, "model", "WRN forward and forward+backward at B and 3B"},
    {BenchPart::Eval, "eval", "the evaluation forward at 3B, composed and fused eval BatchNorm"},
    {BenchPart::Modes, "modes", "the MixMatch step per BN mode (the interleaved step, every step row's baseline, always runs)"},
    {BenchPart::Sync, "sync", "the step reading its losses every step; host syncs and queued work per step"},
    {BenchPart::Graph, "graph", "CUDA: the step replayed as a CUDA graph"},
    {BenchPart::Versions, "versions", "CUDA: the step on the v1 and v0 kernels"},
    {BenchPart::Precisions, "precisions",
     "CUDA: the step with TF32 GEMMs, with 3xTF32 implicit-GEMM convolutions, --precision tf32 (with each igemm tiling) "
     "and --precision bf16"},
    {BenchPart::Fusions, "fusions", "each fusion off in turn; BatchNorm, Adam and EMA alone, fused and not"},
    {BenchPart::Breakdown, "breakdown", "the step's per-kernel-family breakdown (synchronized scopes)"},
    {BenchPart::Pipeline, "pipeline", "the data pipeline's images/s (CPU)"},
    {BenchPart::ConvLayers, "conv-layers", "CUDA: every WRN convolution shape on every backend (in `all` on a GPU only)"},
    {BenchPart::BnKernels, "bn-kernels",
     "CUDA: BatchNorm's kernels alone against a device copy of the same bytes, L2 flushed (in `all` on a GPU only)"}};

// --variants: "all" or a comma-separated list of kBenchParts names, as a mask of enum_bit;
// --quick drops the pipeline, --conv-layers means conv-layers alone.
uint32_t selected_parts(const BenchOpts& o, Device dev, bool emulated, Precision precision) {
  if (o.conv_layers) return enum_bit(BenchPart::ConvLayers);
  uint32_t want = enum_parse_mask(kBenchParts, "--variants", o.variants);
  MM_CHECK(want != 0, "--variants: empty list (expected ", enum_choices(kBenchParts), ", or all)");
  if (o.variants == "all" && (dev != Device::CUDA || emulated))  // (the emulator would take hours: asked for alone only)
    want &= ~(enum_bit(BenchPart::ConvLayers) | enum_bit(BenchPart::BnKernels));
  if (o.quick) want &= ~enum_bit(BenchPart::Pipeline);
  // --precision other than fp32: the parts that time FP32 variants against the baseline
  // (precisions, the v1/v0 kernels) do not apply, and under bf16 neither do the ones that switch
  // the bn-leaky-relu fusion off (eval's composed row, fusions): bf16 activations need it. Named
  // in --variants: an error; in `all`: left out, said once.
  uint32_t not_here = 0;
  if (precision != Precision::Fp32) not_here |= enum_bit(BenchPart::Precisions) | enum_bit(BenchPart::Versions);
  if (precision == Precision::Bf16) not_here |= enum_bit(BenchPart::Eval) | enum_bit(BenchPart::Fusions);
  for (const auto& e : kBenchParts)
    if (want & not_here & enum_bit(e.value)) {
      MM_CHECK(o.variants == "all", "--variants ", e.name, ": not with --precision ", o.precision,
               " (it times FP32 variants, or switches off the BatchNorm + LeakyReLU fusion bf16 needs)");
      std::printf("(--precision %s: part %s left out)\n", o.precision.c_str(), e.name);
    }
  return want & ~not_here;
}

// One convolution shape of the WRN: channels in and out, kernel, stride, input size (square).
struct ConvLayer {
  int64_t cin, cout, k, stride, size;
};
// What a bench run has so far: stdout flushed, --json (if given) rewritten atomically (the main
// bench's "complete" stays false until its last write).
void save_partial(const BenchOpts& o, const nlohmann::ordered_json& out) {
  std::fflush(stdout);
  if (!o.json.empty()) write_file_atomically(o.json, out.dump(2) + "\n");
}

// The distinct convolution shapes of a WRN of this width on 32x32 images: conv1, then per group
// the first block's 3x3 conv, its 1x1 shortcut, and the 3x3 conv every later block repeats.
// (With widen 1 the first block keeps 16 channels: it has no shortcut and its conv is the
// repeated one.)
std::vector<ConvLayer> wrn_conv_layers(int64_t widen) {
  const int64_t w1 = 16 * widen, w2 = 32 * widen, w3 = 64 * widen;
  std::vector<ConvLayer> layers{{3, 16, 3, 1, 32}};
  if (w1 != 16) layers.push_back({16, w1, 3, 1, 32}), layers.push_back({16, w1, 1, 1, 32});
  for (ConvLayer l : {ConvLayer{w1, w1, 3, 1, 32}, {w1, w2, 3, 2, 32}, {w1, w2, 1, 2, 32}, {w2, w2, 3, 1, 16},
                      {w2, w3, 3, 2, 16}, {w2, w3, 1, 2, 16}, {w3, w3, 3, 1, 8}})
    layers.push_back(l);
  return layers;
}

// A convolution backend and its precision: im2col + cuBLAS in FP32 or with TF32 GEMMs, the
// implicit-GEMM kernels in TF32, in 3xTF32 and on bf16 activations (each gather, and halo where
// it applies: stride 1, the weight gradient 3x3 only), cuDNN in FP32 or with TF32 allowed.
struct ConvVariant {
  const char* name;
  ConvBackend backend;
  bool tf32;
  IgemmTiling tiling = IgemmTiling::Gather;
  bool bf16 = false;  // x and gy (and so y, gx) bfloat16, the weights float32
};

// Every layer shape x batch (B, 3B) x pass x variant: median ms; the ratio columns are igemm
// (gather) and igemm-halo over the best cuDNN at the same precision (TF32), or over own-tf32
// without cuDNN (the halo column is the gather kernel again where halo does not apply), the
// faster 3xTF32 kernel over cuDNN FP32 (or own FP32), halo-rows over igemm-halo (the weight
// gradient's row layout; the other passes run the same kernels), and bf16-halo over igemm-halo
// (what bf16 activations gain on the same tiling: bf16 products in the forward and input
// gradient, half the bytes on the TF32 products of the weight gradient).
#ifdef MMENGINE_WITH_CUDA
// The cuBLAS math mode (MMENGINE_MATMUL) for a scope's lifetime.
using GemmTf32Scope = SettingScope<bool, kernels::gemm_tf32_cuda, kernels::gemm_set_tf32_cuda>;
#endif

void conv_layer_rows(const BenchOpts& o, Device dev, int repeats, nlohmann::ordered_json& out) {
#ifdef MMENGINE_WITH_CUDA
  std::vector<ConvVariant> variants{{"own", ConvBackend::Own, false}, {"own-tf32", ConvBackend::Own, true},
                                    {"igemm", ConvBackend::Igemm, true},
                                    {"igemm-halo", ConvBackend::Igemm, true, IgemmTiling::Halo},
                                    {"halo-rows", ConvBackend::Igemm, true, IgemmTiling::HaloRows},
                                    {"3xtf32", ConvBackend::Igemm3xTf32, false},
                                    {"3xtf32-halo", ConvBackend::Igemm3xTf32, false, IgemmTiling::Halo},
                                    {"igemm-bf16", ConvBackend::Igemm, false, IgemmTiling::Gather, true},
                                    {"bf16-halo", ConvBackend::Igemm, false, IgemmTiling::Halo, true},
                                    {"bf16-rows", ConvBackend::Igemm, false, IgemmTiling::HaloRows, true}};
  if (cudnn_built()) variants.push_back({"cudnn", ConvBackend::Cudnn, false}), variants.push_back({"cudnn-tf32", ConvBackend::Cudnn, true});
  const char* baseline = cudnn_built() ? "cudnn-tf32" : "own-tf32";
  const char* baseline32 = cudnn_built() ? "cudnn" : "own";
  std::printf("\nconvolution layers (ms, median of %d; last columns: igemm and igemm-halo / %s, the faster 3xtf32 / %s,"
              " halo-rows and bf16-halo / igemm-halo)\n%-22s %4s %-6s",
              repeats, baseline, baseline32, "layer", "B", "pass");
  for (auto& v : variants) std::printf(" %10s", v.name);
  std::printf(" %8s %8s %8s %8s %8s\n", "igemm/", "halo/", "3x/", "rows/", "bf16h/");
  const std::pair<ConvPass, const char*> passes[] = {
      {ConvPass::Forward, "fwd"}, {ConvPass::GradInput, "dgrad"}, {ConvPass::GradWeight, "wgrad"}};
  for (const ConvLayer& l : wrn_conv_layers(o.widen))
    for (int64_t B : {o.batch, 3 * o.batch}) {
      const int64_t pad = l.k / 2, out_size = (l.size + 2 * pad - l.k) / l.stride + 1;
      Tensor x = rand_normal({B, l.cin, l.size, l.size}, 11, 0, DType::F32, dev);
      Tensor w = rand_normal({l.cout, l.cin, l.k, l.k}, 12, 0, DType::F32, dev);
      Tensor gy = rand_normal({B, l.cout, out_size, out_size}, 13, 0, DType::F32, dev);
      const Tensor xb = cast(x, DType::BF16), gyb = cast(gy, DType::BF16);
      char name[64];
      std::snprintf(name, sizeof name, "%lld->%lld k%lld s%lld %lldx%lld", (long long)l.cin, (long long)l.cout,
                    (long long)l.k, (long long)l.stride, (long long)l.size, (long long)l.size);
      for (auto [pass, pass_name] : passes) {
        std::printf("%-22s %4lld %-6s", name, (long long)B, pass_name);
        std::map<std::string, double> ms;
        for (auto& v : variants) {
          ConvBackendScope scope(v.backend);
          IgemmTilingScope tiling(v.tiling);
          GemmTf32Scope math(v.tf32);
          const Tensor &xv = v.bf16 ? xb : x, &gyv = v.bf16 ? gyb : gy;
          ms[v.name] = measure(dev, o.warmup, repeats, [&] { conv2d_pass(pass, xv, w, gyv, l.stride, pad); }).median;
          std::printf(" %10.4f", ms[v.name]);
          out["conv_layers"][name][std::to_string(B)][pass_name][v.name] = ms[v.name];
        }
        std::printf(" %8.2f %8.2f %8.2f %8.2f %8.2f\n", ms["igemm"] / ms[baseline], ms["igemm-halo"] / ms[baseline],
                    std::min(ms["3xtf32"], ms["3xtf32-halo"]) / ms[baseline32], ms["halo-rows"] / ms["igemm-halo"],
                    ms["bf16-halo"] / ms["igemm-halo"]);
        save_partial(o, out);  // (the table is the bench's last long part: keep what a cut-short run measured)
      }
    }
#else
  (void)o, (void)dev, (void)repeats, (void)out;
#endif
}

// The fusions of engine/kernel_version.h against their absence, in the same run: the step
// with each switched off alone and with all off, then each fused piece alone (ratios against
// the unfused form, so below 1 is a gain).
template <typename Row>
void fusion_rows(const BenchOpts& o, Device dev, WideResNet& student, WideResNet& teacher, Adam& adam,
                 const StepBatch& batch, int64_t& step, double step_baseline, const Row& row) {
  const int repeats = std::max(o.repeats, 1);
  TrainConfig cfg;
  cfg.epochs = 1;
  cfg.steps_per_epoch = 1 << 20;
  auto step_fn = [&] { mixmatch_step(student, &teacher, adam, batch, cfg, step++, 10); };
  auto set_all = [](bool on) {
    for (Fusion f : all_fusions()) set_fusion_enabled(f, on);
  };
  for (Fusion f : all_fusions()) {
    set_fusion_enabled(f, false);
    Stats s = measure(dev, o.warmup, repeats, step_fn);
    set_fusion_enabled(f, true);
    row(std::string("MixMatch step (interleave, no ") + fusion_name(f) + ")", s, step_baseline);
  }
  set_all(false);
  Stats unfused = measure(dev, o.warmup, repeats, step_fn);
  set_all(true);
  row("MixMatch step (interleave, no fusions)", unfused, step_baseline);

  // BatchNorm alone at group 1's shape ([3B, 32, 32, 32]), forward + backward.
  const int64_t B3 = 3 * o.batch, C = 16 * o.widen;
  BatchNorm2d bn(C);
  bn.to(dev);
  Tensor x = rand_normal({B3, C, 32, 32}, 5, 0, DType::F32, dev).set_requires_grad(true);
  Tensor r = rand_normal({B3, C, 32, 32}, 6, 0, DType::F32, dev);
  ForwardOptions grouped;
  grouped.groups = {{true, ""}, {false, ""}, {false, ""}};
  auto backward_of = [&](const Tensor& y) { sum(mul(y, r)).backward(); };
  Stats g3 = measure(dev, o.warmup, repeats, [&] { backward_of(bn(x, grouped)); });
  const std::vector<Tensor> chunks = split(x.detach(), o.batch);
  std::vector<Tensor> leaves;
  for (auto& c : chunks) leaves.push_back(c.clone().set_requires_grad(true));
  const std::vector<Tensor> rs = split(r, o.batch);
  Stats calls3 = measure(dev, o.warmup, repeats, [&] {
    for (size_t i = 0; i < leaves.size(); ++i) {
      ForwardOptions one;
      one.update_running_stats = i == 0;
      sum(mul(bn(leaves[i], one), rs[i])).backward();
    }
  });
  row("BN fwd+bwd [3B,C,32,32]: 3 calls", calls3, calls3.median);
  row("BN fwd+bwd [3B,C,32,32]: 3 groups, 1 call", g3, calls3.median);
  set_fusion_enabled(Fusion::BnLeakyRelu, false);
  Stats pair = measure(dev, o.warmup, repeats, [&] { backward_of(bn.forward_leaky_relu(x, {}, 0.1)); });
  set_fusion_enabled(Fusion::BnLeakyRelu, true);
  Stats fused = measure(dev, o.warmup, repeats, [&] { backward_of(bn.forward_leaky_relu(x, {}, 0.1)); });
  row("BN+LeakyReLU fwd+bwd: unfused", pair, pair.median);
  row("BN+LeakyReLU fwd+bwd: fused", fused, pair.median);

  // conv-bn-stats at the same shape: a block's conv1 (3x3, C -> C) on the igemm kernels (gather,
  // then halo tiling) and the grouped bn2 + LeakyReLU after it, forward (where the fusion acts):
  // BatchNorm's two statistics passes against the moments from the convolution's epilogue.
  for (IgemmTiling tiling : {IgemmTiling::Gather, IgemmTiling::Halo}) {
    const ConvBackendScope igemm(ConvBackend::Igemm);
    const IgemmTilingScope scope(tiling);
    const std::string name = tiling == IgemmTiling::Gather ? "conv+BN fwd (igemm)" : "conv+BN fwd (igemm halo)";
    NoGrad no_grad;
    Conv2d conv(C, C, 3, 1, 1, false);
    conv.to(dev);
    conv.weight.copy_from(mul(rand_normal({C, C, 3, 3}, 7, 0, DType::F32, dev), 0.1));
    const Tensor xin = x.detach();
    auto conv_bn = [&] {
      Tensor moments;
      Tensor h = conv.forward_with_bn_moments(xin, grouped, &moments);
      bn.forward_leaky_relu(h, grouped, 0.1, moments);
    };
    set_fusion_enabled(Fusion::ConvBnStats, false);
    Stats passes = measure(dev, o.warmup, repeats, conv_bn);
    set_fusion_enabled(Fusion::ConvBnStats, true);
    Stats epilogue = measure(dev, o.warmup, repeats, conv_bn);
    row(name + ": BN statistics passes", passes, passes.median);
    row(name + ": epilogue moments", epilogue, passes.median);
  }

  // Adam and the EMA teacher over the whole WRN (the student's gradients from one step).
  step_fn();
  for (const char* what : {"Adam", "EMA"}) {
    auto update = [&] {
      if (what[0] == 'A') {
        adam.step();
      } else {
        EmaSpec spec;
        spec.weight_decay = 0.02 * 0.002;
        ema_step(teacher, student, spec);
      }
    };
    set_fusion_enabled(Fusion::MultiTensor, false);
    Stats per = measure(dev, o.warmup, repeats, update);
    set_fusion_enabled(Fusion::MultiTensor, true);
    Stats multi = measure(dev, o.warmup, repeats, update);
    row(std::string(what) + ": per tensor", per, per.median);
    row(std::string(what) + ": multi-tensor", multi, per.median);
  }
}

// Per-kernel-family breakdown of the interleaved step (synchronizing scopes: slower).
void breakdown_rows(const BenchOpts& o, WideResNet& student, WideResNet& teacher, Adam& adam, const StepBatch& batch,
                    int64_t& step, nlohmann::ordered_json& out) {
  const int repeats = std::max(o.repeats, 1);
  TrainConfig cfg;
  cfg.epochs = 1;
  cfg.steps_per_epoch = 1 << 20;
  Profiler::reset();
  Profiler::enable(true);
  const int prof_steps = std::max(3, repeats / 4);
  for (int i = 0; i < prof_steps; ++i) mixmatch_step(student, &teacher, adam, batch, cfg, step++, 10);
  Profiler::enable(false);
  auto totals = Profiler::totals();
  double all = 0;
  for (auto& [k, v] : totals) all += v.first;
  std::vector<std::pair<std::string, std::pair<double, int64_t>>> sorted(totals.begin(), totals.end());
  std::sort(sorted.begin(), sorted.end(), [](auto& a, auto& b) { return a.second.first > b.second.first; });
  std::printf("\nper-kernel-family breakdown of the interleaved step (synchronized, %d steps)\n", prof_steps);
  std::printf("%-28s %12s %12s %8s\n", "family", "ms/step", "calls/step", "share");
  for (auto& [k, v] : sorted) {
    std::printf("%-28s %12.3f %12.1f %7.1f%%\n", k.c_str(), v.first / prof_steps, double(v.second) / prof_steps,
                100 * v.first / all);
    out["breakdown"][k] = {{"ms_per_step", v.first / prof_steps}, {"calls_per_step", double(v.second) / prof_steps}};
  }
}

// The data pipeline on this host: gather + augmentation (CPU runs) of B labeled + 2B unlabeled
// images per step, by the loader's producer path.
void pipeline_row(const BenchOpts& o, int repeats, nlohmann::ordered_json& out) {
  TrainTest synth = make_synthetic(500, 1, 10, 3, 32, 0);
  Split split{{}, {}, {}};
  for (int64_t i = 0; i < synth.train.count; ++i) (i < 1000 ? split.labeled : split.unlabeled).push_back(i);
  MixMatchLoader loader(synth.train, split, o.batch, 2, 0, Device::CPU, 0);
  Stats p = measure(Device::CPU, 2, repeats, [&] { loader.next(); });
  const double ips = 3.0 * o.batch / (p.median / 1000.0);
  std::printf("\ndata pipeline (CPU gather + augment, one thread): %.3f ms per step = %.0f images/s\n", p.median, ips);
  out["pipeline"] = {{"ms_per_step", p.median}, {"images_per_s", ips}};
}

int run_bench(const BenchOpts& o) {
  const Device dev = resolve_device(o.device);
  const int repeats = std::max(o.repeats, 1);
  nlohmann::ordered_json out;
  out["device"] = device_name(dev);
  out["model"] = "WRN-" + std::to_string(o.depth) + "-" + std::to_string(o.widen);
  out["batch"] = o.batch;
  out["repeats"] = repeats;
  out["git_commit"] = MMENGINE_GIT_COMMIT;
  // The emulated device runs kernels on the host's CPU, one fiber per CUDA thread: its
  // milliseconds measure the emulator, never a GPU.
  const bool emulated = dev == Device::CUDA && cuda_emulated();
  out["emulated"] = emulated;
  std::printf("mmengine bench on %s: %s, B = %lld, median of %d after %d warm-up\n", device_name(dev),
              out["model"].get<std::string>().c_str(), (long long)o.batch, repeats, o.warmup);
  if (emulated)
    std::printf("NOTE: emulated CUDA: these are CPU timings of the CUDA emulator, NOT GPU numbers; do not record them\n");
  const Precision precision = enum_parse(kPrecisions, "--precision", o.precision);
  const uint32_t parts = selected_parts(o, dev, emulated, precision);
  auto want = [&](BenchPart p) { return (parts & enum_bit(p)) != 0; };
  MM_CHECK(!want(BenchPart::ConvLayers) || dev == Device::CUDA,
           "bench --conv-layers (or --variants conv-layers): needs --device cuda");
  MM_CHECK(!want(BenchPart::BnKernels) || dev == Device::CUDA, "bench --variants bn-kernels: needs --device cuda");
  std::string chosen;
  for (const auto& e : kBenchParts)
    if (want(e.value)) chosen += std::string(chosen.empty() ? "" : ",") + e.name;
  out["variants"] = chosen;
  if (o.variants != "all" || o.conv_layers) std::printf("variants: %s\n", chosen.c_str());

  // --precision: the model and step rows (the breakdown too) at that precision, as `mmengine
  // train --precision`; conv-layers and bn-kernels keep their own. Without the flag the
  // environment's switches (MMENGINE_CONV, MMENGINE_MATMUL) apply as they are.
  out["precision"] = enum_name(kPrecisions, precision);
  std::optional<PrecisionScope> precision_scope;
  if (precision != Precision::Fp32) {
    std::printf("precision: %s (the model and step rows)\n", enum_name(kPrecisions, precision));
    precision_scope.emplace(precision, dev, DType::F32);
  }
  // --json is written now (a bad path fails before any work; a stale file from an earlier run is
  // replaced) and again after every row and part with "complete": false, so that a run cut short
  // (a timeout, a kernel fault on a first GPU run) still leaves what it measured, e.g. the step
  // times tools/gpu-train.sh plans from; the last write says "complete": true.
  out["complete"] = false;
  save_partial(o, out);
  BenchModels models(o.depth, o.widen, dev);
  WideResNet &student = models.student, &teacher = models.teacher;

  // Forward and forward+backward of the WRN alone.
  std::printf("%-48s %10s %10s %10s %8s\n", "what", "median ms", "min ms", "max ms", "ratio");
  auto row = [&](const std::string& name, const Stats& s, double baseline) {
    std::printf("%-48s %10.3f %10.3f %10.3f %8.2f\n", name.c_str(), s.median, s.min, s.max, s.median / baseline);
    out["timings"][name] = {{"median_ms", s.median}, {"min_ms", s.min}, {"max_ms", s.max}, {"ratio", s.median / baseline}};
    save_partial(o, out);
  };
  for (int64_t B : {o.batch, 3 * o.batch}) {
    if (!want(BenchPart::Model)) break;
    Tensor x = rand_normal({B, 3, 32, 32}, 1, 0, DType::F32, dev);
    Stats fwd = measure(dev, o.warmup, repeats, [&] {
      NoGrad ng;
      student(x);
    });
    Stats fb = measure(dev, o.warmup, repeats, [&] {
      student.zero_grad();
      Tensor l = sum(student(x));
      l.backward();
    });
    row("forward B=" + std::to_string(B), fwd, fwd.median);
    row("forward+backward B=" + std::to_string(B), fb, fwd.median);
  }
  if (want(BenchPart::Eval) && fusion_enabled(Fusion::BnLeakyRelu)) {
    // Evaluation's forward (eval-mode BatchNorm, no autograd) at 3B: the composed eval BatchNorm
    // and LeakyReLU (3 passes over each BN input) against the fused one (1 pass).
    const int64_t B = 3 * o.batch;
    Tensor x = rand_normal({B, 3, 32, 32}, 1, 0, DType::F32, dev);
    student.eval();
    auto eval_forward = [&] {
      NoGrad ng;
      student(x);
    };
    Stats fused = measure(dev, o.warmup, repeats, eval_forward);
    set_fusion_enabled(Fusion::BnLeakyRelu, false);
    Stats composed = measure(dev, o.warmup, repeats, eval_forward);
    set_fusion_enabled(Fusion::BnLeakyRelu, true);
    student.train();
    row("eval forward B=" + std::to_string(B) + " (composed BN, LeakyReLU)", composed, composed.median);
    row("eval forward B=" + std::to_string(B) + " (fused eval BN+LeakyReLU)", fused, composed.median);
  }

  const bool steps = want(BenchPart::Modes) || want(BenchPart::Sync) || want(BenchPart::Graph) ||
                     want(BenchPart::Versions) || want(BenchPart::Precisions) || want(BenchPart::Fusions) ||
                     want(BenchPart::Breakdown);
  // The whole MixMatch step, per BN mode; the interleaved step is the baseline.
  StepBatch batch;
  batch.x = rand_normal({o.batch, 3, 32, 32}, 2, 0, DType::F32, dev);
  for (int k = 0; k < 2; ++k) batch.u.push_back(rand_normal({o.batch, 3, 32, 32}, 3 + k, 0, DType::F32, dev));
  for (int64_t i = 0; i < o.batch; ++i) batch.labels.push_back(static_cast<int32_t>(i % 10));
  Adam adam(student.named_parameters(), 0.002);
  double baseline = 0;
  int64_t step = 0;
  for (BnMode mode : {BnMode::Interleave, BnMode::Separate, BnMode::Single}) {
    if (!steps || (mode != BnMode::Interleave && !want(BenchPart::Modes))) continue;
    TrainConfig cfg;
    cfg.bn_mode = mode;
    cfg.epochs = 1;
    cfg.steps_per_epoch = 1 << 20;
    Stats s = measure(dev, o.warmup, repeats, [&] { mixmatch_step(student, &teacher, adam, batch, cfg, step++, 10); });
    if (mode == BnMode::Interleave) baseline = s.median;
    row(std::string("MixMatch step (") + bn_mode_name(mode) + ")", s, baseline);
  }
  if (want(BenchPart::Sync) || want(BenchPart::Graph)) {
    // The step as it was before issue 13's item 2: its losses read back every step (one host
    // synchronization per step; the earlier code made ~5). Beside the asynchronous step above.
    TrainConfig cfg;
    cfg.epochs = 1;
    cfg.steps_per_epoch = 1 << 20;
    if (want(BenchPart::Sync)) {
      Stats s = measure(dev, o.warmup, repeats, [&] { mixmatch_step(student, &teacher, adam, batch, cfg, step++, 10).read(); });
      row("MixMatch step (interleave, losses read every step)", s, baseline);
    }
    // What one step asks of the device: host synchronizations (must be 0) and, on the
    // emulated device, the work queued on the context stream.
    const int64_t syncs = cuda_host_syncs();
#ifdef MMENGINE_CUDA_EMULATED
    const mmemu::StreamWork w0 = mmemu::stream_work(cuda_stream());
#endif
    mixmatch_step(student, &teacher, adam, batch, cfg, step++, 10);
    out["counts"]["host_syncs_per_step"] = cuda_host_syncs() - syncs;
    std::printf("counts per interleaved step: %lld host synchronizations", (long long)(cuda_host_syncs() - syncs));
#ifdef MMENGINE_CUDA_EMULATED
    if (dev == Device::CUDA) {
      const mmemu::StreamWork w = mmemu::stream_work(cuda_stream());
      out["counts"]["kernels_per_step"] = w.kernels - w0.kernels;
      out["counts"]["cublas_calls_per_step"] = w.gemms - w0.gemms;
      out["counts"]["copies_per_step"] = w.copies - w0.copies;
      out["counts"]["fills_per_step"] = w.fills - w0.fills;
      std::printf(", %lld kernels, %lld cuBLAS calls, %lld copies, %lld fills", w.kernels - w0.kernels,
                  w.gemms - w0.gemms, w.copies - w0.copies, w.fills - w0.fills);
    }
#endif
    std::printf("\n");
    if (dev == Device::CUDA && want(BenchPart::Graph)) {
      // --graph on: the same step captured once and replayed (issue 13, item 3). The warm-up
      // covers the runner's two eager warm-ups and its capture.
      TrainConfig gcfg = cfg;
      gcfg.graph = GraphMode::On;
      StepRunner graphed(student, &teacher, adam, gcfg, 10);
      Stats g = measure(dev, std::max(o.warmup, 3), repeats, [&] { graphed.run(batch, step++); });
      row("MixMatch step (interleave, CUDA graph)", g, baseline);
    }
  }
  if (dev == Device::CUDA && conv_backend() == ConvBackend::Own && kernel_version() == KernelVersion::Current &&
      (want(BenchPart::Versions) || want(BenchPart::Precisions))) {
    // The earlier kernel versions (MMENGINE_KERNELS=v1|v0, docs/perf-notes.md) and the precisions, in the same run.
    TrainConfig cfg;
    cfg.epochs = 1;
    cfg.steps_per_epoch = 1 << 20;
    auto step_row = [&](const std::string& name) {
      Stats s = measure(dev, o.warmup, repeats, [&] { mixmatch_step(student, &teacher, adam, batch, cfg, step++, 10); });
      row(name, s, baseline);
    };
    if (want(BenchPart::Versions))
      for (KernelVersion v : {KernelVersion::V1, KernelVersion::V0}) {
        set_kernel_version(v);
        step_row(std::string("MixMatch step (interleave, ") + kernel_version_name(v) + " kernels)");
        set_kernel_version(KernelVersion::Current);
      }
#ifdef MMENGINE_WITH_CUDA
    if (want(BenchPart::Precisions)) {
      if (!kernels::gemm_tf32_cuda()) {  // the same step with TF32 tensor-core GEMMs (MMENGINE_MATMUL=tf32)
        const GemmTf32Scope tf32(true);
        step_row("MixMatch step (interleave, TF32 GEMMs)");
      }
      for (Precision p : {Precision::Tf32, Precision::Bf16}) {  // the steps of `mmengine train --precision`
        if (p == Precision::Bf16 && !fusion_enabled(Fusion::BnLeakyRelu)) {
          std::printf("(MixMatch step with --precision bf16: not measured, it needs the bn-leaky-relu fusion)\n");
          continue;
        }
        const PrecisionScope scope(p, dev, DType::F32);
        step_row(std::string("MixMatch step (interleave, --precision ") + enum_name(kPrecisions, p) + ")");
      }
      for (IgemmTiling t : {IgemmTiling::Gather, IgemmTiling::Halo}) {  // FP32-class convolutions on tensor cores,
        const ConvBackendScope split(ConvBackend::Igemm3xTf32);              // FP32 GEMMs (whatever MMENGINE_MATMUL says)
        const IgemmTilingScope tiling(t);
        const GemmTf32Scope full(false);
        step_row(std::string("MixMatch step (interleave, igemm-3xtf32 ") + igemm_tiling_name(t) + ")");
      }
      // --precision tf32 and bf16 with each other implicit-GEMM tiling (MMENGINE_IGEMM) for their stride-1 passes
      for (Precision p : {Precision::Tf32, Precision::Bf16}) {
        if (p == Precision::Bf16 && !fusion_enabled(Fusion::BnLeakyRelu)) continue;  // (said above)
        const PrecisionScope scope(p, dev, DType::F32);
        const IgemmTiling setting = igemm_tiling();
        for (const auto& e : kIgemmTilings) {
          if (e.value == setting) continue;
          const IgemmTilingScope tiling(e.value);
          step_row(std::string("MixMatch step (interleave, ") + enum_name(kPrecisions, p) + ", igemm " + e.name + ")");
        }
      }
      // --precision tf32 (on this run's tiling) without the fusion that acts only on the igemm kernels
      if (fusion_enabled(Fusion::ConvBnStats)) {
        const PrecisionScope scope(Precision::Tf32, dev, DType::F32);
        const FusionScope off(Fusion::ConvBnStats, false);
        step_row("MixMatch step (interleave, --precision tf32, no conv-bn-stats)");
      }
    }
#endif
  }

  if (want(BenchPart::Fusions) && kernel_version() == KernelVersion::Current)
    fusion_rows(o, dev, student, teacher, adam, batch, step, baseline, row);

  if (want(BenchPart::Breakdown)) breakdown_rows(o, student, teacher, adam, batch, step, out), save_partial(o, out);
  if (want(BenchPart::Pipeline)) pipeline_row(o, repeats, out), save_partial(o, out);
  if (want(BenchPart::ConvLayers)) conv_layer_rows(o, dev, repeats, out), save_partial(o, out);
  if (want(BenchPart::BnKernels)) bn_kernel_rows(o.batch, 16 * o.widen, o.warmup, repeats, out), save_partial(o, out);
  out["complete"] = true;
  if (!o.json.empty()) write_file_atomically(o.json, out.dump(2) + "\n");
  return 0;
}

}  // namespace

void add_bench_command(CLI::App& app, CommandAction& action) {
  auto* cmd = app.add_subcommand("bench", "time the MixMatch step, WRN passes and the data pipeline");
  auto o = std::make_shared<BenchOpts>();
  cmd->add_option("--device", o->device, "auto, cpu or cuda");
  cmd->add_option("--json", o->json, "write the numbers to this JSON file");
  cmd->add_option("--depth", o->depth, "WideResNet depth");
  cmd->add_option("--widen", o->widen, "WideResNet widen factor");
  cmd->add_option("--batch", o->batch, "B (the step uses B labeled + 2B unlabeled)")->check(CLI::PositiveNumber);
  cmd->add_option("--warmup", o->warmup, "untimed runs first")->check(CLI::NonNegativeNumber);
  cmd->add_option("--repeats", o->repeats, "timed runs (median reported)")->check(CLI::PositiveNumber);
  cmd->add_flag("--quick", o->quick, "skip the data-pipeline measurement");
  cmd->add_option("--precision", o->precision,
                  "the model and step rows at this precision (as train --precision; without the precisions and "
                  "versions parts, and under bf16 without eval and fusions): " +
                      enum_help(kPrecisions));
  cmd->add_option("--variants", o->variants, "all (default) or comma-separated parts: " + enum_help(kBenchParts));
  auto ranks = std::make_shared<bool>(false);
  cmd->add_flag("--ranks", *ranks,
                "data parallel (run under mpirun -np N): the gradient all-reduce per step against the step time, "
                "with synchronized and with local BN, and the collectives a step sends");
  cmd->add_option("--dist", o->dist,
                  "with --ranks: the communicator (" + dist_backend_help() + "; nccl without mpirun: one rank)");
  cmd->add_flag("--conv-layers", o->conv_layers,
                "only this: each convolution shape of the WRN at B and 3B, forward and both gradients, on every "
                "convolution backend (own FP32 / TF32, igemm, cuDNN FP32 / TF32)");
  // The concurrency sweep replaces the other measurements when asked for.
  auto sweep = std::make_shared<ConcurrentSweepOpts>();
  cmd->add_option("--concurrent-sweep", sweep->counts,
                  "only this: aggregate steps/s of N runs trained at once, for N in the list (e.g. 1,2,4,8,16), in "
                  "each --sweep-modes way");
  cmd->add_option("--sweep-modes", sweep->modes,
                  "comma-separated ways of running them (as ablate --concurrent-mode): " + enum_help(kConcurrentModes));
  cmd->add_option("--sweep-steps", sweep->steps, "steps of each run in the sweep")->check(CLI::PositiveNumber);
  cmd->add_option("--sweep-dataset", sweep->dataset, "dataset of the sweep's runs: synthetic (16x16) or cifar10");
  cmd->add_option("--sweep-data", sweep->data_dir, "dataset folder of the sweep's runs");
  cmd->callback([o, sweep, ranks, cmd, &action] {
    const bool sweeping = cmd->count("--concurrent-sweep") > 0;
    MM_CHECK(!(sweeping && *ranks), "--ranks and --concurrent-sweep: one measurement at a time");
    MM_CHECK(*ranks || cmd->count("--dist") == 0, "--dist: only with --ranks");
    MM_CHECK(!(*ranks || sweeping) || cmd->count("--precision") == 0,
             "--precision: not with --ranks or --concurrent-sweep (they time the FP32 step)");
    // A wrong word is an error naming --dist, before anything runs; so is none under mpirun
    // (every process would be a rank 0 of its own).
    MM_CHECK(!(parse_dist_backend(o->dist) == DistBackend::None && launched_by_mpi()),
             "--dist none: started by an MPI launcher, the ranks must communicate (use auto, mpi or nccl)");
    action = [o, sweep, sweeping, ranks] {
      if (*ranks) return run_bench_ranks(*o);
      if (!sweeping) return run_bench(*o);
      sweep->device = o->device, sweep->depth = o->depth, sweep->widen = o->widen, sweep->batch = o->batch;
      nlohmann::ordered_json out;
      out["git_commit"] = MMENGINE_GIT_COMMIT;
      const int rc = run_concurrent_sweep(*sweep, out);
      if (!o->json.empty()) write_file_atomically(o->json, out.dump(2) + "\n");
      return rc;
    };
  });
}

}  // namespace mmengine
