// The data-parallel step on every rank of the job against one process on the whole batch:
// synchronized BN gives the single-rank losses, gradients and updates in every BN mode; local
// BN gives each rank the statistics of its own rows; the ranks stay bit-identical.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "engine/autograd.h"
#include "engine/dist_ops.h"
#include "engine/kernel_version.h"
#include "engine/precision.h"
#include "engine/rng.h"
#include "layers/bn_recorder.h"
#include "mixmatch/dist_train.h"
#include "mixmatch/ema.h"
#include "mixmatch/interleave.h"
#include "mixmatch/step.h"
#include "tests/dist/dist_world.h"

namespace mmengine::testing {
namespace {

constexpr int64_t kB = 8;  // chunks of 8 rows: 4 per rank on 2 ranks; interleave slices 2, 3, 3
constexpr int kK = 2;

WideResNetConfig model_config(DType dt) {
  WideResNetConfig c;
  c.depth = 10;
  c.widen_factor = 1;
  c.dtype = dt;
  c.bn_momentum = 0.1;
  c.seed = 3;
  return c;
}

// A student, its EMA teacher and Adam, identical on every rank.
struct Trainee {
  explicit Trainee(DType dt) : student(model_config(dt)), teacher(model_config(dt)), adam(student.named_parameters(), 0.002) {
    copy_state(student, teacher);
    teacher.eval();
  }
  WideResNet student, teacher;
  Adam adam;
};

TrainConfig step_config(BnMode mode) {
  TrainConfig c;
  c.batch_size = kB;
  c.K = kK;
  c.bn_mode = mode;
  c.epochs = 1;
  c.steps_per_epoch = 10;  // step 5: the unlabeled loss weighs half its lambda_u
  c.ema_decay = 0.9;
  return c;
}

StepBatch global_batch(DType dt, uint64_t seed) {
  StepBatch b;
  b.step = 5;
  b.x = rand_normal({kB, 3, 8, 8}, seed, 0, dt);
  for (int64_t i = 0; i < kB; ++i) b.labels.push_back(static_cast<int32_t>((i * 7 + seed) % 10));
  for (int k = 0; k < kK; ++k) b.u.push_back(rand_normal({kB, 3, 8, 8}, seed, 1 + k, dt));
  return b;
}

// Every element within rel * max(1, max |expected|) (rel for both the relative and the
// absolute part: a gradient's small entries are compared at the scale of its large ones).
::testing::AssertionResult close(const Tensor& a, const Tensor& e, double rel) {
  const auto av = a.to_vector(), ev = e.to_vector();
  if (av.size() != ev.size()) return ::testing::AssertionFailure() << "sizes differ";
  double scale = 1;
  for (double v : ev) scale = std::max(scale, std::fabs(v));
  for (size_t i = 0; i < av.size(); ++i)
    if (!(std::fabs(av[i] - ev[i]) <= rel * scale))
      return ::testing::AssertionFailure() << "element " << i << ": " << av[i] << " vs " << ev[i] << " (scale " << scale
                                           << ", rel " << rel << ")";
  return ::testing::AssertionSuccess();
}

void expect_state_close(Module& a, Module& e, double rel, const char* what) {
  auto sa = a.named_state(), se = e.named_state();
  ASSERT_EQ(sa.size(), se.size());
  for (size_t i = 0; i < sa.size(); ++i) EXPECT_TRUE(close(*sa[i].second, *se[i].second, rel)) << what << " " << sa[i].first;
}

struct Case {
  BnMode mode;
  DType dtype;
  bool grouped = true;  // the grouped-bn fusion: one pass over the chunks (else one per chunk)
};
std::string case_name(const ::testing::TestParamInfo<Case>& i) {
  return std::string(bn_mode_name(i.param.mode)) + "_" + dtype_name(i.param.dtype) + (i.param.grouped ? "" : "_per_chunk");
}

class GlobalBn : public ::testing::TestWithParam<Case> {};

TEST_P(GlobalBn, OneStepEqualsOneRankOnTheWholeBatch) {
  const auto [mode, dt, grouped] = GetParam();
  const FusionScope fusion(Fusion::GroupedBatchNorm, grouped);
  // float64: the sums of the per-rank parts equal the whole to rounding; float32: the ranks'
  // moments combined in float64 then rounded, the gradient sums added in another order
  // (measured: within 3e-6; 2e-4 while the statistics were float32 sums and sums of squares).
  const double rel = dt == DType::F64 ? 1e-12 : 1e-5;
  const TrainConfig cfg = step_config(mode);
  const StepBatch b = global_batch(dt, 11);
  Trainee one(dt), ranks(dt);
  const StepValues r1 = mixmatch_step(one.student, &one.teacher, one.adam, b, cfg, 5, 10).read();
  const StepValues rn =
      mixmatch_step(ranks.student, &ranks.teacher, ranks.adam, b, cfg, 5, 10, StepRanks{&world(), true}).read();
  EXPECT_NEAR(rn.loss, r1.loss, rel * std::max(1.0, std::fabs(r1.loss)));
  EXPECT_NEAR(rn.lx, r1.lx, rel * std::max(1.0, std::fabs(r1.lx)));
  EXPECT_NEAR(rn.lu, r1.lu, rel * std::max(1.0, std::fabs(r1.lu)));
  ASSERT_GT(r1.lu, 0) << "the unlabeled loss must take part";
  auto p1 = one.student.named_parameters(), pn = ranks.student.named_parameters();
  for (size_t i = 0; i < p1.size(); ++i) {
    // The port's WideResNet skips bn1 of the first block of groups 2 and 3: no gradient at all.
    ASSERT_EQ(pn[i].second->grad().defined(), p1[i].second->grad().defined()) << p1[i].first;
    if (!p1[i].second->grad().defined()) continue;
    EXPECT_TRUE(close(pn[i].second->grad(), p1[i].second->grad(), rel)) << "gradient of " << p1[i].first;
  }
  // Adam's first step moves a weight by lr * g / (|g| + 1e-8): where g is near 0 a gradient
  // rounding of 1e-10 moves it by up to 2e-5 (lr / eps = 2e5). float32 updates are therefore
  // compared to 1 % of lr (measured: within 0.5 %), float64 ones to 1e-12.
  const double update_rel = dt == DType::F64 ? 1e-12 : 0.01 * 0.002;
  expect_state_close(ranks.student, one.student, update_rel, "student");
  expect_state_close(ranks.teacher, one.teacher, update_rel, "teacher");
}

INSTANTIATE_TEST_SUITE_P(Dist, GlobalBn,
                         ::testing::Values(Case{BnMode::Interleave, DType::F64}, Case{BnMode::Separate, DType::F64},
                                           Case{BnMode::Single, DType::F64}, Case{BnMode::Interleave, DType::F32},
                                           Case{BnMode::Separate, DType::F32}, Case{BnMode::Single, DType::F32},
                                           Case{BnMode::Interleave, DType::F64, false},
                                           Case{BnMode::Separate, DType::F32, false}),
                         case_name);

class LocalBn : public ::testing::TestWithParam<BnMode> {};

// --bn-sync local: the statistics of each BN call on a rank are those of the rank's rows of
// the chunk, run alone; --bn-sync global: those of the whole chunk on one rank.
TEST_P(LocalBn, EachRankHasTheStatisticsOfItsOwnShard) {
  const BnMode mode = GetParam();
  Communicator& w = world();
  Trainee local(DType::F64), global(DType::F64), alone(DType::F64), whole(DType::F64);
  const Tensor mixed = rand_normal({(kK + 1) * kB, 3, 8, 8}, 5, 0, DType::F64);
  BnRecorder rec_local, rec_global, rec_alone, rec_whole;
  local.student.set_bn_recorder(&rec_local);
  global.student.set_bn_recorder(&rec_global);
  alone.student.set_bn_recorder(&rec_alone);
  whole.student.set_bn_recorder(&rec_whole);
  forward_mixed(local.student, mixed, kB, mode, BnUpdate::All, StepRanks{&w, false});
  forward_mixed(global.student, mixed, kB, mode, BnUpdate::All, StepRanks{&w, true});
  forward_mixed(whole.student, mixed, kB, mode, BnUpdate::All);
  std::vector<Tensor> chunks = mode == BnMode::Single ? std::vector<Tensor>{mixed} : split(mixed, kB);
  if (mode == BnMode::Interleave) chunks = interleave(chunks, kB);
  for (const Tensor& c : chunks) {
    const int64_t rows = c.size(0) / w.size();
    alone.student(slice(c, rows * w.rank(), rows * (w.rank() + 1)));
  }
  const auto& l = rec_local.records();
  ASSERT_EQ(l.size(), rec_alone.records().size());
  ASSERT_EQ(rec_global.records().size(), rec_whole.records().size());
  ASSERT_GT(l.size(), 0u);
  for (size_t i = 0; i < l.size(); ++i) {
    const BnRecord &a = rec_alone.records()[i], &g = rec_global.records()[i], &h = rec_whole.records()[i];
    EXPECT_EQ(l[i].mean, a.mean) << l[i].layer << " call " << i;
    EXPECT_EQ(l[i].var, a.var) << l[i].layer << " call " << i;
    EXPECT_EQ(l[i].count, a.count);
    EXPECT_EQ(g.count, h.count);
    for (size_t ch = 0; ch < g.mean.size(); ++ch) {
      EXPECT_NEAR(g.mean[ch], h.mean[ch], 1e-12) << g.layer;
      EXPECT_NEAR(g.var[ch], h.var[ch], 1e-12 * std::max(1.0, h.var[ch])) << g.layer;
    }
  }
  // The ranks' own statistics differ (else the test would not tell local from global).
  if (w.size() > 1) {
    const auto all = w.all_gather_u64(static_cast<uint64_t>(std::llround(l[0].mean[0] * 1e12)));
    EXPECT_NE(all[0], all[1]);
  }
}

INSTANTIATE_TEST_SUITE_P(Dist, LocalBn, ::testing::Values(BnMode::Interleave, BnMode::Separate, BnMode::Single),
                         [](const ::testing::TestParamInfo<BnMode>& i) { return std::string(bn_mode_name(i.param)); });

// Several steps in each BN synchronization: every rank holds the same parameters, BN
// statistics, EMA and Adam state, bit for bit; a rank whose state differs stops the run.
TEST(DistTrain, RanksStayIdenticalAndADifferenceIsCaught) {
  Communicator& w = world();
  for (bool sync : {true, false}) {
    Trainee t(DType::F32);
    const TrainConfig cfg = step_config(BnMode::Interleave);
    for (int64_t s = 0; s < 3; ++s) {
      StepBatch b = global_batch(DType::F32, 20 + s);
      mixmatch_step(t.student, &t.teacher, t.adam, b, cfg, s, 10, StepRanks{&w, sync});
    }
    const uint64_t sum = training_state_checksum({&t.student, &t.teacher}, t.adam);
    const auto all = w.all_gather_u64(sum);
    for (int r = 1; r < w.size(); ++r) EXPECT_EQ(all[r], all[0]) << "rank " << r << (sync ? " global" : " local");
    EXPECT_NO_THROW(check_ranks_agree(w, sum, 3));
    if (w.size() > 1) {
      // One weight of rank 1 moved slightly: every rank stops, naming it.
      auto params = t.student.named_parameters();
      Tensor& p = *params[0].second;
      if (w.rank() == 1) {
        NoGrad ng;
        p.copy_from(mul(p, 1.0 + 1e-6));
      }
      const uint64_t bad = training_state_checksum({&t.student, &t.teacher}, t.adam);
      try {
        check_ranks_agree(w, bad, 3);
        ADD_FAILURE() << "a differing rank was not caught";
      } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("rank(s) 1 differ from rank 0"), std::string::npos) << e.what();
      }
    }
  }
}

