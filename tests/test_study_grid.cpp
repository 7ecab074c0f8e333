// The study grid's tooling: the t distribution and Welch intervals, the seed-extension rule,
// results bundles (tar.gz), and `mmengine ablate` with child processes, interruption, bundles
// and resumption; `mmengine bench --concurrent-sweep`. Tiny synthetic runs only.
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "kernels/error.h"
#include "mixmatch/ablate.h"
#include "mixmatch/bundle.h"
#include "mixmatch/stats.h"
#include "tests/test_util.h"

using namespace mmengine;
using mmengine::testing::run_cli;
namespace fs = std::filesystem;

namespace {
std::string temp_dir(const std::string& name) {
  const std::string d = ::testing::TempDir() + "mm_grid_" + name + "_" + std::to_string(::getpid());
  fs::remove_all(d);
  return d;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

// A tiny grid: synthetic data, WRN-10-1, 2 steps, one evaluation on 50 images.
AblateConfig tiny_grid(const std::string& out) {
  AblateConfig a;
  a.preset = "synthetic";
  a.steps = 2;
  a.eval_every_steps = 2;
  a.max_eval_images = 50;
  a.device = "cpu";
  a.out_dir = out;
  return a;
}
}  // namespace

TEST(StudyStats, StudentTQuantilesMatchTables) {
  EXPECT_NEAR(student_t_quantile(0.975, 2), 4.302653, 1e-6);
  EXPECT_NEAR(student_t_quantile(0.975, 4), 2.776445, 1e-6);
  EXPECT_NEAR(student_t_quantile(0.975, 1), 12.706205, 1e-5);
  EXPECT_NEAR(student_t_quantile(0.975, 10), 2.228139, 1e-6);
  EXPECT_NEAR(student_t_quantile(0.975, 30), 2.042272, 1e-6);
  EXPECT_NEAR(student_t_quantile(0.95, 5), 2.015048, 1e-6);
  EXPECT_NEAR(student_t_quantile(0.975, 1e7), 1.959964, 1e-5);
  EXPECT_NEAR(student_t_quantile(0.025, 4), -2.776445, 1e-6);
  EXPECT_DOUBLE_EQ(student_t_cdf(0, 3.3), 0.5);
  EXPECT_NEAR(student_t_cdf(1, 1), 0.75, 1e-14);  // Cauchy: 1/2 + atan(1)/pi
  for (double df : {1.5, 2.94, 3.7, 17.2})
    for (double p : {0.6, 0.9, 0.975, 0.999}) EXPECT_NEAR(student_t_cdf(student_t_quantile(p, df), df), p, 1e-12) << df;
  // The incomplete beta's closed forms: I_x(1, 1) = x, I_x(a, 1) = x^a, I_1/2(a, a) = 1/2.
  for (double x : {0.1, 0.5, 0.93}) {
    EXPECT_NEAR(regularized_incomplete_beta(x, 1, 1), x, 1e-14);
    EXPECT_NEAR(regularized_incomplete_beta(x, 3.5, 1), std::pow(x, 3.5), 1e-14);
  }
  EXPECT_NEAR(regularized_incomplete_beta(0.5, 7.3, 7.3), 0.5, 1e-13);
  EXPECT_THROW(student_t_quantile(1.0, 3), Error);
  EXPECT_THROW(student_t_cdf(1, 0), Error);
}

TEST(StudyStats, WelchSatterthwaiteAndInterval) {
  // s1 = 1, s2 = 2, n = 3 each: ((1 + 4) / 3)^2 / ((1/3)^2 / 2 + (4/3)^2 / 2) = 50 / 17.
  EXPECT_NEAR(welch_df(1, 3, 4, 3), 50.0 / 17.0, 1e-14);
  // Equal variances and sizes: df = 2n - 2, the interval is the pooled one.
  WelchInterval w = welch_interval({1, 2, 3}, {4, 5, 6});
  ASSERT_TRUE(w.valid);
  EXPECT_NEAR(w.df, 4, 1e-12);
  EXPECT_NEAR(w.difference, -3, 1e-14);
  EXPECT_NEAR(w.high, -3 + 2.776445 * std::sqrt(2.0 / 3.0), 1e-5);
  EXPECT_NEAR(w.low, -3 - 2.776445 * std::sqrt(2.0 / 3.0), 1e-5);
  WelchInterval u = welch_interval({1, 2, 3}, {2, 4, 6});
  ASSERT_TRUE(u.valid);
  EXPECT_NEAR(u.df, 50.0 / 17.0, 1e-12);
  const double t = (u.high - u.difference) / u.standard_error;
  EXPECT_GT(t, 3.182446);  // between t(0.975, 3) and t(0.975, 2)
  EXPECT_LT(t, 4.302653);
  EXPECT_FALSE(welch_interval({1}, {1, 2}).valid);
  EXPECT_FALSE(welch_interval({1, 1}, {2, 2}).valid);  // no spread: no interval
  EXPECT_NEAR(pooled_sd({1, 2, 3}, {2, 4, 6}), std::sqrt(2.5), 1e-14);
}

TEST(StudyStats, SeedExtensionRuleUsesTwoPooledStandardDeviations) {
  EXPECT_TRUE(needs_more_seeds({70, 71, 72}, {71, 72, 73}));   // 1 < 2 x 1
  EXPECT_FALSE(needs_more_seeds({60, 61, 62}, {70, 71, 72}));  // 10 > 2 x 1
  EXPECT_FALSE(needs_more_seeds({70, 71, 72}, {72, 73, 74}));  // exactly 2 x 1 is not under
  EXPECT_FALSE(needs_more_seeds({70}, {71, 72, 73}));
}

TEST(StudyBundle, TarGzRoundTripsIsReadableByTarAndRejectsDamage) {
  const std::string d = temp_dir("tar");
  fs::create_directories(d);
  std::string big(70000, 'x');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + i * 7 % 26);
  const std::vector<std::pair<std::string, std::string>> files{{"a.txt", "hello\n"}, {"port/L250/run/metrics.csv", big}, {"empty", ""}};
  write_tar_gz(d + "/t.tar.gz", files);
  EXPECT_EQ(read_tar_gz(d + "/t.tar.gz"), files);
  EXPECT_EQ(std::system(("tar -xzOf " + d + "/t.tar.gz a.txt > " + d + "/a.out 2>&1").c_str()), 0);
  EXPECT_EQ(read_text(d + "/a.out"), "hello\n");
  EXPECT_THROW(write_tar_gz(d + "/bad.tar.gz", {{"../escape", "x"}}), Error);
  EXPECT_THROW(write_tar_gz(d + "/bad.tar.gz", {{"/abs", "x"}}), Error);
  std::string gz = read_text(d + "/t.tar.gz");
  { std::ofstream(d + "/cut.tar.gz", std::ios::binary) << gz.substr(0, gz.size() / 2); }
  EXPECT_THROW(read_tar_gz(d + "/cut.tar.gz"), Error);
  EXPECT_THROW(read_tar_gz(d + "/missing.tar.gz"), Error);
  fs::remove_all(d);
}

