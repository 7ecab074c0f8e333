// mmengine train / mmengine eval
#include <cstdio>

#include "data/dataset.h"
#include "data/split.h"
#include "layers/checkpoint.h"
#include "layers/wideresnet.h"
#include "mixmatch/evaluate.h"
#include "mixmatch/trainer.h"
#include "tools/commands.h"

namespace mmengine {

namespace {
// A preset replaces the defaults; flags given explicitly still override it (they are applied
// after the preset, see apply_preset's caller).
void apply_preset(const std::string& name, TrainConfig& c) {
  if (name == "paper") return;
  if (name == "quick") {  // a few minutes on 2 CPU cores: Fashion-MNIST, WRN-10-2
    c.dataset = "fashion-mnist";
    c.labels = 100;
    c.depth = 10;
    c.widen = 2;
    c.batch_size = 32;
    c.epochs = 4;
    c.steps_per_epoch = 75;
    c.max_eval_images = 2000;
    c.log_every = 25;
    c.ema_decay = 0.99;  // the EMA horizon (1 / (1 - decay) steps) must be well inside a 300-step run
    c.bn_momentum = 0.01;  // likewise for the BN running statistics (0.001 would keep ~20% of their init)
    c.out_dir = "runs/quick";
    return;
  }
  if (name == "synthetic") {  // seconds: the generated dataset, for tests and CI
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
  }
  MM_FAIL("--preset: expected paper, quick or synthetic, got '", name, "'");
}
}  // namespace

void add_train_command(CLI::App& app, CommandAction& action) {
  auto* cmd = app.add_subcommand("train", "train MixMatch (defaults: the paper's CIFAR-10 setting, GPU if present)");
  struct Flags {
    TrainConfig c;
    std::string preset = "paper", bn_mode = "interleave", lr_scale = "none", ema = "on", ema_decay_buffers = "on",
                bn_update = "all";
  };
  auto f = std::make_shared<Flags>();
  TrainConfig& c = f->c;
  cmd->add_option("--preset", f->preset, "paper (default), quick (Fashion-MNIST, a few CPU minutes) or synthetic");
  cmd->add_option("--dataset", c.dataset, "cifar10, fashion-mnist or synthetic");
  cmd->add_option("--data", c.data_dir, "dataset folder (default: see `mmengine data info`)");
  cmd->add_option("--labels", c.labels, "labeled images (divisible by the class count)");
  cmd->add_option("--val-per-class", c.val_per_class, "validation images per class");
  cmd->add_option("--seed", c.seed, "seed of the split, the weights and every random draw");
  cmd->add_option("--epochs", c.epochs, "epochs");
  cmd->add_option("--steps-per-epoch", c.steps_per_epoch, "steps per epoch");
  cmd->add_option("--batch-size", c.batch_size, "labeled (and unlabeled) batch size B");
  cmd->add_option("--K", c.K, "augmentations of each unlabeled image");
  cmd->add_option("--T", c.T, "sharpening temperature");
  cmd->add_option("--alpha", c.alpha, "MixUp Beta(alpha, alpha)");
  cmd->add_option("--lambda-u", c.lambda_u, "weight of the unlabeled loss");
  cmd->add_option("--lr", c.lr, "Adam learning rate");
  cmd->add_option("--ema-decay", c.ema_decay, "EMA teacher decay");
  cmd->add_option("--bn-mode", f->bn_mode, "interleave, separate or single");
  cmd->add_option("--lr-scale", f->lr_scale, "none or sqrt (single pass: lr * sqrt(K + 1))");
  cmd->add_option("--ema", f->ema, "on or off");
  cmd->add_option("--ema-decay-buffers", f->ema_decay_buffers, "on or off: decay the student's BN buffers by 0.02 lr too");
  cmd->add_option("--bn-update", f->bn_update, "which forward calls update BN running stats: all, first, none-in-guess");
  cmd->add_option("--rampup-steps", c.rampup_steps, "lambda_u ramp length in steps (-1: the whole run)");
  cmd->add_option("--bn-eps", c.bn_eps, "BatchNorm epsilon");
  cmd->add_option("--bn-momentum", c.bn_momentum, "BatchNorm running-statistics momentum");
  cmd->add_option("--depth", c.depth, "WideResNet depth (6n + 4)");
  cmd->add_option("--widen", c.widen, "WideResNet widen factor");
  cmd->add_option("--device", c.device, "auto, cpu or cuda");
  cmd->add_option("--out", c.out_dir, "run folder");
  cmd->add_flag("--resume", c.resume, "continue the run in --out from its last checkpoint");
  cmd->add_option("--stop-after", c.stop_after, "stop after this many steps (checkpointed; continue with --resume)");
  cmd->add_option("--eval-every", c.eval_every, "epochs between evaluations");
  cmd->add_option("--checkpoint-every", c.checkpoint_every, "epochs between checkpoints");
  cmd->add_option("--max-eval-images", c.max_eval_images, "evaluate on at most this many validation/test images (0: all)");
  cmd->add_option("--log-every", c.log_every, "steps between metric rows / log lines");
  cmd->add_option("--prefetch", c.prefetch, "batches prepared ahead by the loader thread (0: none)");
  cmd->callback([f, cmd, &action] {
    // Re-parse on top of the preset: explicit flags win.
    TrainConfig explicit_values = f->c;
    TrainConfig preset;
    apply_preset(f->preset, preset);
    TrainConfig defaults;
    auto pick = [&](auto TrainConfig::*field, const char* flag) {
      if (cmd->count(flag) == 0) f->c.*field = preset.*field;
      else f->c.*field = explicit_values.*field;
      (void)defaults;
    };
    pick(&TrainConfig::dataset, "--dataset");
    pick(&TrainConfig::labels, "--labels");
    pick(&TrainConfig::val_per_class, "--val-per-class");
    pick(&TrainConfig::epochs, "--epochs");
    pick(&TrainConfig::steps_per_epoch, "--steps-per-epoch");
    pick(&TrainConfig::batch_size, "--batch-size");
    pick(&TrainConfig::depth, "--depth");
    pick(&TrainConfig::widen, "--widen");
    pick(&TrainConfig::max_eval_images, "--max-eval-images");
    pick(&TrainConfig::log_every, "--log-every");
    pick(&TrainConfig::out_dir, "--out");
    pick(&TrainConfig::ema_decay, "--ema-decay");
    pick(&TrainConfig::bn_momentum, "--bn-momentum");
    f->c.bn_mode = parse_bn_mode(f->bn_mode);
    f->c.bn_update = parse_bn_update(f->bn_update);
    auto on_off = [](const std::string& v, const char* flag) {
      MM_CHECK(v == "on" || v == "off", flag, ": expected on or off, got '", v, "'");
      return v == "on";
    };
    f->c.ema = on_off(f->ema, "--ema");
    f->c.ema_decay_buffers = on_off(f->ema_decay_buffers, "--ema-decay-buffers");
    MM_CHECK(f->lr_scale == "none" || f->lr_scale == "sqrt", "--lr-scale: expected none or sqrt, got '", f->lr_scale, "'");
    f->c.lr_scale_sqrt = f->lr_scale == "sqrt";
    action = [f] {
      train_mixmatch(f->c);
      return 0;
    };
  });
}

void add_eval_command(CLI::App& app, CommandAction& action) {
  auto* cmd = app.add_subcommand("eval", "evaluate a model checkpoint on the test set (and the validation split)");
  struct Flags {
    std::string checkpoint, data, dataset = "cifar10", device = "auto";
    int64_t depth = 28, widen = 2, labels = 4000, val_per_class = 500;
    uint64_t seed = 0;
  };
  auto f = std::make_shared<Flags>();
  cmd->add_option("--checkpoint", f->checkpoint, "a model .safetensors (best.safetensors of a run)")->required();
  cmd->add_option("--data", f->data, "dataset folder");
  cmd->add_option("--dataset", f->dataset, "cifar10, fashion-mnist or synthetic");
  cmd->add_option("--depth", f->depth, "WideResNet depth of the checkpoint");
  cmd->add_option("--widen", f->widen, "WideResNet widen factor of the checkpoint");
  cmd->add_option("--labels", f->labels, "the run's --labels (to rebuild its validation split)");
  cmd->add_option("--seed", f->seed, "the run's --seed");
  cmd->add_option("--device", f->device, "auto, cpu or cuda");
  cmd->callback([f, &action] {
    action = [f] {
      const Device dev = resolve_device(f->device);
      TrainTest data = load_dataset(f->dataset, f->data);
      WideResNetConfig mc;
      mc.depth = f->depth;
      mc.widen_factor = f->widen;
      mc.num_classes = data.train.num_classes;
      mc.in_channels = data.train.channels;
      WideResNet net(mc);
      load_module(f->checkpoint, net);
      net.to(dev);
      std::vector<int64_t> test(data.test.count);
      for (int64_t i = 0; i < data.test.count; ++i) test[i] = i;
      EvalResult t = evaluate(net, data.test, test, dev);
      Split s = split_dataset(data.train, f->labels, f->val_per_class, f->seed);
      EvalResult v = evaluate(net, data.train, s.validation, dev);
      std::printf("%s: validation %.2f%% (loss %.4f, %lld images) | test %.2f%% (loss %.4f, %lld images) on %s\n",
                  f->checkpoint.c_str(), v.accuracy, v.loss, (long long)v.count, t.accuracy, t.loss, (long long)t.count,
                  device_name(dev));
      return 0;
    };
  });
}

}  // namespace mmengine
