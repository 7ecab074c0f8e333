#include "mixmatch/trainer.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <unistd.h>

#include "data/split.h"
#include "data/stream.h"
#include "engine/dist.h"
#include "engine/runtime.h"
#include "engine/file_io.h"
#include "engine/safetensors.h"
#include "layers/checkpoint.h"
#include "mixmatch/dist_train.h"
#include "mixmatch/ema.h"
#include "mixmatch/interrupt.h"
#include "mixmatch/evaluate.h"
#include "mixmatch/metrics.h"
#include "mixmatch/model_config.h"
#include "mixmatch/progress.h"
#include "mixmatch/run_folder.h"
#include "mixmatch/run_settings.h"
#include "mixmatch/step.h"
#include "mixmatch/step_runner.h"
#include "mixmatch/train_state.h"

namespace mmengine {

TrainSummary train_mixmatch_logged(const TrainConfig& cfg, const std::string& log_path) {
  std::filesystem::create_directories(cfg.out_dir);
  std::FILE* log = std::fopen(log_path.c_str(), "a");
  MM_CHECK(log, "cannot open ", log_path, " for appending: ", std::strerror(errno));
  const std::unique_ptr<std::FILE, int (*)(std::FILE*)> closer(log, std::fclose);
  const LogOutputScope out(log);
  try {
    return train_mixmatch(cfg);
  } catch (const std::exception& e) {
    std::fprintf(log, "mmengine: error: %s\n", e.what());
    throw;
  }
}

std::string last_checkpoint_path(const std::string& d) { return d + "/last.safetensors"; }
std::string best_checkpoint_path(const std::string& d) { return d + "/best.safetensors"; }

namespace {
// --time-limit counts from process start (dataset loading and model set-up included).
const auto kProcessStart = std::chrono::steady_clock::now();
double since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

std::vector<int64_t> first_n(std::vector<int64_t> v, int64_t n) {
  if (n > 0 && static_cast<int64_t>(v.size()) > n) v.resize(n);
  return v;
}

std::string num(double v) {
  char b[64];
  std::snprintf(b, sizeof(b), "%.6g", v);
  return b;
}

double meta(const std::map<std::string, std::string>& m, const char* key, double fallback) {
  auto it = m.find(key);
  return it == m.end() ? fallback : std::atof(it->second.c_str());
}

const std::vector<std::string> kColumns{
    "step", "epoch", "loss", "loss_x", "loss_u", "weight_u", "mixup_lambda", "lr", "images_per_s",
    "val_acc_teacher", "val_loss_teacher", "test_acc_teacher", "test_loss_teacher",
    "val_acc_student", "val_loss_student", "test_acc_student", "test_loss_student", "best_val_acc", "best_test_acc",
    "elapsed_s"};

// Decides when a --time-limit run must stop: after a step, it stops unless one more step, a
// final evaluation and a checkpoint still fit, with a margin. Costs are the largest measured so
// far; before the first evaluation, an evaluated image is taken to cost as much as a trained one.
class Deadline {
 public:
  Deadline(double minutes, double eval_images, double images_per_step)
      : limit_s_(minutes * 60), eval_images_(eval_images), images_per_step_(images_per_step) {}
  bool active() const { return limit_s_ > 0; }
  // The first step of an invocation carries one-time set-up (library handles, allocator growth):
  // it counts only until a second step has been measured.
  void step_took(double s) {
    step_s_ = steps_++ == 1 ? s : std::max(step_s_, s);
  }
  void eval_took(double s) { eval_s_ = std::max(eval_s_, s); }
  void checkpoint_took(double s) { checkpoint_s_ = std::max(checkpoint_s_, s); }
  bool must_stop() const {
    if (!active()) return false;
    const double eval = eval_s_ >= 0 ? eval_s_ : step_s_ * eval_images_ / images_per_step_;
    const double margin = 2.0 + 0.01 * limit_s_;
    return since(kProcessStart) + step_s_ + eval + checkpoint_s_ + margin > limit_s_;
  }

