// mmengine bn-probe and mmengine ablate: the study's two commands.
#include <sys/stat.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <sstream>

#include "kernels/error.h"
#include "engine/safetensors.h"
#include "mixmatch/ablate.h"
#include "mixmatch/config.h"
#include "mixmatch/bn_probe.h"
#include "mixmatch/process_pool.h"
#include "tools/commands.h"

namespace mmengine {

namespace {
// Renders PNGs with tools/plot_metrics.py when python3 with matplotlib is present.
void plot(const std::string& args) {
  const char* root = std::getenv("MMENGINE_ROOT");
  const std::string script = std::string(root ? root : MMENGINE_SOURCE_DIR) + "/tools/plot_metrics.py";
  struct stat st;
  if (::stat(script.c_str(), &st) != 0 || std::system("python3 -c 'import matplotlib' >/dev/null 2>&1") != 0) {
    std::printf("(PNG plots skipped: python3 with matplotlib not found; the CSV files hold every number)\n");
    return;
  }
  if (std::system(("python3 " + script + " " + args).c_str()) != 0) std::printf("(plotting failed; CSV files written)\n");
}
}  // namespace

void add_bn_probe_command(CLI::App& app, CommandAction& action) {
  auto* cmd = app.add_subcommand("bn-probe", "BatchNorm batch statistics per mode against the population statistics");
  cmd->footer("A checkpoint written by `mmengine train` records its model and data settings; they are used, and a\n"
              "flag that contradicts them is an error.");
  auto c = std::make_shared<BnProbeConfig>();
  cmd->add_option("--checkpoint", c->checkpoint, "model .safetensors (default: a fresh initialisation)");
  cmd->add_option("--dataset", c->dataset, "cifar10, fashion-mnist or synthetic");
  cmd->add_option("--data", c->data_dir, "dataset folder");
  cmd->add_option("--depth", c->depth, "WideResNet depth");
  cmd->add_option("--widen", c->widen, "WideResNet widen factor");
  cmd->add_option("--labels", c->labels, "labeled images (the split of the run)");
  cmd->add_option("--val-per-class", c->val_per_class, "validation images per class (the split of the run)");
  cmd->add_option("--seed", c->seed, "seed of the split and of the probe batches")->check(unsigned_64());
  cmd->add_option("--batch-size", c->batch_size, "B of the probed MixMatch batches")->check(CLI::PositiveNumber);
  cmd->add_option("--batches", c->batches, "probed steps")->check(CLI::PositiveNumber);
  cmd->add_option("--population-batch", c->population_batch, "batch of the population pass")->check(CLI::PositiveNumber);
  cmd->add_option("--population-images", c->population_images, "training images in the population (0: all)");
  cmd->add_option("--bn-eps", c->bn_eps, "BatchNorm epsilon of the checkpoint");
  auto conv_bias = std::make_shared<std::string>("off");
  cmd->add_option("--conv-bias", *conv_bias, "on or off: whether the checkpoint's convolutions have biases")
      ->check(CLI::IsMember({"on", "off"}));
  cmd->add_option("--device", c->device, "auto, cpu or cuda");
  cmd->add_option("--out", c->out_dir, "output folder (CSV, PNG)");
  cmd->callback([c, conv_bias, cmd, &action] {
    c->conv_bias = *conv_bias == "on";
    c->given = [cmd](const char* flag) { return given_flag(cmd, flag); };
    action = [c] {
      ::mkdir(c->out_dir.c_str(), 0755);
      BnProbeResult r = run_bn_probe(*c);
      std::printf("bn-probe: population of %lld training images, %lld probed steps of B = %lld\n",
                  (long long)r.population_images, (long long)c->batches, (long long)c->batch_size);
      std::printf("%s", write_bn_probe(r, c->out_dir).c_str());
      plot("bn-probe " + c->out_dir);
      return 0;
    };
  });
}

void add_ablate_command(CLI::App& app, CommandAction& action) {
  auto* cmd = app.add_subcommand("ablate", "train the BN-mode x EMA x recipe x labels grid with equal budgets and print the table");
  auto a = std::make_shared<AblateConfig>();
  cmd->add_option("--preset", a->preset, enum_choices(kPresets) + " (as mmengine train)");
  cmd->add_option("--dataset", a->dataset, "cifar10, fashion-mnist or synthetic (default: the preset's)");
  cmd->add_option("--data", a->data_dir, "dataset folder");
  cmd->add_option("--labels", a->labels, "comma-separated labeled-image counts, e.g. 250,4000 (default: the preset's)");
  cmd->add_option("--steps", a->steps, "training steps of every run (default: the preset's)")->check(CLI::PositiveNumber);
  cmd->add_option("--eval-every-steps", a->eval_every_steps, "steps between evaluations (default: steps / 4)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--max-eval-images", a->max_eval_images, "evaluate on at most this many images (0: all; default: the preset's)");
  cmd->add_option("--depth", a->depth, "WideResNet depth (default: the preset's)");
  cmd->add_option("--widen", a->widen, "WideResNet widen factor (default: the preset's)");
  cmd->add_option("--log-every", a->log_every, "steps between metric rows (default: the preset's)");
  cmd->add_option("--ema-decay", a->ema_decay, "EMA teacher decay (default: the preset's / recipe's)");
  cmd->add_option("--bn-momentum", a->bn_momentum, "BatchNorm running-statistics momentum (default: the preset's)");
  cmd->add_option("--seeds", a->seeds, "seeds per cell")->check(CLI::PositiveNumber);
  cmd->add_option("--max-seeds", a->max_seeds,
                  "more seeds (up to this many) for cells within two pooled standard deviations of interleave / EMA on");
  cmd->add_option("--recipes", a->recipes, "comma-separated: port, google");
  cmd->add_option("--modes", a->modes, "comma-separated cells: interleave, separate, single, single-sqrt");
  cmd->add_option("--ema", a->emas, "comma-separated: on, off");
  cmd->add_option("--bn-syncs", a->bn_syncs,
                  "comma-separated: global, local (data parallel BN statistics; local cells are named <mode>+local)");
  cmd->add_option("--precisions", a->precisions,
                  "comma-separated: fp32, tf32, bf16 (cells of other precisions than fp32 are named <mode>@<precision> and "
                  "compared with fp32's interleave / EMA-on cell)");
  cmd->add_option("--ranks", a->ranks, "ranks of every run (> 1: each run is `$MMENGINE_MPIRUN -np N mmengine train`, "
                                       "default launcher mpirun; needs --concurrent)");
  cmd->add_option("--device", a->device, "auto, cpu or cuda");
  cmd->add_option("--out", a->out_dir, "folder of the grid (one run folder per cell and seed)");
  cmd->add_option("--concurrent", a->concurrent,
                  "runs at once, as --concurrent-mode says (0: one after another in this process)")
      ->check(CLI::NonNegativeNumber);
  auto mode = std::make_shared<std::string>("processes");
  cmd->add_option("--concurrent-mode", *mode, "how --concurrent runs them: " + enum_help(kConcurrentModes));
  cmd->add_option("--time-limit", a->time_limit_minutes,
                  "minutes for this invocation: runs stop checkpointed (or do not start) to meet it; rerun to resume")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--stop-after", a->stop_after,
                  "every run stops after this many steps of this invocation (checkpointed; rerun to resume)");
  cmd->add_flag("--report-only", a->report_only, "train nothing: the table of what --out (and --from-bundle) holds");
  cmd->add_option("--from-bundle", a->from_bundles, "merge this results bundle (folder) into --out first (repeatable)");
  cmd->add_option("--bundle", a->bundle_dir, "write a results bundle (at most 8 files, 64 MiB) into this folder at the end");
  auto best = std::make_shared<std::string>();
  cmd->add_option("--bundle-best", *best,
                  "comma-separated runs (e.g. port/L250/interleave-ema-on-seed0) whose best model the bundle carries "
                  "(default: seed 0 of the first two BN modes with EMA on)");
  cmd->add_option("--bundle-max-files", a->bundle_limits.max_files, "files the bundle may have (default 8)")
      ->check(CLI::PositiveNumber);
  cmd->callback([a, best, mode, &action] {
    action = [a, best, mode] {
      a->concurrent_mode = enum_parse(kConcurrentModes, "--concurrent-mode", *mode);
      std::stringstream ss(*best);
      for (std::string item; std::getline(ss, item, ',');)
        if (!item.empty()) a->bundle_best.push_back(item);
      for (auto& b : a->from_bundles) {
        struct stat st;
        MM_CHECK(::stat(b.c_str(), &st) == 0 && S_ISDIR(st.st_mode), "--from-bundle ", b, ": not a folder");
      }
      if (a->concurrent > 0 && a->concurrent_mode == ConcurrentMode::Processes) a->train_exe = self_executable();
      AblateResult r = run_ablation(*a);
      std::printf("\n%s", r.markdown.c_str());
      plot("ablate " + a->out_dir);
      std::fflush(stdout);
      if (r.signal != 0) {
        std::fprintf(stderr, "mmengine: ablate: interrupted by %s: the running runs stopped at a checkpoint and no other "
                     "started; rerun the same command to resume\n", r.signal == SIGINT ? "SIGINT" : "SIGTERM");
        return 128 + r.signal;  // the shell's convention, as `mmengine train`
      }
      if (r.failed > 0) {
        std::fprintf(stderr, "mmengine: error: ablate: %d run(s) failed (see the FAILED lines and their train.log)\n", r.failed);
        return 1;
      }
      return 0;
    };
  });
}

}  // namespace mmengine
