// The two reference recipes and each switch between them (issue "Both reference recipes").
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>

#include "engine/ops.h"
#include "engine/rng.h"
#include "layers/layers.h"
#include "layers/wideresnet.h"
#include "mixmatch/config.h"
#include "mixmatch/ema.h"
#include "mixmatch/mixup.h"
#include "mixmatch/step.h"
#include "mixmatch/trainer.h"
#include "tests/test_util.h"

using namespace mmengine;
using namespace mmengine::testing;

namespace {
// A BatchNorm as a whole "model", so forward_mixed's calls are visible one by one.
struct BnModel : Module {
  BatchNorm2d bn{1, 0.5, 1e-5, DType::F64};
  BnModel() { register_module("bn", &bn); }
  Tensor forward(const Tensor& x, const ForwardOptions& o) override { return bn(x, o); }
};

std::pair<int, std::string> run(const std::string& args) { return run_cli(args); }
}  // namespace

TEST(BnUpdate, FirstMovesOnlyInterleavedBatchZero) {
  // Three chunks of 2 rows; chunk c holds the values c*10 + {0, 1} (after interleaving, whatever
  // rows batch 0 holds, its mean is what the running mean moves towards).
  Tensor mixed = Tensor::from_vector({0, 1, 10, 11, 20, 21}, {6, 1, 1, 1}, DType::F64);
  for (auto [update, want_calls] : {std::pair{BnUpdate::All, 3}, std::pair{BnUpdate::First, 1}}) {
    BnModel m;
    forward_mixed(m, mixed, 2, BnMode::Interleave, update);
    EXPECT_EQ(m.bn.num_batches_tracked, want_calls);
    if (update == BnUpdate::First) {
      // B=2, nu=2: offsets 0, 0, 1, 2. Interleaved batch 0 = slice 0 of chunk 0 (empty), slice 1
      // (row 0) from chunk 1 and slice 2 (row 1) from chunk 2: values {10, 21}, mean 15.5.
      EXPECT_NEAR(m.bn.running_mean.item(), 0.5 * 15.5, 1e-12);
    }
  }
  BnModel single;
  forward_mixed(single, mixed, 2, BnMode::Single, BnUpdate::First);
  EXPECT_EQ(single.bn.num_batches_tracked, 1);
  EXPECT_NEAR(single.bn.running_mean.item(), 0.5 * 10.5, 1e-12);  // the mean of all six rows
}

TEST(Ema, GoogleScopesTouchExactlyTheIntendedTensors) {
  WideResNetConfig cfg;
  cfg.depth = 10;
  cfg.widen_factor = 1;
  cfg.dtype = DType::F64;
  cfg.conv_bias = true;
  WideResNet student(cfg), teacher(cfg);
  teacher.to(Device::CPU);
  student(rand_normal({2, 3, 8, 8}, 1, 0, DType::F64));  // move the student's running stats
  auto before_s = student.named_state();
  std::map<std::string, std::vector<double>> s0, t0;
  for (auto& [n, t] : student.named_state()) s0[n] = t->to_vector();
  for (auto& [n, t] : teacher.named_state()) t0[n] = t->to_vector();
  EmaSpec spec;
  spec.decay = 0.9;
  spec.weight_decay = 0.1;
  spec.scope = EmaScope::Params;
  spec.decay_scope = DecayScope::Weights;
  ema_step(teacher, student, spec);
  std::set<std::string> params;
  for (auto& [n, p] : student.named_parameters()) params.insert(n);
  for (auto& [n, t] : student.named_state()) {
    const auto now = t->to_vector(), teach = [&] {
      for (auto& [tn, tt] : teacher.named_state())
        if (tn == n) return tt->to_vector();
      return std::vector<double>{};
    }();
    const bool is_weight = params.count(n) && t->dim() >= 2;
    for (size_t i = 0; i < now.size(); ++i) {
      ASSERT_NEAR(now[i], s0[n][i] * (is_weight ? 0.9 : 1.0), 1e-15) << n << ": only conv/linear weights decay";
      if (params.count(n))
        ASSERT_NEAR(teach[i], 0.9 * t0[n][i] + 0.1 * s0[n][i], 1e-15) << n << ": parameters are averaged";
      else
        ASSERT_EQ(teach[i], now[i]) << n << ": buffers are the student's";
    }
  }
}

