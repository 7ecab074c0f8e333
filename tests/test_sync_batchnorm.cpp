// Synchronized BatchNorm (engine/dist_ops.h: the phases of kernels/batchnorm.h with a
// collective between them) on every device, into NaN-poisoned outputs, float32, float64 and
// bfloat16 activations, with row groups, fused LeakyReLU and running statistics:
// - on one rank it gives batch_norm_train's numbers bit for bit (forward, statistics, running
//   statistics, every gradient);
// - R ranks' shards, each run through the real op with the collectives played by hand (the
//   moments every rank sends are recorded, then handed back gathered / summed), give each
//   shard's rows of the whole batch's result (on the same device, and against the CPU twin),
//   the whole batch's statistics and running statistics, and parameter gradients that sum to
//   the whole batch's.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <tuple>

#include "engine/autograd.h"
#include "engine/dist.h"
#include "engine/kernel_version.h"
#include "engine/dist_ops.h"
#include "engine/ops_nn.h"
#include "engine/rng.h"
#include "layers/bn_recorder.h"
#include "layers/layers.h"
#include "tests/test_util.h"

using namespace mmengine;
using namespace mmengine::testing;

namespace {
class SyncBatchNorm : public ::testing::TestWithParam<Device> {
 protected:
  void SetUp() override { MM_SKIP_WITHOUT(GetParam()); }
};

// Rank `rank` of `ranks` whose two collectives are played by the test: until `gathered` /
// `reduced` are set, all_gather_rows records what the rank sends (and answers with R copies
// of it) and all_reduce_sum records it (and leaves it); afterwards they answer with those.
class PlayedRanks : public Communicator {
 public:
  PlayedRanks(int rank, int ranks) { rank_ = rank, size_ = ranks; }
  DistBackend backend() const override { return DistBackend::None; }
  Tensor all_gather_rows(const Tensor& local) override {
    if (gathered.defined()) return gathered;
    sent_moments = local.clone();
    return concat(std::vector<Tensor>(size_, local));
  }
  void all_reduce_sum(Tensor& t) override {
    if (reduced.defined()) return t.copy_from(reduced);
    sent_grad_sums = t.clone();
  }
  void broadcast(Tensor&, int) override { MM_FAIL("not used"); }
  std::vector<uint64_t> all_gather_u64(uint64_t) override { MM_FAIL("not used"); }
  void all_reduce_sum_host(std::vector<double>&) override { MM_FAIL("not used"); }
  void broadcast_bytes(void*, size_t, int) override { MM_FAIL("not used"); }
  Tensor gathered, reduced, sent_moments, sent_grad_sums;
};

struct BnOut {
  Tensor y, mean, var, running_mean, running_var, gx, gg, gb;
};

// One training-mode call on x (float32/float64 values, cast to `dt` when bfloat16) with G row
// groups, LeakyReLU `slope` (< 0: none), running statistics moved by groups 0 and 2, and the
// backward of sum(y * r); synchronized over `comm` when given.
// `moments` (defined): the precomputed moments handed to the op (BatchNormTrainOptions::moments).
BnOut run_bn(const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& r, int64_t G, double slope,
             DType dt, Device d, Communicator* comm, bool param_grads = true, const Tensor& moments = {}) {
  const DType pt = dt == DType::BF16 ? DType::F32 : dt;
  const int64_t C = gamma.size(0);
  Tensor xd = x.to(d);
  xd.set_requires_grad(true);
  Tensor gd = gamma.to(d), bd = beta.to(d);
  gd.set_requires_grad(param_grads);
  bd.set_requires_grad(param_grads);
  BnOut o;
  o.running_mean = rand_uniform({C}, 5, 0, pt, d, -1, 1);
  o.running_var = rand_uniform({C}, 6, 0, pt, d, 0.5, 2);
  BatchNormTrainOptions opt;
  opt.groups = G;
  opt.leaky_slope = slope;
  opt.running_mean = o.running_mean;
  opt.running_var = o.running_var;
  opt.momentum = 0.25;
  opt.update_mask = G > 2 ? 0b101u : 0b1u;
  if (moments.defined()) opt.moments = moments.to(d);
  BatchStats st;
  const Tensor in = cast(xd, dt);
  o.y = comm ? batch_norm_train_sync(in, gd, bd, 1e-5, &st, *comm, opt) : batch_norm_train(in, gd, bd, 1e-5, &st, opt);
  o.mean = st.mean;
  o.var = st.var;
  sum(mul(cast(o.y, pt), r.to(d))).backward();
  o.gx = xd.grad(), o.gg = gd.grad(), o.gb = bd.grad();
  return o;
}

// The same bits (a sign of zero or a NaN payload included), not just equal values.
void expect_identical(const Tensor& got, const Tensor& want, const std::string& what) {
  ASSERT_EQ(got.shape(), want.shape()) << what;
  ASSERT_EQ(got.dtype(), want.dtype()) << what;
  const Tensor a = got.to(Device::CPU), b = want.to(Device::CPU);
  EXPECT_EQ(std::memcmp(a.raw(), b.raw(), a.nbytes()), 0) << what << " is not bit-identical";
}

// Rank r's rows of a whole batch of G groups of R * n rows: rows [r n, (r + 1) n) of each group.
Tensor shard_rows(const Tensor& whole, int64_t G, int R, int r) {
  const int64_t n = whole.size(0) / G / R;
  std::vector<Tensor> parts;
  for (int64_t g = 0; g < G; ++g) parts.push_back(slice(whole, (g * R + r) * n, (g * R + r + 1) * n));
  return concat(parts);
}

struct Case {
  Shape shape;  // of one rank's rows (the shard test's whole batch has R times as many)
  int64_t groups;
  double slope;
};
// (The CUDA grid splits a group's rows S = min(rows, ceil(512 / C)) ways.)
const Case kCases[] = {{{6, 5, 7, 3}, 3, 0.1},    // 2 rows per rank and group
                       {{6, 19, 4, 5}, 1, -1},    // 6 rows per rank, as many splits
                       {{9, 7, 1, 1}, 3, 0.1},    // 1x1 maps: 3 values per channel, rank and group
                       {{8, 130, 1, 1}, 1, -1},   // fewer splits (4) than rows (8)
                       {{2, 3, 17, 17}, 1, 0.1}};  // an image plane wider than a block

Tolerance tol_of(DType dt) {
  // float32: the statistics combined in float64 then rounded, so a value may move by an ulp;
  // bfloat16: by one bf16 rounding step.
  return dt == DType::F64 ? Tolerance{1e-12, 1e-12} : dt == DType::F32 ? Tolerance{1e-5, 1e-6} : Tolerance{1e-2, 1e-3};
}
}  // namespace