 private:
  double limit_s_, eval_images_, images_per_step_;
  double step_s_ = 0, eval_s_ = -1, checkpoint_s_ = 1.0;
  int64_t steps_ = 0;
};
}  // namespace

bool run_complete(const std::string& out_dir) {
  std::ifstream f(out_dir + "/summary.json");
  if (!f) return false;
  nlohmann::json j = nlohmann::json::parse(f, nullptr, /*allow_exceptions=*/false);
  // Summaries written before "complete" existed were only ever written by complete runs.
  return !j.is_discarded() && j.is_object() && j.value("complete", true);
}

namespace {
// --resume of a complete run: its summary, read back; the folder is not touched.
TrainSummary completed_summary(const std::string& dir) {
  const std::string path = dir + "/summary.json";
  const nlohmann::json j = nlohmann::json::parse(read_text_file(path, "the summary of a run"), nullptr, false);
  MM_CHECK(j.is_object(), path, ": not a JSON object");
  TrainSummary s;
  s.complete = s.already_complete = true;
  s.best_step = j.value("best_step", int64_t(-1));
  s.best_val_acc = j.value("best_val_acc", -1.0);
  s.best_test_acc = j.value("best_test_acc", -1.0);
  s.final_teacher_test = j.value("final_teacher_test", -1.0);
  s.final_student_test = j.value("final_student_test", -1.0);
  s.final_teacher_val = j.value("final_teacher_val", -1.0);
  s.final_student_val = j.value("final_student_val", -1.0);
  s.device = j.value("device", std::string());
  return s;
}

// --resume: the run's config.json must describe the same experiment as cfg.
void check_same_experiment(const TrainConfig& cfg) {
  const std::string path = cfg.out_dir + "/config.json";
  const TrainConfig run = config_from_json(read_text_file(path, "the config.json of the run"), path);
  MM_CHECK(run.world_size == cfg.world_size, "--resume: the run in ", cfg.out_dir, " was trained on ", run.world_size,
           " rank(s) (world_size in ", path, "), this invocation has ", cfg.world_size,
           "; resume it with the same number of ranks (mpirun -np ", run.world_size, " mmengine train --resume ...)");
  SettingChange d;
  MM_CHECK(!experiment_differs(run, cfg, &d), "--resume: the run in ", cfg.out_dir, " was started with ", d.key, " = ",
           d.before, ", this invocation asks for ", d.after, " (", path, "); a resumed run keeps its settings");
}

// Adds the checkpoint file to errors that lack it (damaged files found past the header checks).
template <typename F>
auto naming_file(const std::string& path, F&& f) {
  try {
    return f();
  } catch (const Error& e) {
    if (std::string(e.what()).find(path) != std::string::npos) throw;
    MM_FAIL(path, ": ", e.what(), " (a damaged checkpoint: start again with --overwrite)");
  }
}

const char* signal_name(int sig) { return sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "a signal"; }
}  // namespace

TrainSummary train_mixmatch(const TrainConfig& requested) {
  validate(requested);
  // Data parallel: every rank runs this function; rank 0 alone writes the run folder.
  const Device device = resolve_device(requested.device);
  const PrecisionScope precision(requested.precision, device, DType::F32);  // GEMM math mode, conv backend
  DistOptions dist;
  dist.backend = parse_dist_backend(requested.dist);
  dist.collective_timeout_s = requested.collective_timeout_s;
  dist.device = device;
  const std::shared_ptr<Communicator> comm = make_communicator(dist);
  if (device == Device::CUDA) use_cuda_device_of_rank(comm->local_rank());  // before any model tensor
  TrainConfig cfg = requested;
  cfg.world_size = comm->size();
  cfg.dist = dist_backend_name(comm->backend());
  validate(cfg);
  const bool writer = comm->rank() == 0;
  if (comm->size() > 1) {
    char host[256] = "?";
    gethostname(host, sizeof(host) - 1);
    std::fprintf(stderr, "mmengine: rank %d of %d: pid %d on %s (local rank %d), %s backend, %s\n", comm->rank(),
                 comm->size(), static_cast<int>(getpid()), host, comm->local_rank(), cfg.dist.c_str(), device_name(device));
  }
  std::optional<RunLock> lock;  // held until this run returns: no second training writes this folder
  if (writer) lock.emplace(cfg.out_dir);
  const std::string last = last_checkpoint_path(cfg.out_dir), best = best_checkpoint_path(cfg.out_dir);
  if (cfg.resume) {
    MM_CHECK(path_exists(last), "--resume: ", last, " does not exist");
    if (path_exists(cfg.out_dir + "/config.json")) check_same_experiment(cfg);
    if (run_complete(cfg.out_dir)) {
      std::fprintf(log_output(), "run already complete: %s/summary.json (nothing to resume; the folder is left untouched)\n",
                   cfg.out_dir.c_str());
      return completed_summary(cfg.out_dir);
    }
  }
  InterruptScope interrupts;
  TrainTest data = load_dataset(cfg.dataset, cfg.data_dir);
  Split split = split_dataset(data.train, cfg.labels, cfg.val_per_class, cfg.seed);
  std::vector<int64_t> test_idx(data.test.count);
  for (int64_t i = 0; i < data.test.count; ++i) test_idx[i] = i;
  const std::vector<int64_t> val_eval = first_n(split.validation, cfg.max_eval_images),
                             test_eval = first_n(test_idx, cfg.max_eval_images);

  WideResNetConfig mc = wrn_for(data.train, cfg.depth, cfg.widen, cfg.bn_eps, cfg.conv_bias, cfg.seed);
  mc.bn_momentum = cfg.bn_momentum;
  WideResNet student(mc), teacher(mc);
  student.to(device);
  teacher.to(device);
  copy_state(student, teacher);
  teacher.eval();
  Adam adam(student.named_parameters(), cfg.effective_lr());
  MixMatchLoader loader(data.train, split, cfg.batch_size, cfg.K, cfg.seed, device, cfg.prefetch);

  TrainSummary sum;
  sum.device = device_name(device);
  int64_t start = 0, checkpoint_step = -1;
  double previous_seconds = 0;  // wall time of earlier invocations of this run
  if (cfg.resume) {
    TrainState s = naming_file(last, [&] { return load_train_state(last, student, teacher, adam); });
    naming_file(last, [&] {
      MM_CHECK(s.step >= 0 && s.step <= cfg.total_steps() && s.loader.step == s.step, "step ", s.step,
               " (loader step ", s.loader.step, ") is outside the run's 0..", cfg.total_steps(), " steps");
      loader.seek(s.loader);
      return 0;
    });
    naming_file(last, [&] {
      const double ranks = meta(s.metadata, "world_size", 1);
      MM_CHECK(ranks == cfg.world_size, "trained on ", ranks, " rank(s), this invocation has ", cfg.world_size,
               "; resume with the same number of ranks");
      return 0;
    });
    start = checkpoint_step = s.step;
    sum.best_val_acc = meta(s.metadata, "best_val_acc", -1);
    sum.best_test_acc = meta(s.metadata, "best_test_acc", -1);
    sum.best_step = static_cast<int64_t>(meta(s.metadata, "best_step", -1));
    previous_seconds = meta(s.metadata, "elapsed_s", 0);
  } else if (writer) {
    if (cfg.overwrite) {
      for (const char* f : {"/last.safetensors", "/best.safetensors", "/summary.json"}) std::remove((cfg.out_dir + f).c_str());
    } else {
      MM_CHECK(!path_exists(last), "--out ", cfg.out_dir, " already holds a run (", last,
               "): pass --resume to continue it, --overwrite to start again, or choose another --out");
    }
    write_file_atomically(cfg.out_dir + "/config.json", config_to_json(cfg, sum.device));
  }
  std::optional<MetricsWriter> metrics;
  if (writer) metrics.emplace(cfg.out_dir, kColumns, cfg.resume ? start : -1);
  Progress progress(cfg.total_steps(), cfg.steps_per_epoch, start, cfg.log_every);
  auto say = [&](const std::string& line) {
    if (writer) progress.message(line);
  };
  say("mmengine train: " + std::string(bn_mode_name(cfg.bn_mode)) + " BN, EMA " + (cfg.ema ? "on" : "off") +
                   ", WRN-" + std::to_string(cfg.depth) + "-" + std::to_string(cfg.widen) + " (" +
                   std::to_string(student.parameter_count()) + " parameters) on " + sum.device + ", " + data.train.name +
                   ": " + std::to_string(split.labeled.size()) + " labeled / " + std::to_string(split.unlabeled.size()) +
                   " unlabeled / " + std::to_string(split.validation.size()) + " validation; steps " +
                   std::to_string(start) + ".." + std::to_string(cfg.total_steps()) +
                   (comm->size() > 1 ? ", " + std::to_string(comm->size()) + " ranks (" + cfg.dist + ", BN statistics " +
                                           bn_sync_name(cfg.bn_sync) + ")"
                                     : std::string()));

  const auto settings = run_settings_metadata(run_settings(cfg));
  const auto t0 = std::chrono::steady_clock::now();
  double last_acc = NAN;  // none before the first evaluation
  const double images_per_step = static_cast<double>(cfg.batch_size * (cfg.K + 1));
  // --stop-after counts this invocation's steps; min() first, so a huge value cannot overflow.
  int64_t end = cfg.stop_after > 0 ? start + std::min(cfg.stop_after, cfg.total_steps() - start) : cfg.total_steps();
  Deadline deadline(cfg.time_limit_minutes, 2.0 * static_cast<double>(val_eval.size() + test_eval.size()), images_per_step);
  // --graph on: the evaluation forwards are CUDA graphs too (mixmatch/evaluate.h; declared after
  // the models it is keyed by, so it goes first).
  std::unique_ptr<EvalGraphs> eval_graphs = cfg.graph == GraphMode::On ? std::make_unique<EvalGraphs>() : nullptr;
  EvalImages eval_images;  // the validation and test images, normalized once on the device
  // Evaluates teacher and student on validation and test and (with `select`) keeps the best
  // model; returns the metric columns.
  auto evaluate_all = [&](int64_t done, int64_t epoch, bool select) {
    const auto eval_t0 = std::chrono::steady_clock::now();
    check_ranks_agree(*comm, training_state_checksum({&student, &teacher}, adam), done);
    auto eval = [&](Module& model, const ImageDataset& set, const std::vector<int64_t>& list) {
      return evaluate_across_ranks(*comm, model, set, list, device, cfg.eval_batch, eval_graphs.get(), &eval_images);
    };
    EvalResult tv = eval(teacher, data.train, val_eval), tt = eval(teacher, data.test, test_eval),
               sv = eval(student, data.train, val_eval), st = eval(student, data.test, test_eval);
    // With --ema off the teacher never moves: the student is the model that is selected.
    const EvalResult& sel_val = cfg.ema ? tv : sv;
    const EvalResult& sel_test = cfg.ema ? tt : st;
    if (select && sel_val.accuracy > sum.best_val_acc) {
      sum.best_val_acc = sel_val.accuracy;
      sum.best_test_acc = sel_test.accuracy;
      sum.best_step = done;
      auto m = settings;
      m.insert({{"step", std::to_string(done)}, {"val_acc", num(sel_val.accuracy)}, {"test_acc", num(sel_test.accuracy)},
                {"model", cfg.ema ? "teacher" : "student"}});
      if (writer) save_module(best, cfg.ema ? static_cast<Module&>(teacher) : static_cast<Module&>(student), m);
    }
    last_acc = sel_test.accuracy;
    sum.final_teacher_val = tv.accuracy;
    sum.final_teacher_test = tt.accuracy;
    sum.final_student_val = sv.accuracy;
    sum.final_student_test = st.accuracy;
    char line[256];
    std::snprintf(line, sizeof(line),
                  "epoch %lld step %lld: teacher val %.2f%% test %.2f%% | student val %.2f%% test %.2f%% | best val "
                  "%.2f%% (test %.2f%%)",
                  (long long)epoch, (long long)done, tv.accuracy, tt.accuracy, sv.accuracy, st.accuracy,
                  sum.best_val_acc, sum.best_test_acc);
    say(line);
    deadline.eval_took(since(eval_t0));
    return MetricsRow{{"val_acc_teacher", tv.accuracy}, {"val_loss_teacher", tv.loss},
                      {"test_acc_teacher", tt.accuracy}, {"test_loss_teacher", tt.loss},
                      {"val_acc_student", sv.accuracy}, {"val_loss_student", sv.loss},
                      {"test_acc_student", st.accuracy}, {"test_loss_student", st.loss},
                      {"best_val_acc", sum.best_val_acc}, {"best_test_acc", sum.best_test_acc}};
  };
  // A run killed after its final checkpoint but before summary.json: the checkpoint holds the
  // final models, so their evaluation gives the real final numbers (metrics.csv has its row).
  if (start == cfg.total_steps()) evaluate_all(start, (start - 1) / cfg.steps_per_epoch + 1, /*select=*/false);
  StepRunner steps(student, cfg.ema ? &teacher : nullptr, adam, cfg, data.train.num_classes,  // --graph
                   StepRanks{comm.get(), cfg.bn_sync == BnSync::Global});
  for (int64_t step = start; step < end; ++step) {
    const auto step_t0 = std::chrono::steady_clock::now();
    StepBatch batch = loader.next();
    MM_CHECK(batch.step == step, "internal: loader at step ", batch.step, ", trainer at ", step);
    auto fail_after_checkpoint = [&](const Error& e) {
      if (checkpoint_step < 0) MM_FAIL(e.what(), " (no checkpoint was written yet)");
      MM_FAIL(e.what(), " (", last, " of step ", checkpoint_step, " is intact)");
    };
    StepResult r;
    try {
      r = steps.run(batch, step);
    } catch (const Error& e) {
      fail_after_checkpoint(e);
    }
    const int64_t done = step + 1, epoch = (done - 1) / cfg.steps_per_epoch + 1;
    // Host time of the step: the device may still be running it (its losses stay on the device
    // until they are logged), so the estimate catches up at the next read.
    deadline.step_took(since(step_t0));
    if (done < end) {  // every rank stops at the same step: the decisions are OR-ed over the ranks
      const uint64_t stop = any_rank(*comm, (deadline.must_stop() ? 1u : 0u) | uint64_t(interrupts.signal()) << 8);
      if (stop & 1) {
        end = done;
        sum.stopped_on_time = true;
      } else if (stop >> 8) {
        end = done;
        sum.signal = static_cast<int>(stop >> 8);
      }
    }
    // Wall time of the run so far (earlier invocations included), for accuracy-against-time.
    auto elapsed_now = [&] { return previous_seconds + since(t0); };
    const bool epoch_end = done % cfg.steps_per_epoch == 0, final_step = done == cfg.total_steps();
    const bool interrupted = done == end && !final_step;  // --stop-after, --time-limit or a signal: checkpoint, stop
    const bool evaluate_now = (epoch_end && epoch % cfg.eval_every == 0) || final_step || sum.stopped_on_time;
    const bool log_now = done % cfg.log_every == 0 || evaluate_now;
    if (log_now) {  // the step's values are read back here, and before a checkpoint
      StepValues v;
      try {
        v = r.read();
      } catch (const Error& e) {
        fail_after_checkpoint(e);
      }
      if (writer) progress.update(done, v.loss, v.lx, v.lu, last_acc);
      MetricsRow row{{"step", double(done)},        {"epoch", double(epoch)},    {"loss", v.loss},
                     {"loss_x", v.lx},              {"loss_u", v.lu},            {"weight_u", v.weight},
                     {"mixup_lambda", v.lambda},    {"lr", cfg.effective_lr()},
                     {"images_per_s", progress.steps_per_second() * images_per_step}};
      if (evaluate_now) {
        MetricsRow eval = evaluate_all(done, epoch, /*select=*/true);
        row.insert(row.end(), eval.begin(), eval.end());
      }
      row.push_back({"elapsed_s", elapsed_now()});
      if (writer) metrics->write(row);
    }
    if ((epoch_end && epoch % cfg.checkpoint_every == 0) || final_step || interrupted) {
      // No checkpoint of a step whose losses were not checked: a non-finite loss (the model
      // already damaged) stops the run here, the previous checkpoint intact.
      if (!log_now) {
        try {
          (void)r.read();
        } catch (const Error& e) {
          fail_after_checkpoint(e);
        }
      }
      const auto ckpt_t0 = std::chrono::steady_clock::now();
      TrainState s;
      s.step = done;
      s.loader = loader.position();
      const double elapsed = elapsed_now();
      s.metadata = settings;
      s.metadata.insert({{"best_val_acc", num(sum.best_val_acc)}, {"best_test_acc", num(sum.best_test_acc)},
                         {"best_step", std::to_string(sum.best_step)}, {"elapsed_s", num(elapsed)},
                         {"world_size", std::to_string(cfg.world_size)}});
      if (writer) save_train_state(last, student, teacher, adam, s);
      checkpoint_step = done;
      deadline.checkpoint_took(since(ckpt_t0));
    }
  }
  sum.steps = end - start;
  sum.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  sum.images_per_second = sum.seconds > 0 ? sum.steps * images_per_step / sum.seconds : 0;
  char line[512];
  sum.complete = end == cfg.total_steps();
  if (sum.signal != 0) {
    std::snprintf(line, sizeof(line),
                  "interrupted by %s at step %lld of %lld: checkpoint written; continue with: mmengine train --resume "
                  "--out %s",
                  signal_name(sum.signal), (long long)end, (long long)cfg.total_steps(), cfg.out_dir.c_str());
  } else if (sum.stopped_on_time) {
    std::snprintf(line, sizeof(line),
                  "stopped on time at step %lld of %lld (--time-limit %g min): teacher test %.2f%% student test %.2f%% | "
                  "best val %.2f%% -> test %.2f%% at step %lld | checkpoint written, continue with --resume",
                  (long long)end, (long long)cfg.total_steps(), cfg.time_limit_minutes, sum.final_teacher_test,
                  sum.final_student_test, sum.best_val_acc, sum.best_test_acc, (long long)sum.best_step);
  } else if (!sum.complete) {
    std::snprintf(line, sizeof(line), "stopped at step %lld of %lld (--stop-after): checkpoint written, continue with --resume",
                  (long long)end, (long long)cfg.total_steps());
  } else {
    std::snprintf(line, sizeof(line),
                  "final: teacher test %.2f%% student test %.2f%% | best val %.2f%% -> test %.2f%% at step %lld | %lld "
                  "steps in %.1f s (%.0f images/s) on %s",
                  sum.final_teacher_test, sum.final_student_test, sum.best_val_acc, sum.best_test_acc,
                  (long long)sum.best_step, (long long)sum.steps, sum.seconds, sum.images_per_second, sum.device.c_str());
  }
  say(line);
  if (writer && (sum.complete || sum.stopped_on_time)) {  // "complete": true marks the run done
    nlohmann::ordered_json j;
    j["complete"] = sum.complete;
    j["stopped_by"] = sum.complete ? "end" : "time-limit";
    j["steps_done"] = end;
    j["steps"] = cfg.total_steps();
    j["best_step"] = sum.best_step;
    j["best_val_acc"] = sum.best_val_acc;
    j["best_test_acc"] = sum.best_test_acc;
    j["final_teacher_test"] = sum.final_teacher_test;
    j["final_student_test"] = sum.final_student_test;
    j["final_teacher_val"] = sum.final_teacher_val;
    j["final_student_val"] = sum.final_student_val;
    j["seconds"] = previous_seconds + sum.seconds;
    j["process_seconds"] = since(kProcessStart);  // this invocation, from process start
    j["time_limit_minutes"] = cfg.time_limit_minutes;
    j["device"] = sum.device;
    write_file_atomically(cfg.out_dir + "/summary.json", j.dump(2) + "\n");
  }
  return sum;
}

}  // namespace mmengine
