// Every setting of a MixMatch training run. Defaults are the paper's / the PyTorch port's;
// `mmengine train` fills this from its flags and writes it (resolved) to config.json.
#pragma once
#include <cstdint>
#include <string>

#include "engine/dtype.h"
#include "engine/enum_table.h"
#include "engine/precision.h"

namespace mmengine {

enum class BnMode { Interleave, Separate, Single };
enum class BnUpdate { All, First, NoneInGuess };  // which forward calls move BN running stats
enum class MixupLambda { Batch, Sample };          // one lambda per batch, or one per row
enum class EmaScope { State, Params };             // what the teacher averages
enum class DecayScope { State, Params, Weights };  // what the 0.02 lr decay shrinks
enum class GraphMode { Off, On };                  // the step eager, or one CUDA graph replayed
enum class BnSync { Local, Global };               // BN statistics of each rank's rows, or of all ranks
enum class Preset { Paper, Quick, Synthetic, Fast };
enum class Recipe { Port, Google };

// The enum tables (engine/enum_table.h): flag words, config.json words, help.
inline constexpr EnumEntry<BnMode> kBnModes[] = {
    {BnMode::Interleave, "interleave", "the port: each of the K+1 forward calls sees rows of every part"},
    {BnMode::Separate, "separate", "K+1 calls, each on one part: labeled, then each unlabeled augmentation"},
    {BnMode::Single, "single", "one forward call on the whole mixed batch"}};
inline constexpr EnumEntry<BnUpdate> kBnUpdates[] = {
    {BnUpdate::All, "all", "every forward call moves the running statistics"},
    {BnUpdate::First, "first", "only the first mixed call (the TF code)"},
    {BnUpdate::NoneInGuess, "none-in-guess", "all but the label-guessing calls"}};
inline constexpr EnumEntry<MixupLambda> kMixupLambdas[] = {{MixupLambda::Batch, "batch", "one lambda per batch"},
                                                           {MixupLambda::Sample, "sample", "one lambda per row"}};
inline constexpr EnumEntry<EmaScope> kEmaScopes[] = {{EmaScope::State, "state", "parameters and BN buffers"},
                                                     {EmaScope::Params, "params", "trainable parameters only"}};
inline constexpr EnumEntry<DecayScope> kDecayScopes[] = {
    {DecayScope::State, "state", "parameters and BN buffers"},
    {DecayScope::Params, "params", "trainable parameters"},
    {DecayScope::Weights, "weights", "conv and linear weights only"}};
inline constexpr EnumEntry<Preset> kPresets[] = {
    {Preset::Paper, "paper", "the paper: CIFAR-10, WRN-28-2, 1024 epochs of 1024 steps"},
    {Preset::Quick, "quick", "Fashion-MNIST, WRN-10-2, a few CPU minutes"},
    {Preset::Synthetic, "synthetic", "a generated dataset, seconds"},
    {Preset::Fast, "fast", "CIFAR-10, WRN-28-2, 8192 steps, EMA and BN horizons scaled to them: a few GPU minutes"}};
inline constexpr EnumEntry<Recipe> kRecipes[] = {{Recipe::Port, "port", "the PyTorch port"},
                                                 {Recipe::Google, "google", "the original TF code"}};
inline constexpr EnumEntry<GraphMode> kGraphModes[] = {
    {GraphMode::Off, "off", "every step launched eagerly"},
    {GraphMode::On, "on", "CUDA: the step captured once as a CUDA graph and replayed every step, same numbers"}};
inline constexpr EnumEntry<BnSync> kBnSyncs[] = {
    {BnSync::Local, "local", "each rank's own batch statistics, the TF original's multi-GPU behaviour"},
    {BnSync::Global, "global", "synchronized BN: the statistics of every rank's rows, the single-GPU result"}};

struct TrainConfig {
  std::string preset = "paper";  // the --preset the run started from (recorded in config.json)
  // data
  std::string dataset = "cifar10", data_dir;
  int64_t labels = 4000, val_per_class = 500;
  uint64_t seed = 0;
  // schedule
  int64_t epochs = 1024, steps_per_epoch = 1024, batch_size = 64;
  int64_t eval_every = 1;        // epochs between evaluations
  int64_t checkpoint_every = 1;  // epochs between checkpoints
  int64_t eval_batch = 256;
  int64_t max_eval_images = 0;   // 0 = whole validation and test sets
  // MixMatch
  int K = 2;
  double T = 0.5, alpha = 0.75, lambda_u = 75, lr = 0.002, ema_decay = 0.999;
  BnMode bn_mode = BnMode::Interleave;
  bool lr_scale_sqrt = false;
  bool ema = true;
  // the recipe switches (PyTorch port defaults)
  std::string recipe = "port";
  BnUpdate bn_update = BnUpdate::All;
  int64_t rampup_steps = -1;  // -1: the whole run
  MixupLambda mixup_lambda = MixupLambda::Batch;
  EmaScope ema_scope = EmaScope::State;
  DecayScope decay_scope = DecayScope::State;
  double bn_eps = 1e-5;
  double bn_momentum = 0.001;  // the port's value, tuned for ~1M steps
  bool conv_bias = false;
  // model
  int64_t depth = 28, widen = 2;
  // arithmetic (engine/precision.h): fp32, or TF32 tensor-core GEMMs and convolutions on CUDA
  Precision precision = Precision::Fp32;
  // run
  std::string device = "auto", out_dir = "runs/mixmatch";
  bool resume = false;
  bool overwrite = false;  // start afresh even if --out holds a run (its files are replaced)
  int64_t stop_after = 0;  // > 0: stop (with a checkpoint) after this many steps of this invocation
  // > 0: wall-clock minutes from process start to summary.json (final evaluation and checkpoint
  // included) for this invocation; the run stops early, checkpointed and resumable, to meet it.
  double time_limit_minutes = 0;
  int prefetch = 2;
  int64_t log_every = 50;
  // --graph on: the training step captured once as a CUDA graph and replayed every step (CUDA
  // only, same numbers as off); a setting of the invocation, not of the experiment.
  GraphMode graph = GraphMode::Off;
  // data parallel (engine/dist.h): the backend and collective timeout are per invocation;
  // world_size (the ranks the run was started with, recorded in config.json) and bn_sync are
  // part of the experiment.
  std::string dist = "auto";
  double collective_timeout_s = 300;
  int64_t world_size = 1;
  BnSync bn_sync = BnSync::Global;