TEST_P(SyncBatchNorm, OneRankIsBatchNormTrainBitForBit) {
  const Device d = GetParam();
  PoisonScope poison;
  auto one = single_rank_communicator();
  for (DType dt : {DType::F32, DType::F64, DType::BF16})
    for (const Case& c : kCases) {
      const DType vt = dt == DType::BF16 ? DType::F32 : dt;
      const int64_t C = c.shape[1];
      Tensor x = add(mul(rand_normal(c.shape, 1, 0, vt), 3.0), 2.0);
      Tensor gamma = rand_uniform({C}, 2, 0, vt, Device::CPU, 0.5, 1.5), beta = rand_uniform({C}, 3, 0, vt, Device::CPU, -1, 1);
      Tensor r = rand_normal(c.shape, 4, 0, vt);
      const BnOut plain = run_bn(x, gamma, beta, r, c.groups, c.slope, dt, d, nullptr);
      const BnOut synced = run_bn(x, gamma, beta, r, c.groups, c.slope, dt, d, one.get());
      const std::string what = std::string(dtype_name(dt)) + " " + describe(x) + " groups " + std::to_string(c.groups);
      expect_identical(synced.y, plain.y, "y " + what);
      expect_identical(synced.mean, plain.mean, "mean " + what);
      expect_identical(synced.var, plain.var, "var " + what);
      expect_identical(synced.running_mean, plain.running_mean, "running mean " + what);
      expect_identical(synced.running_var, plain.running_var, "running var " + what);
      expect_identical(synced.gx, plain.gx, "grad x " + what);
      expect_identical(synced.gg, plain.gg, "grad gamma " + what);
      expect_identical(synced.gb, plain.gb, "grad beta " + what);
      // Without parameter gradients (a frozen BatchNorm): the input gradient alone.
      const BnOut frozen = run_bn(x, gamma, beta, r, c.groups, c.slope, dt, d, one.get(), false);
      expect_identical(frozen.gx, plain.gx, "grad x, frozen parameters, " + what);
      EXPECT_FALSE(frozen.gg.defined() || frozen.gb.defined()) << what;
    }
}

