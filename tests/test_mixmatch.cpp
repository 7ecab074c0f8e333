#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>

#include <nlohmann/json.hpp>

#include "data/augment.h"
#include "data/synthetic.h"
#include "engine/adam.h"
#include "engine/autograd.h"
#include "engine/conv_backend.h"
#include "engine/kernel_version.h"
#include "engine/ops.h"
#include "engine/precision.h"
#include "layers/checkpoint.h"
#include "layers/layers.h"
#include "layers/wideresnet.h"
#include "mixmatch/config.h"
#include "mixmatch/ema.h"
#include "mixmatch/evaluate.h"
#include "mixmatch/guess.h"
#include "mixmatch/interleave.h"
#include "mixmatch/loss.h"
#include "mixmatch/mixup.h"
#include "mixmatch/trainer.h"
#include "tests/test_util.h"
#ifdef MMENGINE_WITH_CUDA
#include "kernels/gemm.h"
#endif

using namespace mmengine;
using namespace mmengine::testing;

namespace {
Tensor rows_tensor(int64_t first, int64_t n) {  // row r holds the value first + r
  std::vector<double> v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = static_cast<double>(first + i);
  return Tensor::from_vector(v, {n, 1}, DType::F64);
}

template <typename F>
void expect_error_with(F&& f, const std::string& needle) {
  try {
    f();
    ADD_FAILURE() << "expected an error mentioning " << needle;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

std::string run_dir(const std::string& name) {
  return ::testing::TempDir() + "mmrun_" + std::to_string(::getpid()) + "_" + name;
}

}  // namespace

TEST(Sharpen, MatchesHandValues) {
  Tensor p = Tensor::from_vector({0.6, 0.4, 0.5, 0.5}, {2, 2}, DType::F64);
  auto v = sharpen(p, 0.5).to_vector();
  EXPECT_NEAR(v[0], 0.36 / 0.52, 1e-15);
  EXPECT_NEAR(v[1], 0.16 / 0.52, 1e-15);
  EXPECT_NEAR(v[2], 0.5, 1e-15);
  expect_error_with([&] { sharpen(p, 0); }, "--T");
}

TEST(MixUp, LambdaIsTheLargerHalfAndMixingIsLinear) {
  for (uint64_t step = 0; step < 50; ++step) {
    MixUpDraw d = draw_mixup(7, 0.75, 3, step);
    EXPECT_GE(d.lambda, 0.5);
    EXPECT_LE(d.lambda, 1.0);
    auto sorted = d.perm;
    std::sort(sorted.begin(), sorted.end());
    for (int64_t i = 0; i < 7; ++i) EXPECT_EQ(sorted[i], i);
    EXPECT_EQ(draw_mixup(7, 0.75, 3, step).perm, d.perm) << "a step's draw is reproducible";
  }
  MixUpDraw d{0.8, {2, 0, 1}, {}};
  auto v = mix(rows_tensor(10, 3), d).to_vector();  // 0.8 * [10 11 12] + 0.2 * [12 10 11]
  EXPECT_NEAR(v[0], 10.4, 1e-12);
  EXPECT_NEAR(v[1], 10.8, 1e-12);
  EXPECT_NEAR(v[2], 11.8, 1e-12);
}

TEST(Interleave, OffsetsMatchTheSeed) {
  EXPECT_EQ(interleave_offsets(64, 2), (std::vector<int64_t>{0, 21, 42, 64}));
  EXPECT_EQ(interleave_offsets(5, 2), (std::vector<int64_t>{0, 1, 3, 5}));
  EXPECT_EQ(interleave_offsets(7, 3), (std::vector<int64_t>{0, 1, 3, 5, 7}));
  EXPECT_EQ(interleave_offsets(6, 2), (std::vector<int64_t>{0, 2, 4, 6}));
}

TEST(Interleave, SwapsSliceIOfChunkZeroWithSliceIOfChunkI) {
  for (int64_t B : {64, 5}) {
    std::vector<Tensor> xy{rows_tensor(0, B), rows_tensor(1000, B), rows_tensor(2000, B)};
    auto out = interleave(xy, B);
    auto off = interleave_offsets(B, 2);
    std::vector<std::vector<double>> got;
    for (auto& t : out) got.push_back(t.to_vector());
    for (int64_t r = 0; r < B; ++r) {
      const int part = r < off[1] ? 0 : r < off[2] ? 1 : 2;
      // chunk 0 takes slice `part` from chunk `part`; chunk i (i > 0) takes slice i from chunk 0.
      EXPECT_EQ(got[0][r], 1000.0 * part + r) << "B=" << B << " row " << r;
      for (int i = 1; i <= 2; ++i) EXPECT_EQ(got[i][r], (part == i ? 0.0 : 1000.0 * i) + r) << "B=" << B;
    }
    auto back = interleave(out, B);
    for (int i = 0; i < 3; ++i) EXPECT_EQ(back[i].to_vector(), xy[i].to_vector()) << "un-interleave is the inverse";
  }
}

TEST(Loss, ValuesByHand) {
  Tensor lx = Tensor::from_vector({0.0, std::log(3.0)}, {1, 2}, DType::F64);  // softmax [1/4, 3/4]
  Tensor tx = Tensor::from_vector({0.5, 0.5}, {1, 2}, DType::F64);
  Tensor lu = Tensor::from_vector({0.0, 0.0, 0.0, std::log(3.0)}, {2, 2}, DType::F64);
  Tensor tu = Tensor::from_vector({1.0, 0.0, 0.25, 0.75}, {2, 2}, DType::F64);
  MixMatchLoss l = mixmatch_loss(lx, tx, lu, tu, 75.0, 0.5);
  const double want_lx = -(0.5 * std::log(0.25) + 0.5 * std::log(0.75));
  const double want_lu = (0.25 + 0.25 + 0 + 0) / 4.0;  // (0.5-1)^2 + (0.5-0)^2 + 0 + 0 over 4
  EXPECT_NEAR(l.lx.item(), want_lx, 1e-14);
  EXPECT_NEAR(l.lu.item(), want_lu, 1e-14);
  EXPECT_NEAR(l.weight, 37.5, 1e-14);
  EXPECT_NEAR(l.total.item(), want_lx + 37.5 * want_lu, 1e-12);
}

TEST(Loss, LinearRampup) {
  EXPECT_EQ(linear_rampup(0, 100), 0.0);
  EXPECT_EQ(linear_rampup(50, 100), 0.5);
  EXPECT_EQ(linear_rampup(150, 100), 1.0);
  EXPECT_EQ(linear_rampup(5, 0), 1.0);
}

TEST(Adam, MatchesAHandComputedStep) {
  Tensor p = Tensor::from_vector({1.0}, {1}, DType::F64);
  p.set_requires_grad(true);
  Adam adam({{"p", &p}}, 0.1);
  sum(mul(p, 0.5)).backward();  // g = 0.5
  adam.step();
  // m = 0.05, v = 0.00025; m_hat = 0.5, v_hat = 0.25: p = 1 - 0.1 * 0.5 / (0.5 + 1e-8)
  EXPECT_NEAR(p.item(), 1 - 0.1 * 0.5 / (0.5 + 1e-8), 1e-15);
  p.zero_grad();
  sum(mul(p, -0.25)).backward();  // g = -0.25
  adam.step();
  const double m = 0.9 * 0.05 + 0.1 * -0.25, v = 0.999 * 0.00025 + 0.001 * 0.0625;
  const double mhat = m / (1 - 0.81), vhat = v / (1 - 0.999 * 0.999);
  EXPECT_NEAR(p.item(), 1 - 0.1 * 0.5 / (0.5 + 1e-8) - 0.1 * mhat / (std::sqrt(vhat) + 1e-8), 1e-14);
}

TEST(Ema, TeacherAveragesAndStudentDecaysWithAndWithoutBuffers) {
  for (bool decay_buffers : {true, false}) {  // --decay-scope state / params
    BatchNorm2d student(2, 0.1, 1e-5, DType::F64), teacher(2, 0.1, 1e-5, DType::F64);
    student.weight.fill_(2.0);
    student.running_mean.fill_(4.0);
    EmaSpec spec;
    spec.decay = 0.9;
    spec.weight_decay = 0.5;
    spec.decay_scope = decay_buffers ? DecayScope::State : DecayScope::Params;
    ema_step(teacher, student, spec);
    EXPECT_NEAR(teacher.weight.to_vector()[0], 0.9 * 1.0 + 0.1 * 2.0, 1e-15);
    EXPECT_NEAR(teacher.running_mean.to_vector()[0], 0.1 * 4.0, 1e-15);
    EXPECT_NEAR(student.weight.to_vector()[0], 1.0, 1e-15);  // 2 * (1 - 0.5)
    EXPECT_NEAR(student.running_mean.to_vector()[0], decay_buffers ? 2.0 : 4.0, 1e-15);
    EXPECT_EQ(student.num_batches_tracked, teacher.num_batches_tracked) << "integer counters are not averaged";
  }
}

TEST(TrainConfig, ErrorsNameTheFlag) {
  auto with = [](auto change, const std::string& flag) {
    TrainConfig c;
    change(c);
    expect_error_with([&] { validate(c); }, flag);
  };
  with([](TrainConfig& c) { c.epochs = 0; }, "--epochs");
  with([](TrainConfig& c) { c.batch_size = -3; }, "--batch-size");
  with([](TrainConfig& c) { c.lr = 0; }, "--lr");
  with([](TrainConfig& c) { c.T = -1; }, "--T");
  with([](TrainConfig& c) { c.ema_decay = 1.0; }, "--ema-decay");
  with([](TrainConfig& c) { c.depth = 12; }, "--depth");
  with([](TrainConfig& c) { c.K = 0; }, "--K");
  with([](TrainConfig& c) { c.lr_scale_sqrt = true; }, "--lr-scale");
  expect_error_with([] { parse_bn_mode("both"); }, "--bn-mode");
  expect_error_with([] { parse_bn_update("some"); }, "--bn-update");
  TrainConfig c = tiny_run(run_dir("bad"));
  c.labels = 105;
  expect_error_with([&] { train_mixmatch(c); }, "--labels");
  c = tiny_run(run_dir("bad2"));
  c.dataset = "imagenet";
  expect_error_with([&] { train_mixmatch(c); }, "--dataset");
  c = tiny_run(run_dir("bad3"));
  c.dataset = "cifar10";
  c.data_dir = "/nonexistent";
  expect_error_with([&] { train_mixmatch(c); }, "data_batch_1.bin");
}

TEST(Trainer, ResumeIsBitIdentical) {
  const std::string straight = run_dir("straight"), split = run_dir("split");
  TrainConfig a = tiny_run(straight);
  train_mixmatch(a);
  TrainConfig b = tiny_run(split);
  b.stop_after = 3;  // interrupted mid-epoch, then continued
  EXPECT_EQ(train_mixmatch(b).steps, 3);
  b.resume = true;
  b.stop_after = 0;
  EXPECT_EQ(train_mixmatch(b).steps, 5);
  TensorFile fa = load_safetensors(last_checkpoint_path(straight)), fb = load_safetensors(last_checkpoint_path(split));
  ASSERT_EQ(fa.tensors.size(), fb.tensors.size());
  for (auto& [name, t] : fa.tensors) EXPECT_EQ(t.to_vector(), fb.tensors.at(name).to_vector()) << name;
  EXPECT_EQ(fa.integers, fb.integers);
  // A finished run is not silently overwritten.
  expect_error_with([&] { train_mixmatch(tiny_run(straight)); }, "--resume");
  // Run-folder contents.
  std::ifstream cfg(straight + "/config.json"), csv(straight + "/metrics.csv");
  std::string cfg_text((std::istreambuf_iterator<char>(cfg)), {}), header;
  std::getline(csv, header);
  EXPECT_NE(cfg_text.find("\"bn_mode\": \"interleave\""), std::string::npos);
  EXPECT_NE(cfg_text.find("\"git_commit\""), std::string::npos);
  EXPECT_EQ(header.rfind("step,epoch,loss,loss_x,loss_u", 0), 0u) << header;
}

TEST(Trainer, LearnsTheSyntheticTaskFarAboveChance) {
  TrainConfig c = tiny_run(run_dir("learn"));
  c.epochs = 3;
  c.steps_per_epoch = 40;
  c.batch_size = 32;
  c.ema_decay = 0.95;
  c.max_eval_images = 300;
  TrainSummary s = train_mixmatch(c);
  EXPECT_GT(s.final_student_test, 50.0) << "chance is 10%";
  EXPECT_GT(s.best_test_acc, 40.0);
}

TEST(Trainer, EveryBnModeRuns) {
  for (auto mode : {BnMode::Separate, BnMode::Single}) {
    TrainConfig c = tiny_run(run_dir(std::string("mode_") + bn_mode_name(mode)));
    c.epochs = 1;
    c.steps_per_epoch = 3;
    c.bn_mode = mode;
    c.lr_scale_sqrt = mode == BnMode::Single;
    TrainSummary s = train_mixmatch(c);
    EXPECT_EQ(s.steps, 3);
  }
}

// --precision (engine/precision.h): part of the experiment, recorded in config.json (files
// written before it read as fp32), refused where it cannot run, and scoped to the run.
TEST(Precision, IsRecordedAndPartOfTheExperiment) {
  TrainConfig a = tiny_run(run_dir("precision")), b = a;
  b.precision = Precision::Tf32;
  EXPECT_EQ(config_from_json(config_to_json(b, "cuda"), "config.json").precision, Precision::Tf32);
  auto older = nlohmann::json::parse(config_to_json(b, "cuda"));
  older.erase("precision");
  EXPECT_EQ(config_from_json(older.dump(), "config.json").precision, Precision::Fp32);
  SettingChange change;
  ASSERT_TRUE(experiment_differs(a, b, &change));
  EXPECT_EQ(change.key, "precision");
  expect_error_with([&] { train_mixmatch(b); }, "--precision tf32: needs --device cuda");
  {
    ConvBackendScope igemm(ConvBackend::Igemm);
    expect_error_with([] { PrecisionScope p(Precision::Fp32, Device::CPU, DType::F32); }, "MMENGINE_CONV=igemm");
  }
  {  // 3xTF32 convolutions are FP32-class: fp32 keeps them
    ConvBackendScope split(ConvBackend::Igemm3xTf32);
    PrecisionScope p(Precision::Fp32, Device::CPU, DType::F32);
    EXPECT_EQ(conv_backend(), ConvBackend::Igemm3xTf32);
  }
}

// --precision bf16: recorded like the others; runs on the CPU (the CPU twins round as the CUDA
// kernels do) through training, evaluation and checkpoints, its losses near an fp32 run's on the
// same data; scoped to the run; refused with float64 parameters, MMENGINE_CONV=cudnn or without
// the bn-leaky-relu fusion. (Kernel-level equalities: tests/test_bf16.cpp.)
TEST(Precision, Bf16TrainsOnTheCpuNearFp32AndIsRefusedWhereItCannotRun) {
  TrainConfig c = tiny_run(run_dir("precision_bf16")), f = tiny_run(run_dir("precision_bf16_ref"));
  c.precision = Precision::Bf16;
  c.epochs = f.epochs = 1;
  c.steps_per_epoch = f.steps_per_epoch = 2;
  c.log_every = f.log_every = 1;
  EXPECT_EQ(config_from_json(config_to_json(c, "cpu"), "config.json").precision, Precision::Bf16);
  const TrainSummary h = train_mixmatch(c), r = train_mixmatch(f);
  EXPECT_EQ(h.steps, 2);
  EXPECT_TRUE(std::isfinite(h.final_teacher_test));
  EXPECT_EQ(activation_dtype(), DType::F32) << "the run restores float32 activations";
  EXPECT_EQ(conv_backend(), ConvBackend::Own) << "the run restores the convolution backend";
  // The first step's losses (same data, same initial weights) differ only by bf16 rounding.
  auto first_loss_x = [](const std::string& dir) {
    std::ifstream in(dir + "/metrics.jsonl");
    std::string line;
    EXPECT_TRUE(std::getline(in, line)) << dir;
    return nlohmann::json::parse(line).at("loss_x").get<double>();
  };
  // (That the model's activations are bf16 under the scope: tests/test_bf16.cpp.)
  EXPECT_NEAR(first_loss_x(c.out_dir), first_loss_x(f.out_dir), 0.02 * std::fabs(first_loss_x(f.out_dir)) + 1e-3);
  expect_error_with([] { PrecisionScope p(Precision::Bf16, Device::CPU, DType::F64); }, "float32 parameters");
#ifdef MMENGINE_WITH_CUDNN  // (the backend cannot be selected without cuDNN)
  {
    ConvBackendScope cudnn(ConvBackend::Cudnn);
    expect_error_with([] { PrecisionScope p(Precision::Bf16, Device::CPU, DType::F32); }, "MMENGINE_CONV=cudnn");
  }
#endif
  {
    ConvBackendScope split(ConvBackend::Igemm3xTf32);
    expect_error_with([] { PrecisionScope p(Precision::Bf16, Device::CPU, DType::F32); }, "MMENGINE_CONV=igemm-3xtf32");
  }
  set_fusion_enabled(Fusion::BnLeakyRelu, false);
  expect_error_with([] { PrecisionScope p(Precision::Bf16, Device::CPU, DType::F32); }, "bn-leaky-relu");
  set_fusion_enabled(Fusion::BnLeakyRelu, true);
}

#ifdef MMENGINE_WITH_CUDA
TEST(PrecisionCuda, Tf32SetsTheGemmModeAndTheConvolutionForTheRunOnly) {
  MM_SKIP_WITHOUT(Device::CUDA);
  ConvBackendScope own(ConvBackend::Own);
  const bool was = kernels::gemm_tf32_cuda();
  kernels::gemm_set_tf32_cuda(false);
  {
    PrecisionScope p(Precision::Tf32, Device::CUDA, DType::F32);
    EXPECT_TRUE(kernels::gemm_tf32_cuda());
    EXPECT_EQ(conv_backend(), ConvBackend::Igemm);
  }
  EXPECT_FALSE(kernels::gemm_tf32_cuda());
  EXPECT_EQ(conv_backend(), ConvBackend::Own);
  expect_error_with([] { PrecisionScope p(Precision::Tf32, Device::CUDA, DType::F64); }, "float32");
  kernels::gemm_set_tf32_cuda(true);  // as MMENGINE_MATMUL=tf32 would: fp32 refuses it, not overrides it
  expect_error_with([] { PrecisionScope p(Precision::Fp32, Device::CUDA, DType::F32); }, "MMENGINE_MATMUL=tf32");
  kernels::gemm_set_tf32_cuda(false);
  // A one-step run in TF32 (its numbers are TF32's: only that it runs through training,
  // evaluation and checkpoint is checked; the kernels are ConvIgemmCuda's). Small: the
  // emulator runs the tensor-core kernels thread by thread.
  TrainConfig c = tiny_run(run_dir("precision_tf32"));
  c.device = "cuda";
  c.precision = Precision::Tf32;
  c.batch_size = 4;
  c.epochs = 1;
  c.steps_per_epoch = 1;
  c.max_eval_images = 8;
  const TrainSummary s = train_mixmatch(c);
  EXPECT_EQ(s.steps, 1);
  EXPECT_TRUE(std::isfinite(s.final_teacher_test));
  EXPECT_FALSE(kernels::gemm_tf32_cuda()) << "the run restores the GEMM mode";
  kernels::gemm_set_tf32_cuda(was);
}

// bf16 training on the device, eager and with --graph on (the step and the evaluation forwards
// captured): two warm-up steps, the captured one and a replay; two evaluations (after steps 2
// and 4) of 2 full batches per set: the first warms and captures, the second replays after
// the weights, EMA and running statistics moved in place. Every logged number equals the eager
// run's (losses, accuracies and evaluation losses; not the timings).
TEST(PrecisionCuda, Bf16RunsOnTheDeviceWithAndWithoutGraphs) {
  MM_SKIP_WITHOUT(Device::CUDA);
  auto run = [](GraphMode graph, const std::string& name) {
    TrainConfig c = tiny_run(run_dir(name));
    c.device = "cuda";
    c.precision = Precision::Bf16;
    c.graph = graph;
    c.batch_size = 2;
    c.epochs = 2;
    c.steps_per_epoch = 2;
    c.log_every = 1;
    c.max_eval_images = 8;
    c.eval_batch = 4;
    const TrainSummary s = train_mixmatch(c);
    EXPECT_EQ(s.steps, 4);
    EXPECT_TRUE(std::isfinite(s.final_teacher_test));
    std::ifstream in(c.out_dir + "/metrics.jsonl");
    std::vector<double> values;
    for (std::string line; std::getline(in, line);) {
      const nlohmann::json row = nlohmann::json::parse(line);  // (items() refers to it: not a temporary)
      for (const auto& [k, v] : row.items())
        if (v.is_number() && k != "images_per_s" && k != "elapsed_s") values.push_back(v.get<double>());
    }
    values.push_back(s.final_teacher_test);
    values.push_back(s.final_student_test);
    return values;
  };
  const std::vector<double> eager = run(GraphMode::Off, "precision_bf16_cuda"),
                            graphed = run(GraphMode::On, "precision_bf16_cuda_graph");
  EXPECT_GT(eager.size(), 4u * 7u + 2u * 8u) << "every step's numbers and two evaluations' accuracies and losses";
  EXPECT_EQ(eager, graphed);
  EXPECT_EQ(activation_dtype(), DType::F32);
}
#endif

// evaluate() scores every batch on the device and reads once per set; its numbers are those of
// a host loop over each batch's log-probabilities (the former per-batch reads).
void expect_evaluate_matches_host_loop(Device d) {
  const TrainTest data = make_synthetic(7, 3, 10, 3, 8, 5);
  WideResNetConfig mc;
  mc.depth = 10;
  mc.widen_factor = 1;
  WideResNet model(mc);
  model.to(d);
  std::vector<int64_t> idx;
  for (int64_t i = 0; i < data.train.count; i += 3) idx.push_back(i);  // 24 images, batches of 5
  const EvalResult got = evaluate(model, data.train, idx, d, 5);
  EXPECT_TRUE(model.training()) << "evaluate restores the mode";
  NoGrad ng;
  model.eval();
  double loss = 0;
  int64_t correct = 0;
  for (size_t b = 0; b < idx.size(); b += 5) {
    std::vector<int64_t> part(idx.begin() + b, idx.begin() + std::min(idx.size(), b + 5));
    const std::vector<double> lp = log_softmax(model(normalized_images(data.train, part, d))).to_vector();
    for (size_t i = 0; i < part.size(); ++i) {
      const double* row = lp.data() + i * 10;
      const int label = data.train.labels[part[i]];
      loss -= row[label];
      correct += (std::max_element(row, row + 10) - row) == label;
    }
  }
  EXPECT_EQ(got.count, static_cast<int64_t>(idx.size()));
  EXPECT_EQ(got.loss, loss / idx.size());
  EXPECT_EQ(got.accuracy, 100.0 * correct / idx.size());
  EXPECT_EQ(evaluate(model, data.train, {}, d, 5).count, 0);
  // The images kept on the device between calls (EvalImages): the same numbers; one tensor per
  // list, made by the first evaluate() that needs it and reused by the next calls (another
  // model too); another list, or the same list of another dataset, another one.
  model.train();
  WideResNetConfig other_config = mc;
  other_config.seed = mc.seed + 1;
  WideResNet other_model(other_config);
  other_model.to(d);
  const EvalResult other_want = evaluate(other_model, data.train, idx, d, 5);
  EvalImages cache;
  for (int call = 0; call < 2; ++call) {
    const EvalResult c = evaluate(model, data.train, idx, d, 5, nullptr, &cache);
    EXPECT_EQ(c.loss, got.loss) << "call " << call;
    EXPECT_EQ(c.accuracy, got.accuracy) << "call " << call;
    EXPECT_EQ(c.count, got.count);
    EXPECT_EQ(cache.lists(), 1u) << "evaluate() did not keep the list's images, or made them again";
  }
  const EvalResult o = evaluate(other_model, data.train, idx, d, 5, nullptr, &cache);
  EXPECT_EQ(o.loss, other_want.loss);
  EXPECT_EQ(cache.lists(), 1u) << "another model made the images again";
  const Tensor kept = cache.images(data.train, idx, d);
  EXPECT_EQ(kept.shape(), (Shape{static_cast<int64_t>(idx.size()), 3, 8, 8}));
  EXPECT_EQ(kept.device(), d);
  EXPECT_EQ(kept.to_vector(), normalized_images(data.train, idx, d).to_vector());
  const std::vector<int64_t> fewer(idx.begin(), idx.begin() + 7), first_test{0, 1, 2};
  EXPECT_NE(cache.images(data.train, fewer, d).raw(), kept.raw());
  EXPECT_NE(cache.images(data.test, first_test, d).raw(), cache.images(data.train, first_test, d).raw())
      << "the dataset is not part of the key";
  EXPECT_EQ(cache.lists(), 4u);
  EXPECT_EQ(cache.images(data.train, idx, d).raw(), kept.raw()) << "the first list's images were made again";
}

TEST(Evaluate, ScoresOnTheDeviceEqualTheHostLoop) { expect_evaluate_matches_host_loop(Device::CPU); }
#ifdef MMENGINE_WITH_CUDA
TEST(EvaluateCuda, ScoresOnTheDeviceEqualTheHostLoop) {
  MM_SKIP_WITHOUT(Device::CUDA);
  expect_evaluate_matches_host_loop(Device::CUDA);
}
#endif