// --precision bf16 on several ranks: bfloat16 activations, float32 gradients all-reduced, the
// synchronized statistics exchanged in float64; the ranks stay bit-identical in both BN
// synchronizations, and synchronized BN gives one process's bf16 step on the whole batch to
// bf16 rounding (the ranks' statistics combine to the whole batch's up to float64 rounding,
// which may move a stored bf16 value by one step).
TEST(DistTrain, Bf16KeepsTheRanksIdenticalAndSyncBnMatchesOneProcess) {
  Communicator& w = world();
  const PrecisionScope bf16(Precision::Bf16, Device::CPU, DType::F32);
  const TrainConfig cfg = step_config(BnMode::Interleave);
  for (bool sync : {false, true}) {
    Trainee t(DType::F32), one(DType::F32);
    for (int64_t s = 0; s < 2; ++s) {
      const StepBatch b = global_batch(DType::F32, 30 + s);
      const StepValues v = mixmatch_step(t.student, &t.teacher, t.adam, b, cfg, s, 10, StepRanks{&w, sync}).read();
      EXPECT_TRUE(std::isfinite(v.loss)) << "step " << s;
      const StepValues v1 = mixmatch_step(one.student, &one.teacher, one.adam, b, cfg, s, 10).read();
      if (sync) {
        EXPECT_NEAR(v.loss, v1.loss, 1e-2 * std::max(1.0, std::fabs(v1.loss))) << "step " << s;
      }
    }
    const auto all = w.all_gather_u64(training_state_checksum({&t.student, &t.teacher}, t.adam));
    for (int r = 1; r < w.size(); ++r) EXPECT_EQ(all[r], all[0]) << "rank " << r << (sync ? " global" : " local");
  }
}

