// A one-rank communicator of a real backend (MPI on the CPU; NCCL on a GPU: the gpu-check.sh
// NCCL check) runs the data-parallel step through every collective (sharding, gathers,
// synchronized BN, the gradient all-reduce) and gives the plain step's losses and updates, bit
// for bit.
#include <gtest/gtest.h>

#include "engine/autograd.h"
#include "engine/dist.h"
#include "engine/kernel_version.h"
#include "engine/ops.h"
#include "engine/rng.h"
#include "layers/bn_recorder.h"
#include "mixmatch/ema.h"
#include "mixmatch/guess.h"
#include "mixmatch/step.h"
#include "tests/test_util.h"

namespace mmengine::testing {
namespace {

// Three data-parallel steps on one rank of c against three plain steps.
void expect_one_rank_steps_equal_plain_steps(Communicator& c, Device d, bool sync) {
  WideResNetConfig mc;
  mc.depth = 10;
  mc.widen_factor = 1;
  mc.bn_momentum = 0.1;
  WideResNet plain(mc), ranked(mc), plain_t(mc), ranked_t(mc);
  for (Module* m : std::vector<Module*>{&plain, &ranked, &plain_t, &ranked_t}) m->to(d);
  copy_state(plain, plain_t);
  copy_state(ranked, ranked_t);
  Adam a1(plain.named_parameters(), 0.002), a2(ranked.named_parameters(), 0.002);
  TrainConfig cfg;
  cfg.batch_size = 8;
  cfg.epochs = 1;
  cfg.steps_per_epoch = 4;
  for (int64_t s = 0; s < 3; ++s) {
    StepBatch b;
    b.step = s;
    b.x = rand_normal({8, 3, 8, 8}, 30 + s, 0, DType::F32, d);
    for (int i = 0; i < 8; ++i) b.labels.push_back(i % 10);
    for (int k = 0; k < cfg.K; ++k) b.u.push_back(rand_normal({8, 3, 8, 8}, 30 + s, 1 + k, DType::F32, d));
    const StepValues r1 = mixmatch_step(plain, &plain_t, a1, b, cfg, s, 10).read();
    const StepValues r2 = mixmatch_step(ranked, &ranked_t, a2, b, cfg, s, 10, StepRanks{&c, sync, true}).read();
    EXPECT_EQ(r2.loss, r1.loss) << "step " << s << (sync ? " global" : " local");
  }
  // On one rank synchronized BN is batch_norm_train bit for bit, the gathers, the gradient
  // all-reduce and the running-statistics average leave their data as it is, and the grouped
  // pass is the plain step's: every parameter, running statistic, EMA weight and Adam moment is
  // the plain step's, bit for bit.
  auto p1 = plain.named_state(), p2 = ranked.named_state();
  for (size_t i = 0; i < p1.size(); ++i) EXPECT_EQ(p2[i].second->to_vector(), p1[i].second->to_vector()) << p1[i].first;
  auto t1 = plain_t.named_state(), t2 = ranked_t.named_state();
  for (size_t i = 0; i < t1.size(); ++i) EXPECT_EQ(t2[i].second->to_vector(), t1[i].second->to_vector()) << t1[i].first;
  const auto m1 = a1.state(), m2 = a2.state();
  ASSERT_EQ(m1.size(), m2.size());
  for (size_t i = 0; i < m1.size(); ++i) EXPECT_EQ(m2[i].second.to_vector(), m1[i].second.to_vector()) << m1[i].first;
}

void expect_one_rank_step_matches(Communicator& c, Device d) {
  ASSERT_EQ(c.size(), 1);
  ASSERT_EQ(c.rank(), 0);
  // The collectives on one rank leave their data as it is.
  Tensor t = rand_normal({6, 2}, 4, 0, DType::F32, d), u = t.clone();
  c.all_reduce_sum(u);
  EXPECT_EQ(u.to_vector(), t.to_vector());
  EXPECT_EQ(c.all_gather_rows(t).to_vector(), t.to_vector());
  c.broadcast(u, 0);
  EXPECT_EQ(u.to_vector(), t.to_vector());
  EXPECT_EQ(c.all_gather_u64(42), std::vector<uint64_t>{42});

  // Synchronized BN, and local BN (whose running-statistics average over one rank is the
  // identity).
  for (bool sync : {true, false}) expect_one_rank_steps_equal_plain_steps(c, d, sync);
}

#ifdef MMENGINE_WITH_MPI
TEST(DistOneRank, MpiCommunicatorRunsTheStepLikeOneProcess) {
  expect_one_rank_step_matches(*make_mpi_communicator(60), Device::CPU);
}
#endif

#ifdef MMENGINE_WITH_NCCL
// On a GPU machine without MPI too: the NCCL communicator of one rank needs no launcher.
TEST(DistOneRank, CudaNcclCommunicatorRunsTheStepLikeOneProcess) {
  MM_SKIP_WITHOUT(Device::CUDA);
  expect_one_rank_step_matches(*make_nccl_communicator(60), Device::CUDA);
}
#endif

TEST(DistOneRank, ABackendTheBuildLacksIsAClearErrorNamingTheFlag) {
  for (DistBackend b : {DistBackend::Mpi, DistBackend::Nccl}) {
    if (dist_backend_built(b)) continue;
    expect_error_containing([&] { resolve_dist_backend(b, Device::CUDA); }, {"--dist", dist_backend_name(b), "this build has no"});
  }
  expect_error_containing([] { parse_dist_backend("gloo"); }, {"--dist", "auto, none, mpi or nccl", "gloo"});
  expect_error_containing([] { parse_bn_sync("half"); }, {"--bn-sync", "local", "global", "half"});
  if (dist_backend_built(DistBackend::Nccl))
    expect_error_containing([] { resolve_dist_backend(DistBackend::Nccl, Device::CPU); }, {"--dist nccl", "CUDA"});
}

// Synchronized BN sends one collective per BatchNorm call for all the chunks of a forward
// (the grouped pass: every chunk's statistics in one exchange) and one per call in backward;
// the logits of all chunks are gathered at once. Without the grouped-bn fusion: one per chunk.
TEST(DistOneRank, SynchronizedBnSendsOneCollectivePerLayerForAllChunks) {
  WideResNetConfig mc;
  mc.depth = 10;
  mc.widen_factor = 1;
  WideResNet model(mc);
  const int64_t B = 4;
  const Tensor mixed = rand_normal({3 * B, 3, 8, 8}, 7, 0, DType::F32);
  BnRecorder calls;  // the BatchNorm calls of one forward (the port skips some BatchNorms)
  model.set_bn_recorder(&calls);
  sum(model(slice(mixed, 0, B))).backward();
  const int64_t layers = static_cast<int64_t>(calls.records().size());
  model.set_bn_recorder(nullptr);
  int64_t trained = 0;  // with a gradient (the port's WideResNet leaves two BatchNorm outputs unused)
  for (BatchNorm2d* bn : model.batchnorms()) trained += bn->weight.grad().defined();
  ASSERT_GT(trained, 3);
  for (bool grouped : {true, false}) {
    const FusionScope fusion(Fusion::GroupedBatchNorm, grouped);
    CountingCommunicator ranks(single_rank_communicator());
    const StepRanks step_ranks{&ranks, true, true};
    for (BnMode mode : {BnMode::Interleave, BnMode::Separate}) {
      ranks.all_gathers = ranks.all_reduces = 0;
      model.zero_grad();
      Tensor logits = forward_mixed(model, mixed, B, mode, BnUpdate::All, step_ranks);
      const int64_t chunks = grouped ? 1 : 3;
      EXPECT_EQ(ranks.all_gathers, chunks * (layers + 1)) << bn_mode_name(mode) << (grouped ? " grouped" : " per chunk");
      sum(logits).backward();
      EXPECT_EQ(ranks.all_reduces, chunks * trained) << bn_mode_name(mode) << (grouped ? " grouped" : " per chunk");
    }
    ranks.all_gathers = 0;
    ForwardOptions guess;
    guess.bn_sync = &ranks;
    guess_labels(model, split(mixed, B), 0.5, guess);
    EXPECT_EQ(ranks.all_gathers, (grouped ? 1 : 3) * layers) << "the guess views" << (grouped ? " grouped" : "");
  }
}

// The collectives of a whole data-parallel step: with local BN the logits' two gathers (guess,
// mixed pass), the gradient all-reduce and the running statistics' average (one bucket each);
// with synchronized BN also one gather per BatchNorm call of each pass and one all-reduce per
// call that gets a gradient, and no running-statistics average.
TEST(DistOneRank, AStepSendsItsCollectivesBucketed) {
  WideResNetConfig mc;
  mc.depth = 10;
  mc.widen_factor = 1;
  WideResNet student(mc), teacher(mc);
  copy_state(student, teacher);
  Adam adam(student.named_parameters(), 0.002);
  TrainConfig cfg;
  cfg.batch_size = 4;
  cfg.epochs = 1;
  cfg.steps_per_epoch = 4;
  StepBatch b;
  b.x = rand_normal({4, 3, 8, 8}, 50, 0, DType::F32);
  for (int i = 0; i < 4; ++i) b.labels.push_back(i);
  for (int k = 0; k < cfg.K; ++k) b.u.push_back(rand_normal({4, 3, 8, 8}, 50, 1 + k, DType::F32));
  BnRecorder calls;  // the BatchNorm calls of one forward
  student.set_bn_recorder(&calls);
  student(b.x);
  const int64_t layers = static_cast<int64_t>(calls.records().size());
  student.set_bn_recorder(nullptr);
  for (bool sync : {false, true}) {
    CountingCommunicator ranks(single_rank_communicator());
    mixmatch_step(student, &teacher, adam, b, cfg, 0, 10, StepRanks{&ranks, sync, true}).read();
    int64_t trained = 0;
    for (BatchNorm2d* bn : student.batchnorms()) trained += bn->weight.grad().defined();
    EXPECT_EQ(ranks.all_gathers, sync ? 2 * layers + 2 : 2) << (sync ? "global" : "local");
    EXPECT_EQ(ranks.all_reduces, sync ? trained + 1 : 2) << (sync ? "global" : "local");
    EXPECT_EQ(ranks.broadcasts, 0);
  }
}

}  // namespace
}  // namespace mmengine::testing