// Moments handed in (BatchNormTrainOptions::moments, what the conv-bn-stats fusion passes)
// replace the statistics pass: given exactly the moments that pass computes (as one rank sends
// them), batch_norm_train and its synchronized form give their own numbers bit for bit, and
// the synchronized form sends the given moments to the other ranks. Wrong moments are refused.
TEST_P(SyncBatchNorm, GivenMomentsReplaceTheStatisticsPass) {
  const Device d = GetParam();
  PoisonScope poison;
  for (DType dt : {DType::F32, DType::F64, DType::BF16})
    for (const Case& c : {kCases[0], kCases[2]}) {  // (the grouped cases: the plumbing, not the kernels, is tested)
      const DType vt = dt == DType::BF16 ? DType::F32 : dt;
      const int64_t C = c.shape[1];
      Tensor x = add(mul(rand_normal(c.shape, 1, 0, vt), 3.0), 2.0);
      Tensor gamma = rand_uniform({C}, 2, 0, vt, Device::CPU, 0.5, 1.5), beta = rand_uniform({C}, 3, 0, vt, Device::CPU, -1, 1);
      Tensor r = rand_normal(c.shape, 4, 0, vt);
      const std::string what = std::string(dtype_name(dt)) + " " + describe(x) + " groups " + std::to_string(c.groups);
      PlayedRanks own(0, 1);
      const BnOut plain = run_bn(x, gamma, beta, r, c.groups, c.slope, dt, d, nullptr);
      const BnOut synced = run_bn(x, gamma, beta, r, c.groups, c.slope, dt, d, &own);
      const Tensor moments = own.sent_moments.to(Device::CPU);
      ASSERT_EQ(moments.numel(), 2 * c.groups * C) << what;
      PlayedRanks given_rank(0, 1);
      const BnOut given = run_bn(x, gamma, beta, r, c.groups, c.slope, dt, d, nullptr, true, moments);
      const BnOut given_synced = run_bn(x, gamma, beta, r, c.groups, c.slope, dt, d, &given_rank, true, moments);
      expect_identical(given_rank.sent_moments, own.sent_moments, "sent moments " + what);
      for (const auto* out : {&given, &given_synced}) {
        const BnOut& want = out == &given ? plain : synced;
        const std::string w = (out == &given ? "given moments, " : "given moments, synchronized, ") + what;
        expect_identical(out->y, want.y, "y " + w);
        expect_identical(out->mean, want.mean, "mean " + w);
        expect_identical(out->var, want.var, "var " + w);
        expect_identical(out->running_mean, want.running_mean, "running mean " + w);
        expect_identical(out->running_var, want.running_var, "running var " + w);
        expect_identical(out->gx, want.gx, "grad x " + w);
        expect_identical(out->gg, want.gg, "grad gamma " + w);
        expect_identical(out->gb, want.gb, "grad beta " + w);
      }
    }
  // Other moments than x's own are the ones used: sums shifted by n * delta and M2 times 4 give
  // mean + delta and 4 var (the statistics, the running statistics, y), on both forms.
  for (DType dt : {DType::F32, DType::F64}) {
    const Case& c = kCases[0];
    const int64_t G = c.groups, C = c.shape[1], n = c.shape[0] / G * c.shape[2] * c.shape[3];
    Tensor x = add(mul(rand_normal(c.shape, 1, 0, dt), 3.0), 2.0);
    Tensor gamma = rand_uniform({C}, 2, 0, dt, Device::CPU, 0.5, 1.5), beta = rand_uniform({C}, 3, 0, dt, Device::CPU, -1, 1);
    Tensor r = rand_normal(c.shape, 4, 0, dt);
    PlayedRanks own(0, 1);
    const BnOut plain = run_bn(x, gamma, beta, r, G, -1, dt, d, &own);
    std::vector<double> m = own.sent_moments.to_vector();
    const double delta = 0.75;
    for (int64_t i = 0; i < G * C; ++i) m[i] += static_cast<double>(n) * delta, m[G * C + i] *= 4;
    const Tensor doctored = Tensor::from_vector(m, {2 * G * C}, DType::F64, Device::CPU);
    PlayedRanks other(0, 1);
    for (Communicator* comm : {static_cast<Communicator*>(nullptr), static_cast<Communicator*>(&other)}) {
      const BnOut got = run_bn(x, gamma, beta, r, G, -1, dt, d, comm, true, doctored);
      const std::string what = std::string(dtype_name(dt)) + (comm ? " synchronized" : "") + ", doctored moments";
      const std::vector<double> pm = plain.mean.to_vector(), pv = plain.var.to_vector(), gm = got.mean.to_vector(),
                                gv = got.var.to_vector(), prm = plain.running_mean.to_vector(),
                                grm = got.running_mean.to_vector(), prv = plain.running_var.to_vector(),
                                grv = got.running_var.to_vector();
      for (size_t i = 0; i < pm.size(); ++i) {
        EXPECT_NEAR(gm[i], pm[i] + delta, 1e-5) << what;
        EXPECT_NEAR(gv[i], 4 * pv[i], 1e-5 * pv[i]) << what;
      }
      // Groups 0 and 2 move the running statistics (momentum 0.25, unbiased variance):
      // mean + delta m (2 - m), var + 3 u m ((1 - m) v0 + v2).
      const double mom = 0.25, u = static_cast<double>(n) / static_cast<double>(n - 1);
      for (int64_t ch = 0; ch < C; ++ch) {
        EXPECT_NEAR(grm[ch], prm[ch] + delta * mom * (2 - mom), 1e-5) << what;
        EXPECT_NEAR(grv[ch], prv[ch] + 3 * u * mom * ((1 - mom) * pv[ch] + pv[2 * C + ch]), 1e-5 * (1 + prv[ch])) << what;
      }
      // y = (x - mean) / sqrt(var + eps) * gamma + beta with the doctored statistics: for the same x
      // it is (plain y - beta) / 2 - delta / (2 sd) * gamma + beta, approximately.
      const std::vector<double> py = plain.y.to_vector(), gy = got.y.to_vector(), gam = gamma.to_vector(), bet = beta.to_vector();
      const int64_t hw = c.shape[2] * c.shape[3];
      for (size_t k = 0; k < py.size(); ++k) {
        const int64_t row = static_cast<int64_t>(k) / (C * hw), ch = (static_cast<int64_t>(k) / hw) % C, grp = row / (c.shape[0] / G);
        const double sd = std::sqrt(pv[grp * C + ch] + 1e-5);
        const double want = (py[k] - bet[ch]) / 2 - delta / (2 * sd) * gam[ch] + bet[ch];
        EXPECT_NEAR(gy[k], want, 1e-4 * (1 + std::fabs(want))) << what << " element " << k;
      }
    }
  }
  Tensor x = rand_normal({6, 4, 3, 3}, 1, 0, DType::F32, d), gamma = Tensor::full({4}, 1.0, DType::F32, d),
         beta = Tensor::zeros({4}, DType::F32, d);
  BatchNormTrainOptions o;
  o.groups = 3;
  for (const Tensor& bad : {Tensor::zeros({2 * 4}, DType::F64, d), Tensor::zeros({2 * 3 * 4}, DType::F32, d)}) {
    o.moments = bad;
    expect_error_containing([&] { batch_norm_train(x, gamma, beta, 1e-5, nullptr, o); },
                            {"batch_norm: the given moments must be 2 x 3 groups x 4 channels of float64 on"});
  }
}