TEST(Ablate, TinyGridCompletesWritesTheTableAndReusesFinishedRuns) {
  AblateConfig a = tiny_grid(temp_dir("seq"));
  a.modes = "interleave,single-sqrt";
  a.emas = "on,off";
  AblateResult r = run_ablation(a);
  ASSERT_EQ(r.runs.size(), 4u);
  for (auto& run : r.runs) {
    EXPECT_EQ(run.status, RunStatus::Complete) << run.dir << ": " << run.message;
    EXPECT_FALSE(run.reused);
    EXPECT_GE(run.teacher_at_best, 0.0);
    EXPECT_GE(run.student_at_best, 0.0);
  }
  EXPECT_NE(r.markdown.find("| port | 100 | single-sqrt | off | 1 |"), std::string::npos) << r.markdown;
  EXPECT_NE(r.markdown.find("(reference)"), std::string::npos) << r.markdown;
  std::ifstream csv(a.out_dir + "/ablate.csv");
  std::string header;
  std::getline(csv, header);
  EXPECT_EQ(header.rfind("recipe,labels,bn_mode,ema,seed,status", 0), 0u) << header;
  AblateResult again = run_ablation(a);
  for (auto& run : again.runs) EXPECT_TRUE(run.reused) << run.dir;
  a.modes = "twice";
  EXPECT_THROW(run_ablation(a), Error);
  a.modes = "interleave";
  a.labels = "100,x";
  EXPECT_THROW(run_ablation(a), Error);
  fs::remove_all(a.out_dir);
}

