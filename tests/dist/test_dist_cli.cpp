// `mpirun -np 2 mmengine train`: the run folder written by rank 0, --resume on the same world
// size equal to an uninterrupted run and refused on another, and a stopped rank (SIGSTOP)
// ending the job within --collective-timeout with an error naming it.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <regex>
#include <sstream>

#include "tests/test_util.h"

namespace mmengine::testing {
namespace {

// A fresh folder name under the test temp dir; it (and NAME.log, NAME-x) is removed at exit.
std::string tmp_dir(const std::string& name) {
  const std::string d = ::testing::TempDir() + "mm_dist_" + name + "_" + std::to_string(getpid());
  const std::string rm = "rm -rf '" + d + "' '" + d + ".log' '" + d + "-x'";
  std::system(rm.c_str());
  static std::vector<std::string> made;
  if (made.empty()) std::atexit([] {
      for (auto& c : made) std::system(c.c_str());
    });
  made.push_back(rm);
  return d;
}

const char* kTiny =
    " --preset synthetic --labels 100 --val-per-class 20 --depth 10 --widen 1"
    " --steps-per-epoch 3 --max-eval-images 60 --log-every 1 --device cpu";

std::pair<int, std::string> mpirun(int ranks, const std::string& args) {
  return run_cli(args, std::string(MMENGINE_MPIRUN) + " -np " + std::to_string(ranks) + " ");
}

std::string read(const std::string& path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

// The tensor data of a safetensors file (past its 8-byte length and JSON header, whose
// metadata holds the wall time).
std::string tensor_bytes(const std::string& path) {
  const std::string all = read(path);
  if (all.size() < 8) return "";
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = n << 8 | static_cast<unsigned char>(all[i]);
  return n + 8 <= all.size() ? all.substr(8 + n) : "";
}

// metrics.csv without the columns that measure time.
std::string metrics_without_times(const std::string& dir) {
  std::istringstream in(read(dir + "/metrics.csv"));
  std::string line, header, out;
  std::getline(in, header);
  std::vector<std::string> names;
  std::stringstream hs(header);
  for (std::string c; std::getline(hs, c, ',');) names.push_back(c);
  while (std::getline(in, line)) {
    std::stringstream ls(line);
    size_t i = 0;
    for (std::string c; std::getline(ls, c, ','); ++i)
      if (i < names.size() && names[i] != "images_per_s" && names[i] != "elapsed_s") out += c + ",";
    out += "\n";
  }
  return out;
}

TEST(DistCli, ResumeOnTwoRanksEqualsAnUninterruptedRun) {
  const std::string whole = tmp_dir("whole"), parts = tmp_dir("parts");
  auto [rc, out] = mpirun(2, std::string("train") + kTiny + " --batch-size 8 --epochs 2 --collective-timeout 60 --out " + whole);
  ASSERT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("2 ranks (mpi, BN statistics global)"), std::string::npos) << out;
  auto [rc1, out1] = mpirun(2, std::string("train") + kTiny + " --batch-size 8 --epochs 2 --collective-timeout 60 --stop-after 4 --out " + parts);
  ASSERT_EQ(rc1, 0) << out1;
  auto [rc2, out2] = mpirun(2, "train --resume --out " + parts);
  ASSERT_EQ(rc2, 0) << out2;
  EXPECT_EQ(metrics_without_times(parts), metrics_without_times(whole));
  EXPECT_TRUE(tensor_bytes(parts + "/last.safetensors") == tensor_bytes(whole + "/last.safetensors"))
      << "the final checkpoints' tensors differ";
  EXPECT_NE(read(whole + "/config.json").find("\"world_size\": 2"), std::string::npos);
  // Another world size is refused, naming both.
  auto [rc3, out3] = run_cli("train --resume --out " + parts);
  EXPECT_NE(rc3, 0);
  EXPECT_NE(out3.find("was trained on 2 rank(s)"), std::string::npos) << out3;
  EXPECT_NE(out3.find("this invocation has 1"), std::string::npos) << out3;
}

TEST(DistCli, BatchNotDivisibleByTheRanksIsAClearError) {
  auto [rc, out] = mpirun(2, std::string("train") + kTiny + " --batch-size 7 --out " + tmp_dir("odd"));
  EXPECT_NE(rc, 0);
  EXPECT_NE(out.find("--batch-size 7: must be divisible by the number of ranks (2)"), std::string::npos) << out;
}

// SIGSTOP on rank 1 (stopped, not killed): rank 0 waits in its next collective, then ends the
// job within --collective-timeout, naming rank 1.
TEST(DistCli, AStoppedRankEndsTheOthersWithinTheCollectiveTimeout) {
  const std::string dir = tmp_dir("stopped");
  const std::string log = dir + ".log";
  const std::string cmd = std::string(MMENGINE_MPIRUN) + " -np 2 '" + cli_path() + "' train" + kTiny +
                          " --batch-size 8 --epochs 50 --collective-timeout 4 --out " + dir + " > " + log + " 2>&1";
  const pid_t job = fork();
  ASSERT_GE(job, 0);
  if (job == 0) {
    execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  // Rank 1 says its pid when it starts; stop it once the first steps have run.
  const std::regex rank1("rank 1 of 2: pid ([0-9]+)");
  std::smatch m;
  pid_t victim = 0;
  const auto t0 = std::chrono::steady_clock::now();
  auto seconds = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); };
  int status = 0;
  while (seconds() < 120) {
    ASSERT_EQ(waitpid(job, &status, WNOHANG), 0) << "the job ended before a rank was stopped\n" << read(log);
    const std::string text = read(log);
    if (!victim && std::regex_search(text, m, rank1)) victim = std::stoi(m[1]);
    if (victim && text.find("step 2/") != std::string::npos) break;
    usleep(100000);
  }
  ASSERT_GT(victim, 0) << read(log);
  ASSERT_EQ(kill(victim, SIGSTOP), 0);
  const auto stopped_at = std::chrono::steady_clock::now();
  pid_t done = 0;
  while ((done = waitpid(job, &status, WNOHANG)) == 0 && seconds() < 240) usleep(100000);
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - stopped_at).count();
  kill(victim, SIGKILL);  // if the launcher left it behind
  if (done == 0) {
    kill(job, SIGKILL);
    waitpid(job, &status, 0);
    FAIL() << "the job did not end after rank 1 was stopped\n" << read(log);
  }
  const std::string text = read(log);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) != 0) << text;
  EXPECT_LT(took, 4 + 5 + 15) << "timeout 4 s, probe grace <= 5 s, launcher shutdown";
  EXPECT_NE(text.find("did not complete within --collective-timeout 4 s"), std::string::npos) << text;
  EXPECT_NE(text.find("rank(s) 1 did not arrive"), std::string::npos) << text;
}

}  // namespace
}  // namespace mmengine::testing

