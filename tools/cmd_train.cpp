// mmengine train / mmengine eval
#include <cstdio>
#include <functional>
#include <map>

#include "data/dataset.h"
#include "data/split.h"
#include "engine/dist.h"
#include "engine/file_io.h"
#include "layers/checkpoint.h"
#include "layers/wideresnet.h"
#include "mixmatch/evaluate.h"
#include "mixmatch/model_config.h"
#include "mixmatch/run_folder.h"
#include "mixmatch/run_settings.h"
#include "mixmatch/trainer.h"
#include "tools/commands.h"

namespace mmengine {

namespace {
// The flags a resumed run may change: they belong to one invocation and leave the experiment as
// it is (where it runs, how long, what it prints, how it prefetches).
bool allowed_on_resume(const std::string& flag) {
  for (const char* f : {"--time-limit", "--stop-after", "--log-every", "--prefetch", "--device", "--data", "--out",
                        "--eval-batch", "--resume", "--graph",
                        "--dist", "--collective-timeout"})
    if (flag == f) return true;
  return false;
}
}  // namespace

void add_train_command(CLI::App& app, CommandAction& action) {
  auto* cmd = app.add_subcommand("train", "train MixMatch (defaults: the paper's CIFAR-10 setting, GPU if present)");
  cmd->footer("Defaults shown are the paper preset's; --preset and --recipe change some (see --print-config).\n"
              "--resume takes every setting from the run's config.json; only --time-limit, --stop-after, --log-every,\n"
              "--prefetch, --device, --data, --eval-batch, --graph, --dist and --collective-timeout may be given again\n"
              "with other values. Data parallel: mpirun -np N mmengine train ... (the world size must stay the same on\n"
              "--resume).");
  cmd->option_defaults()->always_capture_default();
  // Resolution order: defaults, then --preset, then --recipe, then every flag given explicitly.
  struct Flags {
    TrainConfig parsed;
    std::string preset = "paper", recipe = "port";
    std::vector<std::pair<std::string, std::function<void(TrainConfig&, const TrainConfig&)>>> copy_if_given;
    std::vector<std::pair<std::string, std::function<void(TrainConfig&, const std::string&)>>> parse_if_given;
    std::map<std::string, std::string> words;  // values of the word-valued flags
  };
  auto f = std::make_shared<Flags>();
  auto opt = [&](const char* flag, auto TrainConfig::*field, const char* help) {
    f->copy_if_given.emplace_back(flag, [field](TrainConfig& d, const TrainConfig& s) { d.*field = s.*field; });
    return cmd->add_option(flag, f->parsed.*field, help);
  };
  auto word = [&](const char* flag, const char* default_value, const std::string& help,
                  std::function<void(TrainConfig&, const std::string&)> set) {
    f->words[flag] = default_value;
    cmd->add_option(flag, f->words[flag], help);
    f->parse_if_given.emplace_back(flag, std::move(set));
  };
  auto on_off = [](const std::string& v, const char* flag) {
    MM_CHECK(v == "on" || v == "off", flag, ": expected on or off, got '", v, "'");
    return v == "on";
  };
  cmd->add_option("--preset", f->preset, enum_help(kPresets));
  cmd->add_option("--recipe", f->recipe, enum_help(kRecipes));
  opt("--dataset", &TrainConfig::dataset, "cifar10, fashion-mnist or synthetic");
  opt("--data", &TrainConfig::data_dir, "dataset folder (empty: see `mmengine data info`)");
  opt("--labels", &TrainConfig::labels, "labeled images (divisible by the class count)");
  opt("--val-per-class", &TrainConfig::val_per_class, "validation images per class");
  opt("--seed", &TrainConfig::seed, "seed of the split, the weights and every random draw")->check(unsigned_64());
  opt("--epochs", &TrainConfig::epochs, "epochs");
  opt("--steps-per-epoch", &TrainConfig::steps_per_epoch, "steps per epoch");
  opt("--batch-size", &TrainConfig::batch_size, "labeled (and unlabeled) batch size B");
  opt("--K", &TrainConfig::K, "augmentations of each unlabeled image");
  opt("--T", &TrainConfig::T, "sharpening temperature");
  opt("--alpha", &TrainConfig::alpha, "MixUp Beta(alpha, alpha)");
  opt("--lambda-u", &TrainConfig::lambda_u, "weight of the unlabeled loss");
  opt("--lr", &TrainConfig::lr, "Adam learning rate");
  opt("--ema-decay", &TrainConfig::ema_decay, "EMA teacher decay");
  opt("--rampup-steps", &TrainConfig::rampup_steps, "lambda_u ramp length in steps (-1: the whole run)");
  opt("--bn-eps", &TrainConfig::bn_eps, "BatchNorm epsilon");
  opt("--bn-momentum", &TrainConfig::bn_momentum, "BatchNorm running-statistics momentum");
  opt("--depth", &TrainConfig::depth, "WideResNet depth (6n + 4, at most 1000)");
  opt("--widen", &TrainConfig::widen, "WideResNet widen factor (1..64)");
  opt("--device", &TrainConfig::device, "auto, cpu or cuda");
  opt("--out", &TrainConfig::out_dir, "run folder");
  opt("--stop-after", &TrainConfig::stop_after, "stop after this many steps (checkpointed; continue with --resume; 0: no stop)");
  opt("--time-limit", &TrainConfig::time_limit_minutes,
      "minutes from process start to summary.json, final evaluation and checkpoint included; stops early "
      "(checkpointed; continue with --resume), per invocation (0: no limit)");
  opt("--eval-every", &TrainConfig::eval_every, "epochs between evaluations");
  opt("--checkpoint-every", &TrainConfig::checkpoint_every, "epochs between checkpoints");
  opt("--eval-batch", &TrainConfig::eval_batch, "images per evaluation batch");
  opt("--max-eval-images", &TrainConfig::max_eval_images, "evaluate on at most this many validation/test images (0: all)");
  opt("--log-every", &TrainConfig::log_every, "steps between metric rows / log lines");
  opt("--prefetch", &TrainConfig::prefetch, "batches prepared ahead by the loader thread (0..64; 0: none)");
  opt("--collective-timeout", &TrainConfig::collective_timeout_s,
      "seconds a collective may wait for the other ranks before every rank ends with an error naming the missing one");
  cmd->add_flag("--resume", f->parsed.resume, "continue the run in --out from its last checkpoint, with its config.json");
  auto print_config = std::make_shared<bool>(false);
  cmd->add_flag("--print-config", *print_config, "print the resolved configuration (config.json) and exit");
  f->copy_if_given.emplace_back("--resume", [](TrainConfig& d, const TrainConfig& s) { d.resume = s.resume; });
  cmd->add_flag("--overwrite", f->parsed.overwrite, "start afresh in --out even if it holds a run");
  f->copy_if_given.emplace_back("--overwrite", [](TrainConfig& d, const TrainConfig& s) { d.overwrite = s.overwrite; });
  word("--bn-mode", "interleave", enum_help(kBnModes),
       [](TrainConfig& c, const std::string& v) { c.bn_mode = parse_bn_mode(v); });
  word("--lr-scale", "none", "none or sqrt (single pass: lr * sqrt(K + 1))", [](TrainConfig& c, const std::string& v) {
    MM_CHECK(v == "none" || v == "sqrt", "--lr-scale: expected none or sqrt, got '", v, "'");
    c.lr_scale_sqrt = v == "sqrt";
  });
  word("--ema", "on", "on or off", [on_off](TrainConfig& c, const std::string& v) { c.ema = on_off(v, "--ema"); });
  word("--ema-decay-buffers", "on", "on or off: the 0.02 lr decay covers BN buffers too (on: --decay-scope state, off: params)",
       [on_off](TrainConfig& c, const std::string& v) {
         c.decay_scope = on_off(v, "--ema-decay-buffers") ? DecayScope::State : DecayScope::Params;
       });
  word("--bn-update", "all", "which forward calls move BN running stats: " + enum_help(kBnUpdates),
       [](TrainConfig& c, const std::string& v) { c.bn_update = parse_bn_update(v); });
  word("--mixup-lambda", "batch", enum_help(kMixupLambdas),
       [](TrainConfig& c, const std::string& v) { c.mixup_lambda = parse_mixup_lambda(v); });
  word("--ema-scope", "state", "what the teacher averages: " + enum_help(kEmaScopes), [](TrainConfig& c, const std::string& v) {
    c.ema_scope = parse_ema_scope(v);
  });
  word("--decay-scope", "state", "what the 0.02 lr decay shrinks: " + enum_help(kDecayScopes),
       [](TrainConfig& c, const std::string& v) { c.decay_scope = parse_decay_scope(v); });
  word("--precision", "fp32", enum_help(kPrecisions),
       [](TrainConfig& c, const std::string& v) { c.precision = enum_parse(kPrecisions, "--precision", v); });
  word("--graph", "off", enum_help(kGraphModes),
       [](TrainConfig& c, const std::string& v) { c.graph = enum_parse(kGraphModes, "--graph", v); });
  word("--dist", "auto", "data parallel: " + dist_backend_help(),
       [](TrainConfig& c, const std::string& v) { c.dist = dist_backend_name(parse_dist_backend(v)); });
  word("--bn-sync", "global", "BN statistics across ranks: " + enum_help(kBnSyncs), [](TrainConfig& c, const std::string& v) { c.bn_sync = parse_bn_sync(v); });
  word("--conv-bias", "off", "on or off",
       [on_off](TrainConfig& c, const std::string& v) { c.conv_bias = on_off(v, "--conv-bias"); });
  // --resume: the run's config.json, plus the given flags that may change between invocations; a
  // given flag that would change the experiment is refused, naming it and both values.
  auto resumed = [f, cmd](const TrainConfig& requested) {
    const std::string path = requested.out_dir + "/config.json";
    MM_CHECK(path_exists(path), "--resume: ", path, " does not exist (no run to resume in --out ", requested.out_dir, ")");
    TrainConfig run = config_from_json(read_text_file(path, "the config.json of the run"), path);
    auto refuse = [&](const std::string& flag, const SettingChange& d) {
      MM_FAIL(flag, ": the run in ", requested.out_dir, " has ", d.key, " = ", d.before, ", this flag asks for ", d.after,
              "; --resume keeps the run's settings (", path, "): drop the flag, or start a new run in another --out");
    };
    if (cmd->count("--preset") && !run.preset.empty() && run.preset != f->preset)
      refuse("--preset", {"preset", run.preset, f->preset});
    if (cmd->count("--recipe") && run.recipe != f->recipe) refuse("--recipe", {"recipe", run.recipe, f->recipe});
    auto apply = [&](const std::string& flag, const std::function<void(TrainConfig&)>& set) {
      if (cmd->count(flag) == 0) return;
      TrainConfig changed = run;
      set(changed);
      SettingChange d;
      if (!allowed_on_resume(flag) && experiment_differs(run, changed, &d)) refuse(flag, d);
      run = changed;
    };
    for (auto& [flag, copy] : f->copy_if_given) apply(flag, [&, &copy = copy](TrainConfig& c) { copy(c, f->parsed); });
    for (auto& [flag, set] : f->parse_if_given)
      apply(flag, [&, &set = set, &flag = flag](TrainConfig& c) { set(c, f->words[flag]); });
    // Per invocation, never inherited: this invocation's limits.
    run.time_limit_minutes = requested.time_limit_minutes;
    run.stop_after = requested.stop_after;
    if (cmd->count("--device") == 0) run.device = "auto";
    if (cmd->count("--dist") == 0) run.dist = "auto";
    if (cmd->count("--collective-timeout") == 0) run.collective_timeout_s = TrainConfig().collective_timeout_s;
    run.out_dir = requested.out_dir;
    run.resume = true;
    return run;
  };
  cmd->callback([f, cmd, print_config, resumed, &action] {
    TrainConfig c;
    apply_preset(f->preset, c);
    apply_recipe(f->recipe, c);
    for (auto& [flag, copy] : f->copy_if_given)
      if (cmd->count(flag) > 0) copy(c, f->parsed);
    for (auto& [flag, set] : f->parse_if_given)
      if (cmd->count(flag) > 0) set(c, f->words[flag]);
    if (c.resume && !c.overwrite) c = resumed(c);
    if (*print_config) {
      action = [c] {
        validate(c);
        std::printf("%s", config_to_json(c, device_name(resolve_device(c.device))).c_str());
        return 0;
      };
      return;
    }
    action = [c] {
      const TrainSummary s = train_mixmatch(c);
      return s.signal != 0 ? 128 + s.signal : 0;  // the shell's convention for a run ended by a signal
    };
  });
}

void add_eval_command(CLI::App& app, CommandAction& action) {
  auto* cmd = app.add_subcommand("eval", "evaluate a model checkpoint on the test set (and the validation split)");
  cmd->footer("A checkpoint written by `mmengine train` records its model and data settings; they are used, and a\n"
              "flag that contradicts them is an error. The flags serve checkpoints from elsewhere.");
  cmd->option_defaults()->always_capture_default();
  struct Flags {
    std::string checkpoint, data, device = "auto", conv_bias = "off";
    RunSettings s;
  };
  auto f = std::make_shared<Flags>();
  cmd->add_option("--checkpoint", f->checkpoint, "a model .safetensors (best.safetensors of a run)")->required();
  cmd->add_option("--data", f->data, "dataset folder");
  cmd->add_option("--dataset", f->s.dataset, "cifar10, fashion-mnist or synthetic");
  cmd->add_option("--depth", f->s.depth, "WideResNet depth of the checkpoint");
  cmd->add_option("--widen", f->s.widen, "WideResNet widen factor of the checkpoint");
  cmd->add_option("--labels", f->s.labels, "the run's --labels (to rebuild its validation split)");
  cmd->add_option("--val-per-class", f->s.val_per_class, "the run's --val-per-class (to rebuild its validation split)");
  cmd->add_option("--seed", f->s.seed, "the run's --seed")->check(unsigned_64());
  cmd->add_option("--bn-eps", f->s.bn_eps, "BatchNorm epsilon of the checkpoint (google recipe: 1e-3)");
  cmd->add_option("--conv-bias", f->conv_bias, "on or off: convolution biases in the checkpoint (google recipe: on)")
      ->check(CLI::IsMember({"on", "off"}));
  cmd->add_option("--device", f->device, "auto, cpu or cuda");
  cmd->callback([f, cmd, &action] {
    f->s.conv_bias = f->conv_bias == "on";
    auto given = [cmd](const char* flag) { return given_flag(cmd, flag); };
    action = [f, given] {
      const Device dev = resolve_device(f->device);
      TensorFile file = load_safetensors(f->checkpoint);
      RunSettings s = f->s;
      apply_checkpoint_settings(file.metadata, f->checkpoint, given, s);
      TrainTest data = load_dataset(s.dataset, f->data);
      WideResNet net(wrn_for(data.train, s.depth, s.widen, s.bn_eps, s.conv_bias, 0));
      load_module_state(file, f->checkpoint, net, "", true);
      net.to(dev);
      std::vector<int64_t> test(data.test.count);
      for (int64_t i = 0; i < data.test.count; ++i) test[i] = i;
      EvalResult t = evaluate(net, data.test, test, dev);
      Split split = split_dataset(data.train, s.labels, s.val_per_class, s.seed);
      EvalResult v = evaluate(net, data.train, split.validation, dev);
      std::printf("%s: validation %.2f%% (loss %.4f, %lld images) | test %.2f%% (loss %.4f, %lld images) on %s\n",
                  f->checkpoint.c_str(), v.accuracy, v.loss, (long long)v.count, t.accuracy, t.loss, (long long)t.count,
                  device_name(dev));
      return 0;
    };
  });
}

}  // namespace mmengine