// The precision axis: fp32 cells keep the mode's name (the reference cell is fp32's), the
// others are "<mode>@<precision>" and run in that precision (recorded in their config.json);
// an unknown precision names --precisions.
TEST(Ablate, PrecisionsAreAnAxisComparedWithTheFp32Reference) {
  AblateConfig a = tiny_grid(temp_dir("precisions"));
  a.modes = "interleave";
  a.emas = "on";
  a.precisions = "fp32,bf16";
  AblateResult r = run_ablation(a);
  ASSERT_EQ(r.runs.size(), 2u);
  EXPECT_EQ(r.runs[0].mode, "interleave");
  EXPECT_EQ(r.runs[1].mode, "interleave@bf16");
  for (size_t i = 0; i < r.runs.size(); ++i) {
    EXPECT_EQ(r.runs[i].status, RunStatus::Complete) << r.runs[i].dir << ": " << r.runs[i].message;
    const auto cfg = nlohmann::json::parse(read_text(a.out_dir + "/" + r.runs[i].dir + "/config.json"));
    EXPECT_EQ(cfg.at("precision").get<std::string>(), i == 0 ? "fp32" : "bf16") << r.runs[i].dir;
  }
  EXPECT_NE(r.markdown.find("| port | 100 | interleave@bf16 | on | 1 |"), std::string::npos) << r.markdown;
  EXPECT_NE(r.markdown.find("(reference)"), std::string::npos) << r.markdown;
  a.precisions = "fp16";
  mmengine::testing::expect_error_containing([&] { run_ablation(a); }, {"--precisions", "fp16"});
  fs::remove_all(a.out_dir);
}