TEST(MixUp, PerSampleLambdasAreOnePerRow) {
  MixUpDraw d = draw_mixup(9, 0.75, 1, 4, true);
  ASSERT_EQ(d.per_row.size(), 9u);
  for (double l : d.per_row) EXPECT_GE(l, 0.5);
  EXPECT_NE(d.per_row[0], d.per_row[1]);
  MixUpDraw hand{0, {1, 2, 0}, {0.9, 0.6, 0.75}};
  Tensor a = Tensor::from_vector({0, 1, 10, 11, 20, 21}, {3, 2}, DType::F64);
  auto v = mix(a, hand).to_vector();
  // row 0: 0.9 * [0 1] + 0.1 * [10 11]; row 1: 0.6 * [10 11] + 0.4 * [20 21]; row 2: 0.75 * [20 21] + 0.25 * [0 1]
  std::vector<double> want{1, 2, 14, 15, 15, 16};
  for (int i = 0; i < 6; ++i) EXPECT_NEAR(v[i], want[i], 1e-12);
}

TEST(Recipe, GoogleResolvesToTheOriginalsColumn) {
  TrainConfig c;
  apply_recipe("google", c);
  const std::string j = config_to_json(c, "cpu");
  for (const char* want : {"\"recipe\": \"google\"", "\"bn_update\": \"first\"", "\"rampup_steps\": 16384",
                           "\"mixup_lambda\": \"sample\"", "\"ema_scope\": \"params\"", "\"decay_scope\": \"weights\"",
                           "\"bn_eps\": 0.001", "\"conv_bias\": true"})
    EXPECT_NE(j.find(want), std::string::npos) << want << " in\n" << j;
  TrainConfig p;
  apply_recipe("port", p);
  const std::string jp = config_to_json(p, "cpu");
  for (const char* want : {"\"bn_update\": \"all\"", "\"mixup_lambda\": \"batch\"", "\"ema_scope\": \"state\"",
                           "\"decay_scope\": \"state\"", "\"conv_bias\": false"})
    EXPECT_NE(jp.find(want), std::string::npos) << want;
  EXPECT_THROW(apply_recipe("tf", c), Error);
}

TEST(Cli, RecipeFlagsAreResolvedAndExplicitFlagsWin) {
  auto [rc, out] = run("train --recipe google --bn-update all --print-config");
  ASSERT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("\"recipe\": \"google\""), std::string::npos) << out;
  EXPECT_NE(out.find("\"bn_update\": \"all\""), std::string::npos) << "explicit flag overrides the recipe: " << out;
  EXPECT_NE(out.find("\"mixup_lambda\": \"sample\""), std::string::npos) << out;
  auto [rc2, out2] = run("train --preset quick --epochs 7 --print-config");
  ASSERT_EQ(rc2, 0) << out2;
  EXPECT_NE(out2.find("\"dataset\": \"fashion-mnist\""), std::string::npos) << out2;
  EXPECT_NE(out2.find("\"epochs\": 7"), std::string::npos) << out2;
}

// Every word-valued setting parses from, and prints as, the names of its one table; an unknown
// word is an error listing the table's choices.
TEST(Config, EnumTablesRoundTripAndListTheirChoices) {
  for (const auto& e : kBnModes) EXPECT_EQ(parse_bn_mode(e.name), e.value);
  for (const auto& e : kBnUpdates) EXPECT_STREQ(bn_update_name(parse_bn_update(e.name)), e.name);
  for (const auto& e : kDecayScopes) EXPECT_EQ(parse_decay_scope(e.name), e.value);
  EXPECT_EQ(enum_choices(kPresets), "paper, quick, synthetic or fast");
  try {
    parse_ema_scope("everything");
    ADD_FAILURE() << "no error";
  } catch (const Error& err) {
    EXPECT_EQ(std::string(err.what()).rfind("--ema-scope: expected state or params, got 'everything'", 0), 0u) << err.what();
  }
  for (const auto& p : kPresets) {
    TrainConfig c;
    apply_preset(p.name, c);
    EXPECT_EQ(c.preset, p.name);
    EXPECT_NO_THROW(validate(c)) << p.name;
  }
  TrainConfig fast;
  apply_preset("fast", fast);
  apply_recipe("port", fast);
  EXPECT_EQ(fast.dataset, "cifar10");
  EXPECT_EQ(fast.total_steps(), 8192);
  EXPECT_EQ(fast.depth, 28);
  EXPECT_LT(1 / (1 - fast.ema_decay), fast.total_steps() / 16.0) << "the EMA horizon fits the run";
  EXPECT_THROW(apply_preset("faster", fast), Error);
}