  int64_t total_steps() const { return epochs * steps_per_epoch; }
  int64_t resolved_rampup() const { return rampup_steps < 0 ? total_steps() : rampup_steps; }
  double effective_lr() const;  // lr, times sqrt(K + 1) for the single pass with --lr-scale sqrt
};

const char* bn_mode_name(BnMode m);
BnMode parse_bn_mode(const std::string& s);
const char* bn_update_name(BnUpdate u);
BnUpdate parse_bn_update(const std::string& s);
const char* bn_sync_name(BnSync b);
BnSync parse_bn_sync(const std::string& s);
MixupLambda parse_mixup_lambda(const std::string& s);
EmaScope parse_ema_scope(const std::string& s);
DecayScope parse_decay_scope(const std::string& s);
// The two reference recipes (the design note's table): "port" (YU1ut/MixMatch-pytorch, the
// seed, the defaults) or "google" (google-research/mixmatch). Sets every switch they differ in.
void apply_recipe(const std::string& name, TrainConfig& c);
// Presets (kPresets): "paper" (the defaults), "quick", "synthetic", "fast". Applied before the
// recipe and explicit flags.
void apply_preset(const std::string& name, TrainConfig& c);
// Limits that keep every product of flags far from 64-bit overflow and inside memory.
constexpr int64_t kMaxTotalSteps = int64_t(1) << 40;  // epochs x steps-per-epoch
constexpr int kMaxPrefetch = 64;                       // batches the loader thread holds ahead
// Checks every value; errors name the flag and what was expected.
void validate(const TrainConfig& c);
// Throws unless WRN-depth-widen is a WideResNet this engine can hold in memory; the error
// names --depth / --widen (shared by train, eval and bn-probe).
void check_wrn_size(int64_t depth, int64_t widen);
// config.json: every setting (resolved), plus the device used and the commit.
std::string config_to_json(const TrainConfig& c, const std::string& device_used);
// The settings of a config.json written by config_to_json; errors name `path` and the key.
TrainConfig config_from_json(const std::string& text, const std::string& path);

// A setting in which two configurations differ as experiments: everything but the settings of
// one invocation (device, --out, --data, --time-limit, --stop-after, --log-every, --prefetch,
// --eval-batch), which --resume may change.
struct SettingChange {
  std::string key, before, after;  // config.json key and values
};
bool experiment_differs(const TrainConfig& before, const TrainConfig& after, SettingChange* first_change);

}  // namespace mmengine