// Child processes, the labels axis, interruption, a bundle, a fresh folder resumed from it:
// the resumed runs end exactly where uninterrupted in-process runs end.
TEST(Ablate, ConcurrentChildrenBundleAndResumeMatchInProcessRuns) {
  const std::string root = temp_dir("bundle");
  AblateConfig a = tiny_grid(root + "/gpu-call-1");
  a.steps = 4;
  a.labels = "50,100";
  a.modes = "interleave";
  a.emas = "on";
  a.concurrent = 2;
  a.train_exe = mmengine::testing::cli_path();
  a.stop_after = 2;  // every run is interrupted after 2 of its 4 steps
  a.bundle_dir = root + "/bundle-1";
  AblateResult first = run_ablation(a);
  ASSERT_EQ(first.runs.size(), 2u);
  EXPECT_EQ(first.failed, 0) << first.markdown;
  EXPECT_EQ(first.incomplete, 2) << first.markdown;
  EXPECT_EQ(first.runs[0].dir, "port/L50/interleave-ema-on-seed0");
  EXPECT_EQ(first.runs[1].dir, "port/L100/interleave-ema-on-seed0");
  std::vector<std::string> files;
  int64_t total = 0;
  for (auto& e : fs::directory_iterator(a.bundle_dir)) {
    files.push_back(e.path().filename().string());
    EXPECT_LE(fs::file_size(e.path()), uint64_t{16} << 20);
    total += static_cast<int64_t>(fs::file_size(e.path()));
  }
  EXPECT_EQ(files.size(), 5u) << "grid.tar.gz, 2 training states and their 2 best models";
  EXPECT_LE(total, int64_t{64} << 20);
  EXPECT_TRUE(fs::exists(a.bundle_dir + "/port__L50__interleave-ema-on-seed0.last.safetensors"));
  {  // Limits too small for a training state: the bundle says so, and a merge restarts those runs.
    BundleLimits tight;
    tight.max_file_bytes = 64 << 10;
    BundleReport small = write_bundle(a.out_dir, {first.runs[0].dir, first.runs[1].dir}, {}, root + "/small", tight);
    EXPECT_EQ(small.files, std::vector<std::string>{"grid.tar.gz"});
    ASSERT_GE(small.notes.size(), 3u);
    EXPECT_NE(small.notes[0].find("over 64 KiB a file"), std::string::npos) << small.notes[0];
    EXPECT_NE(small.notes.back().find("restarts from step 0"), std::string::npos) << small.notes.back();
    MergeReport m = merge_bundle(root + "/small", root + "/small-merged");
    EXPECT_EQ(m.restarting, 2) << m.summary();
    EXPECT_THROW(merge_bundle(root + "/nonexistent", root + "/x"), Error);
  }

  // A second "GPU call": a fresh folder, the bundle merged, every run resumed and finished.
  AblateConfig b = a;
  b.out_dir = root + "/gpu-call-2";
  b.stop_after = 0;
  b.from_bundles = {a.bundle_dir};
  b.bundle_dir = root + "/bundle-2";
  AblateResult second = run_ablation(b);
  EXPECT_EQ(second.failed, 0) << second.markdown;
  EXPECT_EQ(second.incomplete, 0) << second.markdown;
  for (auto& run : second.runs) {
    EXPECT_EQ(run.status, RunStatus::Complete) << run.dir;
    const std::string log = read_text(b.out_dir + "/" + run.dir + "/train.log");
    EXPECT_NE(log.find("steps 2..4"), std::string::npos) << "resumed at step 2: " << log;
  }

  // The same grid in this process without interruption: the same numbers.
  AblateConfig c = tiny_grid(root + "/in-process");
  c.steps = 4, c.labels = a.labels, c.modes = a.modes, c.emas = a.emas;
  AblateResult direct = run_ablation(c);
  ASSERT_EQ(direct.runs.size(), second.runs.size());
  for (size_t i = 0; i < direct.runs.size(); ++i) {
    EXPECT_EQ(direct.runs[i].dir, second.runs[i].dir);
    EXPECT_EQ(direct.runs[i].final_teacher, second.runs[i].final_teacher) << direct.runs[i].dir;
    EXPECT_EQ(direct.runs[i].final_student, second.runs[i].final_student) << direct.runs[i].dir;
    EXPECT_EQ(direct.runs[i].student_at_best, second.runs[i].student_at_best) << direct.runs[i].dir;
  }

  // The complete grid's bundle reproduces its table in a third folder without training; it
  // carries the best models of seed 0 of the first two BN modes with EMA on (here one mode).
  EXPECT_TRUE(fs::exists(b.bundle_dir + "/port__L50__interleave-ema-on-seed0.best.safetensors"));
  AblateConfig r = b;
  r.out_dir = root + "/report";
  r.from_bundles = {b.bundle_dir};
  r.bundle_dir.clear();
  r.report_only = true;
  AblateResult report = run_ablation(r);
  for (auto& run : report.runs) EXPECT_TRUE(run.reused && run.status == RunStatus::Complete) << run.dir;
  EXPECT_EQ(report.markdown.substr(0, report.markdown.find("\n\n")), second.markdown.substr(0, second.markdown.find("\n\n")));
  EXPECT_TRUE(fs::exists(r.out_dir + "/port/L50/interleave-ema-on-seed0/best.safetensors"));
  fs::remove_all(root);
}

// A run's metrics.csv without its timing columns (images_per_s, elapsed_s): what must be equal
// between two runs of the same experiment, bit for bit as printed.
std::string metric_values(const std::string& path) {
  std::ifstream in(path);
  std::string line, out;
  std::vector<bool> keep;
  while (std::getline(in, line)) {
    std::vector<std::string> cells;
    std::stringstream ss(line);
    for (std::string c; std::getline(ss, c, ',');) cells.push_back(c);
    if (keep.empty())
      for (auto& c : cells) keep.push_back(c != "images_per_s" && c != "elapsed_s");
    for (size_t k = 0; k < cells.size() && k < keep.size(); ++k)
      if (keep[k]) out += cells[k] + ",";
    out += "\n";
  }
  return out;
}