// all_reduce_sum_bucketed: the sums over the ranks, times the scale, written into each tensor's
// storage (so every handle sharing it sees them), in order-preserving buckets of one dtype of
// at most 16 bytes here (a larger tensor alone): float32 [3] and [1] share one, then one each.
TEST(DistOps, BucketedAllReduceSumsIntoEveryTensor) {
  Communicator& w = world();
  const int r = w.rank(), n = w.size();
  const std::vector<std::pair<Shape, DType>> specs{
      {{3}, DType::F32}, {{1}, DType::F32}, {{2, 2}, DType::F64}, {{5}, DType::F32}, {{1}, DType::F64}};
  std::vector<Tensor> ts, handles;
  for (size_t i = 0; i < specs.size(); ++i) ts.push_back(Tensor::full(specs[i].first, (i + 1.0) * (r + 1), specs[i].second));
  handles = ts;  // shallow copies: the same storage
  CountingCommunicator counted(std::shared_ptr<Communicator>(&w, [](Communicator*) {}));
  all_reduce_sum_bucketed(ts, counted, 16, 0.5);
  EXPECT_EQ(counted.all_reduces, 4);
  for (size_t i = 0; i < specs.size(); ++i) {
    double want = 0;
    for (int q = 0; q < n; ++q) want += (i + 1.0) * (q + 1);
    for (double v : handles[i].to_vector()) EXPECT_EQ(v, 0.5 * want) << "tensor " << i;
  }
}

