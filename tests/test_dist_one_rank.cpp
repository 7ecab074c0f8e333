// A one-rank communicator of a real backend (MPI on the CPU; NCCL on a GPU: the gpu-check.sh
// NCCL check) runs the data-parallel step through every collective (sharding, gathers,
// synchronized BN, the gradient all-reduce) and gives the plain step's losses and updates.
#include <gtest/gtest.h>

#include "engine/dist.h"
#include "engine/rng.h"
#include "mixmatch/ema.h"
#include "mixmatch/step.h"
#include "tests/test_util.h"

namespace mmengine::testing {
namespace {

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
    const StepValues r2 = mixmatch_step(ranked, &ranked_t, a2, b, cfg, s, 10, StepRanks{&c, true, true}).read();
    EXPECT_NEAR(r2.loss, r1.loss, 1e-4 * std::max(1.0, std::fabs(r1.loss))) << "step " << s;
  }
  // Synchronized BN sums against the two-pass kernel: float32 updates to 2 % of lr (see
  // tests/dist/test_dist_step.cpp for why Adam's first steps are compared at that scale).
  auto p1 = plain.named_state(), p2 = ranked.named_state();
  for (size_t i = 0; i < p1.size(); ++i)
    EXPECT_TRUE(all_close(*p2[i].second, *p1[i].second, Tolerance{1e-3, 3 * 0.02 * 0.002})) << p1[i].first;
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

}  // namespace
}  // namespace mmengine::testing