// --concurrent-mode streams: the runs on threads of this process (each its own train.log) end
// exactly where one-after-another runs end (every metrics row equal), and a complete grid reruns
// as reused. The CPU test trains 4 runs (fp32 and bf16) of 2 steps on 3 threads (one thread
// trains two), each interrupted after its first step and resumed the same way (~130 s under
// the sanitizer at 4 steps: kept short); the emulated build repeats a
// smaller grid on the CUDA device, 2 runs of 1 step on 2 threads, one stream each (its kernels
// run on the CPU: ~10 s a step; it runs in the first emulated schedule only, not under the
// sanitizer: tools/run-tests.sh).
void streams_grid_matches_sequential(const std::string& device, const std::string& name, const std::string& modes,
                                     const std::string& precisions, int64_t steps, int concurrent, bool interrupt,
                                     int64_t eval_images) {
  const std::string root = temp_dir(name);
  AblateConfig a = tiny_grid(root + "/streams");
  a.device = device;
  a.steps = a.eval_every_steps = steps;
  a.max_eval_images = eval_images;
  a.modes = modes;
  a.precisions = precisions;
  a.emas = "on,off";
  a.concurrent = concurrent;
  a.concurrent_mode = ConcurrentMode::Streams;
  auto items = [](const std::string& list) { return static_cast<size_t>(std::count(list.begin(), list.end(), ',') + 1); };
  const size_t runs = 2 * items(modes) * items(precisions);
  if (interrupt) {
    a.stop_after = steps / 2;
    AblateResult first = run_ablation(a);
    ASSERT_EQ(first.runs.size(), runs);
    EXPECT_EQ(first.failed, 0) << first.markdown;
    EXPECT_EQ(first.incomplete, static_cast<int>(runs)) << first.markdown;
    a.stop_after = 0;
  }
  AblateResult second = run_ablation(a);
  ASSERT_EQ(second.runs.size(), runs);
  EXPECT_EQ(second.failed, 0) << second.markdown;
  EXPECT_EQ(second.incomplete, 0) << second.markdown;
  const std::string trained = "steps " + std::to_string(interrupt ? steps / 2 : 0) + ".." + std::to_string(steps);
  for (auto& run : second.runs) {
    const std::string log = read_text(a.out_dir + "/" + run.dir + "/train.log");
    EXPECT_NE(log.find(trained), std::string::npos) << run.dir << " trained " << trained << ", its log: " << log;
  }
  AblateResult again = run_ablation(a);  // a complete grid: every run reused, nothing to train
  EXPECT_EQ(again.failed, 0) << again.markdown;
  for (auto& run : again.runs) EXPECT_TRUE(run.reused) << run.dir;
  AblateConfig c = a;
  c.out_dir = root + "/sequential";
  c.concurrent = 0;
  AblateResult direct = run_ablation(c);
  ASSERT_EQ(direct.runs.size(), runs);
  for (size_t i = 0; i < runs; ++i) {
    EXPECT_EQ(direct.runs[i].dir, second.runs[i].dir);
    EXPECT_EQ(direct.runs[i].status, RunStatus::Complete) << direct.runs[i].message;
    // Every loss, learning-rate and accuracy number of every metrics row, to the printed digit.
    const std::string rows = metric_values(c.out_dir + "/" + direct.runs[i].dir + "/metrics.csv");
    EXPECT_FALSE(rows.empty()) << direct.runs[i].dir;
    EXPECT_EQ(metric_values(a.out_dir + "/" + second.runs[i].dir + "/metrics.csv"), rows) << direct.runs[i].dir;
  }
  fs::remove_all(root);
}

TEST(Ablate, StreamsModeRunsOnThreadsAndMatchesSequentialRuns) {
  // fp32 and bf16 runs side by side: each thread keeps its own precision switches.
  streams_grid_matches_sequential("cpu", "streams", "interleave", "fp32,bf16", 2, 3, true, 20);
}

TEST(Ablate, CudaStreamsModeRunsOnThreadsAndMatchesSequentialRuns) {
  MM_SKIP_WITHOUT(Device::CUDA);
  streams_grid_matches_sequential("cuda", "streams_cuda", "interleave", "fp32", 1, 2, false, 20);
}