TEST(DistOps, CollectivesAndTheirGradients) {
  Communicator& w = world();
  const int r = w.rank(), n = w.size();
  Tensor x = Tensor::from_vector({1.0 + r, 10.0 * (r + 1)}, {2}, DType::F64);
  x.set_requires_grad(true);
  Tensor s = all_reduce_sum(x, w);
  double want0 = 0, want1 = 0;
  for (int q = 0; q < n; ++q) want0 += 1.0 + q, want1 += 10.0 * (q + 1);
  EXPECT_EQ(s.to_vector(), (std::vector<double>{want0, want1}));
  // Backward sums the ranks' incoming gradients: d/dx of sum_ranks (rank + 1) * s[0].
  mul(sum(slice(s, 0, 1)), r + 1.0).backward();
  EXPECT_EQ(x.grad().to_vector()[0], n * (n + 1) / 2.0);
  Tensor rows = Tensor::from_vector({double(r), double(r)}, {1, 2}, DType::F64);
  rows.set_requires_grad(true);
  Tensor all = all_gather_rows(rows, w);
  ASSERT_EQ(all.size(0), n);
  for (int q = 0; q < n; ++q) EXPECT_EQ(all.to_vector()[2 * q], q);
  mul(sum(all), 3.0).backward();
  EXPECT_EQ(rows.grad().to_vector(), (std::vector<double>{3, 3})) << "its own rows of the gradient";
}

}  // namespace
}  // namespace mmengine::testing