namespace mmengine::testing {
namespace {

// `mmengine ablate --bn-syncs global,local --ranks 2`: one cell per BN synchronization, each
// run an mpirun of 2 ranks with its --bn-sync.
TEST(DistCli, AblateHasBnSyncAsAnAxisOnTwoRanks) {
  const std::string dir = tmp_dir("ablate");
  auto [rc, out] = run_cli("ablate --preset synthetic --steps 2 --eval-every-steps 2 --modes interleave --ema on "
                           "--bn-syncs global,local --ranks 2 --concurrent 1 --max-eval-images 20 --out " + dir,
                           std::string("MMENGINE_MPIRUN='") + MMENGINE_MPIRUN + "' ");
  ASSERT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("| interleave+local | on | 1 |"), std::string::npos) << out;
  const std::string local = read(dir + "/port/L100/interleave+local-ema-on-seed0/config.json");
  EXPECT_NE(local.find("\"bn_sync\": \"local\""), std::string::npos) << local;
  EXPECT_NE(local.find("\"world_size\": 2"), std::string::npos) << local;
  EXPECT_NE(read(dir + "/port/L100/interleave-ema-on-seed0/config.json").find("\"bn_sync\": \"global\""),
            std::string::npos);
  auto [rc2, out2] = run_cli("ablate --preset synthetic --steps 2 --ranks 2 --out " + dir + "-x");
  EXPECT_NE(rc2, 0);
  EXPECT_NE(out2.find("--ranks 2: each run is an mpirun of the ranks, so it needs --concurrent 1 or more"),
            std::string::npos)
      << out2;
}

// `mpirun -np 2 mmengine bench --ranks`: both BN synchronizations timed, the collectives each
// step sends counted (WRN-10-1: 7 BatchNorm calls per pass, 5 of them with a gradient),
// synchronized BN's overhead and one exchange timed alone, the gradient all-reduce; in the
// JSON too. `--dist none` under mpirun is refused (every process would be rank 0).
TEST(DistCli, BenchRanksCountsTheCollectivesOfAStep) {
  const std::string dir = tmp_dir("bench_ranks");
  std::system(("mkdir -p '" + dir + "'").c_str());
  const std::string json = dir + "/bench.json";
  auto [rc, out] = mpirun(2, "bench --ranks --device cpu --depth 10 --widen 1 --batch 4 --warmup 0 --repeats 1 --json " +
                                 json);
  ASSERT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("; 16 all-gathers, 6 all-reduces"), std::string::npos) << out;
  EXPECT_NE(out.find("; 2 all-gathers, 2 all-reduces"), std::string::npos) << out;
  EXPECT_NE(out.find("synchronized BN overhead (global - local)"), std::string::npos) << out;
  EXPECT_NE(out.find("us per all-gather"), std::string::npos) << out;
  const std::string j = read(json);
  for (const char* key : {"\"sync_bn_overhead\"", "\"sync_bn_exchange\"", "\"all_gathers\": 16", "\"ranks\": 2",
                          "\"allreduce\""})
    EXPECT_NE(j.find(key), std::string::npos) << key << " in " << j;
  auto [rc2, out2] = mpirun(2, "bench --ranks --dist none --device cpu --depth 10 --widen 1 --batch 4");
  EXPECT_NE(rc2, 0);
  EXPECT_NE(out2.find("--dist none: started by an MPI launcher"), std::string::npos) << out2;
}

}  // namespace
}  // namespace mmengine::testing