TEST(Ablate, FailedRunsAreReportedNotDropped) {
  AblateConfig a = tiny_grid(temp_dir("fail"));
  a.modes = "interleave";
  a.emas = "on";
  a.concurrent = 1;
  a.train_exe = "/bin/false";
  AblateResult r = run_ablation(a);
  ASSERT_EQ(r.runs.size(), 1u);
  EXPECT_EQ(r.failed, 1);
  EXPECT_EQ(r.runs[0].status, RunStatus::Failed);
  EXPECT_NE(r.markdown.find("FAILED port/L100/interleave-ema-on-seed0: exit 1"), std::string::npos) << r.markdown;
  a.concurrent = 0;  // in this process: a missing dataset folder
  a.dataset = "cifar10";
  a.data_dir = "/nonexistent-cifar";
  AblateResult r2 = run_ablation(a);
  EXPECT_EQ(r2.failed, 1);
  EXPECT_NE(r2.markdown.find("nonexistent-cifar"), std::string::npos) << r2.markdown;
  fs::remove_all(a.out_dir);
}

TEST(Ablate, SeedExtensionFollowsTheRule) {
  AblateConfig a = tiny_grid(temp_dir("seeds"));
  a.modes = "interleave,single";
  a.emas = "on";
  a.seeds = 2;
  a.max_seeds = 3;
  AblateResult r = run_ablation(a);
  std::map<std::string, std::vector<double>> base;
  std::map<std::string, int> count;
  for (auto& run : r.runs) {
    ++count[run.mode];
    if (run.seed < 2) base[run.mode].push_back(run.selected_at_best());
  }
  const int want = needs_more_seeds(base["single"], base["interleave"]) ? 3 : 2;
  EXPECT_EQ(count["single"], want) << r.markdown;
  EXPECT_EQ(count["interleave"], want) << r.markdown;
  fs::remove_all(a.out_dir);
}

TEST(Cli, AblateConcurrentAndBenchSweep) {
  const std::string d = temp_dir("cli");
  auto [rc, out] = run_cli("ablate --preset synthetic --device cpu --steps 2 --eval-every-steps 2 --max-eval-images 50 "
                           "--modes interleave --ema on,off --concurrent 2 --out " + d + "/grid --bundle " + d + "/bundle");
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("2 runs: 2 complete"), std::string::npos) << out;
  EXPECT_NE(out.find("grid.tar.gz"), std::string::npos) << out;
  auto [rc2, out2] = run_cli("bench --device cpu --depth 10 --widen 1 --batch 8 --concurrent-sweep 1,2 --sweep-steps 3 --json " +
                             d + "/sweep.json");
  EXPECT_EQ(rc2, 0) << out2;
  EXPECT_NE(out2.find("concurrent training runs (processes)"), std::string::npos) << out2;
  EXPECT_NE(out2.find("concurrent training runs (streams)"), std::string::npos) << out2;
  EXPECT_NE(out2.find("streams / processes, aggregate steps/s:  N=1 "), std::string::npos) << out2;
  const auto sweep = nlohmann::json::parse(read_text(d + "/sweep.json"));
  for (const char* mode : {"processes", "streams"})
    for (const char* n : {"1", "2"})
      EXPECT_GT(sweep["concurrent"][mode][n].value("aggregate_steps_per_s", 0.0), 0.0) << mode << " N=" << n << ": " << sweep;
  EXPECT_GT(sweep["concurrent"]["streams_over_processes"].value("2", 0.0), 0.0) << sweep;
  auto [rc4, out4] = run_cli("ablate --preset synthetic --device cpu --steps 2 --eval-every-steps 2 --max-eval-images 50 "
                             "--modes interleave --ema on,off --concurrent 2 --concurrent-mode streams --out " + d + "/grid-streams");
  EXPECT_EQ(rc4, 0) << out4;
  EXPECT_NE(out4.find("2 runs: 2 complete"), std::string::npos) << out4;
  EXPECT_EQ(out4.find("epoch 1 step 2"), std::string::npos) << "the runs' progress belongs in their train.log: " << out4;
  EXPECT_NE(read_text(d + "/grid-streams/port/L100/interleave-ema-off-seed0/train.log").find("epoch 1 step 2"), std::string::npos);
  {  // Under an MPI launcher the runs' threads would share its communicator: refused, naming the flag.
    auto [rc5, out5] = run_cli("ablate --concurrent 2 --concurrent-mode streams --out " + d + "/mpi", "OMPI_COMM_WORLD_SIZE=2 ");
    EXPECT_NE(rc5, 0) << out5;
    EXPECT_NE(out5.find("--concurrent-mode streams: not under an MPI launcher"), std::string::npos) << out5;
  }
  for (auto [args, flag] : std::vector<std::pair<std::string, std::string>>{
           {"ablate --labels 25x --out " + d + "/x", "--labels"},
           {"ablate --from-bundle /nonexistent-bundle --out " + d + "/x", "/nonexistent-bundle"},
           {"ablate --concurrent -1", "--concurrent"},
           {"ablate --concurrent 2 --concurrent-mode fibers --out " + d + "/x", "--concurrent-mode"},
           {"ablate --concurrent 2 --concurrent-mode streams --ranks 2 --out " + d + "/x", "--concurrent-mode processes"},
           {"bench --concurrent-sweep 1 --sweep-modes threads", "--sweep-modes"},
           {"bench --concurrent-sweep 0", "--concurrent-sweep"}}) {
    auto [rc3, out3] = run_cli(args);
    EXPECT_NE(rc3, 0) << args;
    EXPECT_NE(out3.find(flag), std::string::npos) << args << " -> " << out3;
    EXPECT_LE(std::count(out3.begin(), out3.end(), '\n'), 2) << "one line: " << out3;
  }
  fs::remove_all(d);
}