// The layer: BatchNorm2d with a one-rank communicator equals BatchNorm2d alone, bit for bit,
// under every switch of the BatchNorm fusions (row groups in one call or one call per group,
// running statistics moved in the kernel or by elementwise ops, LeakyReLU fused or not):
// outputs, running statistics, counters and the recorded statistics.
TEST_P(SyncBatchNorm, LayerUnderEveryFusionSwitchEqualsOneProcess) {
  const Device d = GetParam();
  auto one = single_rank_communicator();
  for (int switches = 0; switches < 8; ++switches) {
    const FusionScope grouped(Fusion::GroupedBatchNorm, switches & 1), running(Fusion::BnRunningInKernel, switches & 2),
        leaky(Fusion::BnLeakyRelu, switches & 4);
    auto run = [&](Communicator* comm) {
      BatchNorm2d bn(6, 0.2, 1e-5, DType::F32);
      bn.to(d);
      BnRecorder rec;
      bn.set_bn_recorder(&rec);
      ForwardOptions o;
      o.groups = {{true, "a"}, {false, "b"}, {true, "c"}};
      o.bn_sync = comm;
      const Tensor x = add(mul(rand_normal({9, 6, 5, 3}, 31, 0, DType::F32, d), 2.0), 1.0);
      std::vector<Tensor> out{bn.forward_leaky_relu(x, o, 0.1), bn.running_mean, bn.running_var,
                              Tensor::full({1}, static_cast<double>(bn.num_batches_tracked))};
      for (const BnRecord& r : rec.records()) {
        out.push_back(Tensor::from_vector(r.mean, {static_cast<int64_t>(r.mean.size())}, DType::F64));
        out.push_back(Tensor::from_vector(r.var, {static_cast<int64_t>(r.var.size())}, DType::F64));
        out.push_back(Tensor::full({1}, static_cast<double>(r.count), DType::F64));
      }
      return out;
    };
    const auto plain = run(nullptr), synced = run(one.get());
    ASSERT_EQ(plain.size(), synced.size()) << "switches " << switches;
    for (size_t i = 0; i < plain.size(); ++i)
      expect_identical(synced[i], plain[i], "switches " + std::to_string(switches) + " output " + std::to_string(i));
  }
}