TEST(Cli, BadValuesGetOneLineErrorsNamingTheFlag) {
  for (auto [args, flag] : std::vector<std::pair<std::string, std::string>>{
           {"train --epochs 0 --print-config", "--epochs"},
           {"train --batch-size -4 --print-config", "--batch-size"},
           {"train --bn-mode twice --print-config", "--bn-mode"},
           {"train --ema maybe --print-config", "--ema"},
           {"train --recipe tf --print-config", "--recipe"},
           {"train --device tpu --print-config", "--device"},
           {"train --preset synthetic --labels 105 --out /tmp/mm-cli-never", "--labels"},
           {"train --dataset cifar10 --data /nonexistent --out /tmp/mm-cli-never", "data_batch_1.bin"},
           {"eval --checkpoint /nonexistent.safetensors --dataset synthetic --depth 10 --widen 1", "/nonexistent.safetensors"}}) {
    auto [rc, out] = run(args);
    EXPECT_NE(rc, 0) << args;
    EXPECT_NE(out.find(flag), std::string::npos) << args << " -> " << out;
    EXPECT_LE(std::count(out.begin(), out.end(), '\n'), 2) << "one line: " << out;
  }
}

// --time-limit: the run stops by itself, checkpointed, with a summary that says so; --resume
// continues it. Synthetic preset with far more steps than fit in 0.2 minutes (12 s). The limit
// is met by predicting the next step, evaluation and checkpoint from measured costs, so a
// loaded machine (CI runs tests in parallel, the sanitizer build is ~5x slower) can overrun by
// about one step: the bound checked is the limit plus half of it, once more than the first
// step ran.
TEST(Cli, TimeLimitStopsCleanlyAndResumes) {
  const std::string dir = "/tmp/mm-cli-time-limit-" + std::to_string(::getpid());
  auto [rc, out] = run("train --preset synthetic --epochs 1000 --eval-every 1000 --max-eval-images 100 --time-limit 0.2 "
                       "--out " + dir);
  ASSERT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("stopped on time at step"), std::string::npos) << out;
  std::ifstream sj(dir + "/summary.json");
  std::string summary((std::istreambuf_iterator<char>(sj)), {});
  EXPECT_NE(summary.find("\"complete\": false"), std::string::npos) << summary;
  EXPECT_NE(summary.find("\"stopped_by\": \"time-limit\""), std::string::npos) << summary;
  EXPECT_EQ(summary.find("\"final_teacher_test\": -1"), std::string::npos) << "a final evaluation ran: " << summary;
  EXPECT_FALSE(run_complete(dir));
  const nlohmann::json j = nlohmann::json::parse(summary);
  // A run always does its first step (a sanitizer build on a loaded machine may need longer
  // than the whole limit for it); after that, the limit holds within half of itself.
  if (j["steps_done"].get<int64_t>() > 1) {
    EXPECT_LE(j["process_seconds"].get<double>(), 12.0 * 1.5) << summary;
  }
  // The limit is per invocation: a resumed one continues from the checkpoint and stops on time again.
  auto [rc2, out2] = run("train --preset synthetic --epochs 1000 --eval-every 1000 --max-eval-images 100 --time-limit 0.1 "
                         "--resume --out " + dir);
  ASSERT_EQ(rc2, 0) << out2;
  EXPECT_EQ(out2.find("steps 0.."), std::string::npos) << "resumed from its checkpoint: " << out2;
  EXPECT_NE(out2.find("stopped on time at step"), std::string::npos) << out2;
  auto [rc3, out3] = run("train --preset synthetic --time-limit -1 --print-config");
  EXPECT_NE(rc3, 0);
  EXPECT_NE(out3.find("--time-limit"), std::string::npos) << out3;
  std::system(("rm -rf " + dir).c_str());
}