// `mmengine bench --variants bn-kernels`: the BatchNorm kernels and a copy of the same bytes, at B
// and 3B on group 1's and group 3's shapes, each row a positive time and bandwidth (on a GPU, or
// the emulated device at a tiny size: its numbers are CPU timings, only the table's shape is
// checked); refused without CUDA.
TEST(Cli, BenchBnKernelsTimeTheCudaKernelsAgainstACopy) {
  auto [rc0, out0] = run_cli("bench --device cpu --variants bn-kernels");
  EXPECT_NE(rc0, 0);
  EXPECT_NE(out0.find("bn-kernels: needs --device cuda"), std::string::npos) << out0;
  MM_SKIP_WITHOUT(Device::CUDA);
  const std::string d = temp_dir("bench_bn_kernels");
  fs::create_directories(d);
  auto [rc, out] = run_cli("bench --device cuda --widen 1 --batch 1 --warmup 0 --repeats 1 --variants bn-kernels --json " +
                           d + "/bench.json");
  ASSERT_EQ(rc, 0) << out;
  const auto rows = nlohmann::json::parse(read_text(d + "/bench.json")).at("bn_kernels");
  EXPECT_EQ(rows.size(), 12u) << rows.dump();
  for (const char* kernel : {"device copy", "forward (sums, centered squares, apply)", "backward (gradient sums, input gradient)"})
    for (std::string shape : {"", " 8x8"})
      for (int b : {1, 3}) {
        const std::string name = std::string(kernel) + " B=" + std::to_string(b) + shape;
        ASSERT_TRUE(rows.contains(name)) << name << " in " << rows.dump();
        for (const char* key : {"median_ms", "floor_ms", "of_floor", "passes_mb", "effective_gb_per_s"})
          EXPECT_GT(rows.at(name).at(key).get<double>(), 0) << name << " " << key;
      }
  EXPECT_DOUBLE_EQ(rows.at("device copy B=3").at("of_floor").get<double>(), 1.0);  // the copy is its own floor
  fs::remove_all(d);
}