TEST_P(SyncBatchNorm, RanksShardsGiveTheWholeBatchResult) {
  const Device d = GetParam();
  PoisonScope poison;
  constexpr int R = 3;
  // (bf16 activations: the combine is the same float64 code; on the emulated device the bf16
  // rounds are left to the one-rank test, to keep CI's sanitizer run short.)
  const std::vector<DType> dtypes = d == Device::CPU || !cuda_emulated()
                                        ? std::vector<DType>{DType::F64, DType::F32, DType::BF16}
                                        : std::vector<DType>{DType::F64, DType::F32};
  for (DType dt : dtypes)
    for (const Case& c : kCases) {
      const DType vt = dt == DType::BF16 ? DType::F32 : dt;
      const int64_t C = c.shape[1], G = c.groups;
      Shape shape = c.shape;
      shape[0] *= R;  // the whole batch: G groups of R shards
      Tensor x = add(mul(rand_normal(shape, 11, 0, vt), 3.0), 2.0);
      Tensor gamma = rand_uniform({C}, 12, 0, vt, Device::CPU, 0.5, 1.5), beta = rand_uniform({C}, 13, 0, vt, Device::CPU, -1, 1);
      Tensor r = rand_normal(shape, 14, 0, vt);
      const BnOut whole = run_bn(x, gamma, beta, r, G, c.slope, dt, d, nullptr);
      // The CPU twin: the reference every device's sharded result is held to as well.
      const BnOut cpu = run_bn(x, gamma, beta, r, G, c.slope, dt, Device::CPU, nullptr);
      const Tolerance twin_tol = dt == DType::BF16 ? Tolerance{1e-2, 1e-2} : reduction_tol(dt);
      std::vector<PlayedRanks> ranks;
      for (int q = 0; q < R; ++q) ranks.emplace_back(q, R);
      auto run_rank = [&](int q) {
        return run_bn(shard_rows(x, G, R, q), gamma, beta, shard_rows(r, G, R, q), G, c.slope, dt, d, &ranks[q]);
      };
      // Round 1: what each rank sends in the forward; round 2: with the statistics gathered, what
      // each sends in the backward; round 3: the whole exchange.
      for (int q = 0; q < R; ++q) run_rank(q);
      std::vector<Tensor> sent;
      for (auto& q : ranks) sent.push_back(q.sent_moments);
      const Tensor gathered = concat(sent);
      ASSERT_EQ(gathered.shape(), (Shape{R, 2 * G * C}));
      for (auto& q : ranks) q.gathered = gathered;
      for (int q = 0; q < R; ++q) run_rank(q);
      Tensor reduced = ranks[0].sent_grad_sums;
      for (int q = 1; q < R; ++q) reduced = add(reduced, ranks[q].sent_grad_sums);
      for (auto& q : ranks) q.reduced = reduced;
      const Tolerance tol = tol_of(dt);
      const std::string what = std::string(dtype_name(dt)) + " " + describe(x) + " groups " + std::to_string(G);
      Tensor gg_sum, gb_sum;
      for (int q = 0; q < R; ++q) {
        const BnOut part = run_rank(q);
        const std::string rank_what = what + " rank " + std::to_string(q);
        EXPECT_TRUE(all_close(cast(part.y, vt), shard_rows(cast(whole.y, vt), G, R, q), tol)) << "y " << rank_what;
        EXPECT_TRUE(all_close(part.gx, shard_rows(whole.gx, G, R, q), tol)) << "grad x " << rank_what;
        EXPECT_TRUE(all_close(cast(part.y, vt), shard_rows(cast(cpu.y, vt), G, R, q), twin_tol)) << "y vs CPU " << rank_what;
        EXPECT_TRUE(all_close(part.gx, shard_rows(cpu.gx, G, R, q), twin_tol)) << "grad x vs CPU " << rank_what;
        for (auto [got, want, name] : {std::tuple{part.mean, whole.mean, "mean"}, {part.var, whole.var, "var"},
                                       {part.running_mean, whole.running_mean, "running mean"},
                                       {part.running_var, whole.running_var, "running var"}})
          EXPECT_TRUE(all_close(got, want, tol_of(vt))) << name << " " << rank_what;
        gg_sum = q == 0 ? part.gg : add(gg_sum, part.gg);
        gb_sum = q == 0 ? part.gb : add(gb_sum, part.gb);
      }
      // This rank's own parameter gradients: their sum over the ranks is the whole batch's.
      const Tolerance sum_tol = dt == DType::F64 ? Tolerance{1e-12, 1e-12} : Tolerance{1e-4, 1e-4};
      EXPECT_TRUE(all_close(gg_sum, whole.gg, sum_tol)) << "grad gamma " << what;
      EXPECT_TRUE(all_close(gb_sum, whole.gb, sum_tol)) << "grad beta " << what;
    }
}

INSTANTIATE_TEST_SUITE_P(Devices, SyncBatchNorm, ::testing::Values(Device::CPU, Device::CUDA),
                         [](const auto& info) { return param_name(info.param); });

// Bad input is refused with the op's name: ranks that disagree on the shape of the exchange.
TEST(SyncBatchNormErrors, RanksThatSendOtherStatisticsAreNamed) {
  PlayedRanks rank(0, 2);
  rank.gathered = Tensor::zeros({2, 4}, DType::F64);  // as from a BatchNorm of 2 channels, not 3
  Tensor x = rand_normal({4, 3, 2, 2}, 1, 0, DType::F32);
  Tensor gamma = Tensor::full({3}, 1.0, DType::F32), beta = Tensor::zeros({3}, DType::F32);
  expect_error_containing([&] { batch_norm_train_sync(x, gamma, beta, 1e-5, nullptr, rank); },
                          {"batch_norm (synchronized)", "float64[2, 4]", "expected [2, 6]", "every rank must run the same BatchNorm"});
}
