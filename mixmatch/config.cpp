#include "mixmatch/config.h"

#include <cmath>

#include "engine/enum_table.h"
#include "kernels/error.h"

namespace mmengine {

double TrainConfig::effective_lr() const {
  return (bn_mode == BnMode::Single && lr_scale_sqrt) ? lr * std::sqrt(static_cast<double>(K + 1)) : lr;
}

const char* bn_mode_name(BnMode m) { return enum_name(kBnModes, m); }
BnMode parse_bn_mode(const std::string& s) { return enum_parse(kBnModes, "--bn-mode", s); }
const char* bn_update_name(BnUpdate u) { return enum_name(kBnUpdates, u); }
BnUpdate parse_bn_update(const std::string& s) { return enum_parse(kBnUpdates, "--bn-update", s); }
MixupLambda parse_mixup_lambda(const std::string& s) { return enum_parse(kMixupLambdas, "--mixup-lambda", s); }
EmaScope parse_ema_scope(const std::string& s) { return enum_parse(kEmaScopes, "--ema-scope", s); }
DecayScope parse_decay_scope(const std::string& s) { return enum_parse(kDecayScopes, "--decay-scope", s); }
const char* bn_sync_name(BnSync b) { return enum_name(kBnSyncs, b); }
BnSync parse_bn_sync(const std::string& s) { return enum_parse(kBnSyncs, "--bn-sync", s); }

void apply_preset(const std::string& name, TrainConfig& c) {
  const Preset preset = enum_parse(kPresets, "--preset", name);
  c.preset = name;
  switch (preset) {
    case Preset::Paper:
      return;
    case Preset::Quick:  // a few minutes on 2 CPU cores
      c.dataset = "fashion-mnist";
      c.labels = 100;
      c.depth = 10;
      c.widen = 2;
      c.batch_size = 32;
      c.epochs = 4;
      c.steps_per_epoch = 75;
      c.max_eval_images = 2000;
      c.log_every = 25;
      c.ema_decay = 0.99;    // the EMA horizon (1 / (1 - decay) steps) must be well inside a 300-step run
      c.bn_momentum = 0.01;  // likewise for the BN running statistics (0.001 would keep ~20% of their init)
      c.out_dir = "runs/quick";
      return;
    case Preset::Synthetic:  // seconds: for tests and CI
      c.dataset = "synthetic";
      c.labels = 100;
      c.val_per_class = 50;
      c.depth = 10;
      c.widen = 1;
      c.batch_size = 32;
      c.epochs = 3;
      c.steps_per_epoch = 40;
      c.log_every = 20;
      c.ema_decay = 0.95;  // a 120-step run: a short EMA horizon
      c.bn_momentum = 0.05;
      c.out_dir = "runs/synthetic";
      return;
    case Preset::Fast:
      // The paper's CIFAR-10 / WRN-28-2 / B = 64 setting on a budget of minutes (issue 13's
      // `--time-limit 5` target): 8192 steps, 16 evaluations of the full validation and test
      // sets, and horizons scaled to the run. The paper's values are tuned for 2^20 steps: an
      // EMA decay of 0.999 averages ~1000 steps (an eighth of this run, most of it from a much
      // worse model early on), a BN momentum of 0.001 keeps ~0.1% of its initial statistics
      // only after ~7000 calls. 0.995 (200 steps) and 0.01 (~700 calls to 0.1%) fit the
      // budget. The recipe still decides the ramp-up (port: over the whole run; tools/gpu-train.sh
      // passes --rampup-steps of a quarter of its planned run); the values have not yet been
      // tuned on a GPU (docs/perf-notes.md).
      c.epochs = 16;
      c.steps_per_epoch = 512;
      c.eval_batch = 512;
      c.log_every = 100;
      c.ema_decay = 0.995;
      c.bn_momentum = 0.01;
      c.out_dir = "runs/fast";
      return;
  }
}

void apply_recipe(const std::string& name, TrainConfig& c) {
  switch (enum_parse(kRecipes, "--recipe", name)) {
    case Recipe::Port:
      c.recipe = "port";
      c.bn_update = BnUpdate::All;  // all 5 forward passes (2 guess + 3 mixed)
      c.rampup_steps = -1;          // linear over the whole run
      c.mixup_lambda = MixupLambda::Batch;
      c.ema_scope = EmaScope::State;      // every float tensor, BN buffers too
      c.decay_scope = DecayScope::State;  // likewise
      c.bn_eps = 1e-5;
      c.conv_bias = false;
      return;
    case Recipe::Google:
      c.recipe = "google";
      c.bn_update = BnUpdate::First;  // only interleaved batch 0; the guess passes none
      c.rampup_steps = 16384;         // 2^20 images of batch 64
      c.mixup_lambda = MixupLambda::Sample;
      c.ema_scope = EmaScope::Params;       // trainable variables only
      c.decay_scope = DecayScope::Weights;  // conv and linear weights only
      c.bn_eps = 1e-3;
      c.conv_bias = true;
      return;
  }
}

void validate(const TrainConfig& c) {
  auto positive = [](int64_t v, const char* flag) { MM_CHECK(v > 0, flag, ": must be positive, got ", v); };
  positive(c.labels, "--labels");
  positive(c.epochs, "--epochs");
  positive(c.steps_per_epoch, "--steps-per-epoch");
  positive(c.batch_size, "--batch-size");
  positive(c.eval_every, "--eval-every");
  positive(c.checkpoint_every, "--checkpoint-every");
  positive(c.eval_batch, "--eval-batch");
  positive(c.log_every, "--log-every");
  MM_CHECK(c.epochs <= kMaxTotalSteps / c.steps_per_epoch, "--epochs ", c.epochs, " x --steps-per-epoch ",
           c.steps_per_epoch, ": more than 2^40 training steps (expected a run this engine can count)");
  MM_CHECK(c.batch_size <= (int64_t(1) << 20), "--batch-size: at most 2^20, got ", c.batch_size);
  MM_CHECK(c.labels <= (int64_t(1) << 31), "--labels: at most 2^31, got ", c.labels);
  MM_CHECK(c.val_per_class <= (int64_t(1) << 31), "--val-per-class: at most 2^31, got ", c.val_per_class);
  MM_CHECK(c.eval_batch <= (int64_t(1) << 20), "--eval-batch: at most 2^20, got ", c.eval_batch);
  MM_CHECK(c.val_per_class >= 1, "--val-per-class: must be >= 1 (validation picks the best model), got ", c.val_per_class);
  MM_CHECK(c.max_eval_images >= 0, "--max-eval-images: must be >= 0, got ", c.max_eval_images);
  MM_CHECK(c.K >= 1 && c.K <= 16, "--K: must be in 1..16, got ", c.K);
  MM_CHECK(c.T > 0 && std::isfinite(c.T), "--T: must be positive, got ", c.T);
  MM_CHECK(c.alpha > 0 && std::isfinite(c.alpha), "--alpha: must be positive, got ", c.alpha);
  MM_CHECK(c.lambda_u >= 0 && std::isfinite(c.lambda_u), "--lambda-u: must be >= 0, got ", c.lambda_u);
  MM_CHECK(c.lr > 0 && std::isfinite(c.lr), "--lr: must be positive, got ", c.lr);
  MM_CHECK(c.ema_decay > 0 && c.ema_decay < 1, "--ema-decay: must be in (0, 1), got ", c.ema_decay);
  MM_CHECK(c.bn_momentum > 0 && c.bn_momentum <= 1, "--bn-momentum: must be in (0, 1], got ", c.bn_momentum);
  MM_CHECK(c.bn_eps > 0, "--bn-eps: must be positive, got ", c.bn_eps);
  MM_CHECK(c.rampup_steps >= -1, "--rampup-steps: must be >= 0 (or -1 for the whole run), got ", c.rampup_steps);
  check_wrn_size(c.depth, c.widen);
  MM_CHECK(c.stop_after >= 0, "--stop-after: must be >= 0, got ", c.stop_after);
  MM_CHECK(std::isfinite(c.time_limit_minutes) && c.time_limit_minutes >= 0 && c.time_limit_minutes <= 1e6,
           "--time-limit: must be minutes in [0, 1e6] (0: no limit), got ", c.time_limit_minutes);
  MM_CHECK(c.prefetch >= 0 && c.prefetch <= kMaxPrefetch, "--prefetch: must be in 0..", kMaxPrefetch,
           " (each prepared batch holds (K + 1) x batch-size images; more gain nothing and can exhaust memory), got ",
           c.prefetch);
  MM_CHECK(!c.out_dir.empty(), "--out: must not be empty");
  MM_CHECK(std::isfinite(c.collective_timeout_s) && c.collective_timeout_s > 0 && c.collective_timeout_s <= 1e6,
           "--collective-timeout: must be seconds in (0, 1e6], got ", c.collective_timeout_s);
  MM_CHECK(c.world_size >= 1, "world size: must be >= 1, got ", c.world_size);
  MM_CHECK(c.batch_size % c.world_size == 0, "--batch-size ", c.batch_size, ": must be divisible by the number of ranks (",
           c.world_size, "), since every chunk of the mixed batch is split by rows across the ranks");
  MM_CHECK(!(c.resume && c.overwrite), "--resume and --overwrite exclude each other");
  MM_CHECK(!(c.lr_scale_sqrt && c.bn_mode != BnMode::Single), "--lr-scale sqrt: only meaningful with --bn-mode single");
}

void check_wrn_size(int64_t depth, int64_t widen) {
  MM_CHECK(depth >= 10 && depth <= 1000 && (depth - 4) % 6 == 0,
           "--depth: must be 6n + 4 in 10..1000 (10, 16, 22, 28, ...; deeper nets do not fit memory), got ", depth);
  MM_CHECK(widen >= 1 && widen <= 64, "--widen: must be in 1..64, got ", widen);
  // Parameters of the 3x3 convolutions, which dominate: per block of group g two convs of
  // (16 widen 2^g)^2 x 9 weights. Student, teacher, gradients and two Adam moments: 5 copies.
  const double blocks = static_cast<double>(depth - 4) / 6, w = static_cast<double>(widen);
  const double params = blocks * 2 * 9 * 256 * w * w * (1 + 4 + 16);
  MM_CHECK(params <= 5e8, "--depth ", depth, " --widen ", widen, ": about ", static_cast<int64_t>(params / 1e6),
           "M parameters, more than the 500M this engine allows (5 float32 copies would need ",
           static_cast<int64_t>(params * 20 / 1e9), " GB; WRN-28-10 has 36M)");
}

}  // namespace mmengine