// `mmengine bench --variants`: only the parts asked for (the interleaved step always, as the
// baseline of every step row); an unknown part is an error naming the flag and the choices.
TEST(Cli, BenchVariantsPickTheParts) {
  const std::string d = temp_dir("bench_variants");
  fs::create_directories(d);
  auto [rc, out] = run_cli("bench --device cpu --depth 10 --widen 1 --batch 4 --warmup 0 --repeats 1 --variants sync,model "
                           "--json " + d + "/bench.json");
  ASSERT_EQ(rc, 0) << out;
  const auto j = nlohmann::json::parse(read_text(d + "/bench.json"));
  EXPECT_EQ(j.at("variants").get<std::string>(), "model,sync");
  EXPECT_TRUE(j.at("complete").get<bool>()) << "the last write of --json (each row rewrites it with complete: false)";
  const auto& t = j.at("timings");
  for (const char* row : {"forward B=4", "forward+backward B=12", "MixMatch step (interleave)",
                          "MixMatch step (interleave, losses read every step)"})
    EXPECT_TRUE(t.contains(row)) << row << " in " << t.dump();
  for (const char* row : {"MixMatch step (separate)", "MixMatch step (interleave, no fusions)",
                          "eval forward B=12 (fused eval BN+LeakyReLU)"})
    EXPECT_FALSE(t.contains(row)) << row;
  EXPECT_FALSE(j.contains("breakdown"));
  EXPECT_FALSE(j.contains("pipeline"));
  EXPECT_EQ(j.at("counts").at("host_syncs_per_step").get<int64_t>(), 0);
  auto [rc2, out2] = run_cli("bench --device cpu --variants model,nope");
  EXPECT_NE(rc2, 0);
  for (const char* needle : {"--variants", "nope", "conv-layers"}) EXPECT_NE(out2.find(needle), std::string::npos) << out2;
  // --dist picks the communicator of --ranks: refused without it, a wrong word named.
  auto [rc3, out3] = run_cli("bench --device cpu --dist nccl");
  EXPECT_NE(rc3, 0);
  EXPECT_NE(out3.find("--dist: only with --ranks"), std::string::npos) << out3;
  auto [rc4, out4] = run_cli("bench --device cpu --ranks --dist gloo");
  EXPECT_NE(rc4, 0);
  for (const char* needle : {"--dist", "gloo", "auto, none, mpi or nccl"}) EXPECT_NE(out4.find(needle), std::string::npos) << out4;
  // --precision: every row at that precision, recorded in the JSON; the precisions part (which
  // compares against FP32), --ranks and an unknown word are refused by name.
  EXPECT_EQ(j.at("precision").get<std::string>(), "fp32");
  // (every part this build runs on the CPU; those bf16 cannot run are left out and said)
  auto [rc5, out5] = run_cli("bench --device cpu --depth 10 --widen 1 --batch 4 --warmup 0 --repeats 1 --quick "
                             "--precision bf16 --json " + d + "/bench_bf16.json");
  ASSERT_EQ(rc5, 0) << out5;
  for (const char* needle : {"precision: bf16 (the model and step rows)", "part eval left out", "part fusions left out"})
    EXPECT_NE(out5.find(needle), std::string::npos) << needle << " in " << out5;
  const auto j5 = nlohmann::json::parse(read_text(d + "/bench_bf16.json"));
  EXPECT_EQ(j5.at("precision").get<std::string>(), "bf16");
  EXPECT_TRUE(j5.at("timings").contains("MixMatch step (interleave)")) << j5.dump();
  EXPECT_TRUE(j5.contains("breakdown")) << j5.dump();
  for (const auto& [cmd, needle] : std::vector<std::pair<std::string, std::string>>{
           {"bench --device cpu --precision bf16 --variants precisions", "--variants precisions: not with --precision bf16"},
           {"bench --device cpu --precision bf16 --variants fusions", "--variants fusions: not with --precision bf16"},
           {"bench --device cpu --ranks --precision bf16", "--precision: not with --ranks"},
           {"bench --device cpu --precision fp16 --variants precisions", "fp16"},
           {"bench --device cpu --precision tf32", "--precision tf32"}}) {
    auto [rc6, out6] = run_cli(cmd);
    EXPECT_NE(rc6, 0) << cmd;
    EXPECT_NE(out6.find(needle), std::string::npos) << cmd << ": " << out6;
  }
  fs::remove_all(d);
}
