// Runs that can be trusted (issue 16): resume, concurrent runs, full disks, untrusted
// checkpoints and out-of-range numbers. Tiny synthetic runs on the CPU; the CLI tests run the
// real binary.
#include <sys/stat.h>

#include <chrono>
#include <csignal>
#include <climits>
#include <cmath>
#include <cstring>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <memory>
#include <optional>
#include <thread>

#include "data/cifar10.h"
#include "data/dataset.h"
#include "data/idx.h"
#include "data/split.h"
#include "engine/conv_backend.h"
#include "engine/kernel_version.h"
#include "engine/precision.h"
#include "engine/runtime.h"
#include "engine/safetensors.h"
#include "kernels/gemm.h"
#include "layers/checkpoint.h"
#include "layers/wideresnet.h"
#include "mixmatch/config.h"
#include "mixmatch/interrupt.h"
#include "mixmatch/metrics.h"
#include "mixmatch/run_folder.h"
#include "mixmatch/trainer.h"
#include "tests/test_util.h"

using namespace mmengine;
using namespace mmengine::testing;

namespace {
std::string fresh_dir(const std::string& name) {
  const std::string d = ::testing::TempDir() + "mmrel_" + std::to_string(::getpid()) + "_" + name;
  std::system(("rm -rf '" + d + "'").c_str());
  return d;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

void put(const std::string& path, const std::string& bytes) { std::ofstream(path, std::ios::binary) << bytes; }

// What `bash script` prints on its standard output.
std::string script_output(const std::string& script) {
  FILE* p = popen(("bash " + script).c_str(), "r");
  std::string out;
  char buf[256];
  while (p && fgets(buf, sizeof buf, p)) out += buf;
  if (p) pclose(p);
  return out;
}

// The same tiny run on the command line.
const std::string kTinyFlags =
    "--preset synthetic --batch-size 16 --max-eval-images 100 --val-per-class 20 --ema-decay 0.9 --device cpu ";

// Loads a safetensors file, lets `edit` change it, writes it back (metadata and integers kept).
template <typename F>
void edit_safetensors(const std::string& path, F&& edit) {
  TensorFile f = load_safetensors(path);
  edit(f);
  std::vector<std::pair<std::string, Tensor>> tensors;
  std::vector<std::pair<std::string, int64_t>> ints;
  for (auto& name : f.order) {
    if (f.tensors.count(name)) tensors.emplace_back(name, f.tensors.at(name));
    if (f.integers.count(name)) ints.emplace_back(name, f.integers.at(name));
  }
  save_safetensors(path, tensors, ints, f.metadata);
}

Tensor with_nan(const Tensor& t) {
  std::vector<double> v = t.to_vector();
  v[v.size() / 2] = NAN;
  return Tensor::from_vector(v, t.shape(), t.dtype());
}

// The step column of a metrics.csv, and its rows cut to the columns that do not depend on timing.
// The rows of a metrics.csv with the wall-clock columns (images_per_s, elapsed_s) blanked.
std::vector<std::string> csv_rows_without_timing(const std::string& path) {
  std::vector<std::string> rows;
  std::ifstream in(path);
  std::vector<size_t> timing;
  for (std::string line; std::getline(in, line);) {
    std::vector<std::string> fields;
    size_t pos = 0;
    for (size_t comma; (comma = line.find(',', pos)) != std::string::npos; pos = comma + 1)
      fields.push_back(line.substr(pos, comma - pos));
    fields.push_back(line.substr(pos));
    if (rows.empty())  // the header names the columns
      for (size_t i = 0; i < fields.size(); ++i)
        if (fields[i] == "images_per_s" || fields[i] == "elapsed_s") timing.push_back(i);
    for (size_t i : timing)
      if (i < fields.size()) fields[i] = "";
    std::string joined;
    for (auto& f : fields) joined += f + ",";
    rows.push_back(joined);
  }
  return rows;
}

double summary_number(const std::string& dir, const char* key) {
  return nlohmann::json::parse(slurp(dir + "/summary.json")).at(key).get<double>();
}
}  // namespace

// Item 1: --resume of a finished run leaves it untouched; a run killed between its final
// checkpoint and summary.json gets its real final numbers.
TEST(Reliability, ResumeOfACompleteRunLeavesItUntouched) {
  const std::string dir = fresh_dir("complete");
  TrainConfig c = tiny_run(dir);
  c.epochs = 1;
  c.steps_per_epoch = 3;
  train_mixmatch(c);
  const std::string summary = slurp(dir + "/summary.json"), metrics = slurp(dir + "/metrics.csv");
  const double teacher = summary_number(dir, "final_teacher_test"), student = summary_number(dir, "final_student_val");
  c.resume = true;
  train_mixmatch(c);
  EXPECT_EQ(slurp(dir + "/summary.json"), summary) << "a complete run is left untouched";
  EXPECT_EQ(slurp(dir + "/metrics.csv"), metrics);
  std::remove((dir + "/summary.json").c_str());  // killed after the last checkpoint, before the summary
  train_mixmatch(c);
  ASSERT_TRUE(run_complete(dir));
  EXPECT_EQ(summary_number(dir, "final_teacher_test"), teacher);
  EXPECT_EQ(summary_number(dir, "final_student_val"), student);
  EXPECT_EQ(slurp(dir + "/metrics.csv"), metrics);
}

// Item 2: a second training into a folder in use is refused, naming the holder.
TEST(Reliability, SecondTrainingIntoTheSameFolderIsRefused) {
  const std::string dir = fresh_dir("locked");
  const std::string first_cmd = "exec " + cli_path() +
                                " train --preset synthetic --epochs 1000 --eval-every 1000 --max-eval-images 100 "
                                "--device cpu --time-limit 0.2 --out " + dir + " > /dev/null 2>&1";
  FILE* first = popen(first_cmd.c_str(), "r");
  ASSERT_NE(first, nullptr);
  struct stat st;
  for (int i = 0; i < 200 && ::stat((dir + "/config.json").c_str(), &st) != 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  auto [rc, out] = run_cli("train --preset synthetic --epochs 1 --steps-per-epoch 2 --max-eval-images 100 --device cpu "
                           "--time-limit 0.05 --overwrite --out " + dir);
  pclose(first);
  EXPECT_NE(rc, 0) << out;
  EXPECT_NE(out.find("in use by another training"), std::string::npos) << out;
  EXPECT_NE(out.find("pid "), std::string::npos) << "names the holder: " << out;
  EXPECT_LE(std::count(out.begin(), out.end(), '\n'), 1) << out;
}

TEST(Reliability, RunLockIsExclusiveAndReleased) {
  const std::string dir = fresh_dir("lock_unit") + "/nested";
  {
    RunLock held(dir);
    expect_error_containing([&] { RunLock second(dir); }, {dir, "pid " + std::to_string(::getpid())});
    expect_error_containing([&] { train_mixmatch(tiny_run(dir)); }, {"in use by another training"});
  }
  RunLock again(dir);  // released when the holder ends
}

// Item 3: --resume takes the run's settings from config.json and refuses a flag that changes them.
TEST(Reliability, ResumeTakesTheRunsSettingsAndRefusesChanges) {
  const std::string dir = fresh_dir("settings");
  auto [rc, out] = run_cli("train " + kTinyFlags + "--epochs 1 --steps-per-epoch 4 --log-every 2 --seed 3 --stop-after 2 --out " + dir);
  ASSERT_EQ(rc, 0) << out;
  for (auto [flag, value] : std::vector<std::pair<std::string, std::string>>{
           {"--seed", "4"}, {"--lr", "0.5"}, {"--labels", "200"}, {"--bn-mode", "single"}, {"--epochs", "3"}, {"--val-per-class", "30"},
           {"--preset", "quick"}}) {
    auto [rc2, out2] = run_cli("train --resume --out " + dir + " " + flag + " " + value);
    EXPECT_NE(rc2, 0) << flag << ": " << out2;
    EXPECT_NE(out2.find(flag), std::string::npos) << out2;
    EXPECT_NE(out2.find(value), std::string::npos) << "names the new value: " << out2;
    EXPECT_LE(std::count(out2.begin(), out2.end(), '\n'), 1) << out2;
  }
  auto [rc3, out3] = run_cli("train --resume --out " + dir + " --seed 4");
  EXPECT_NE(out3.find("3"), std::string::npos) << "names the old value: " << out3;
  // Without repeating the flags, and with the ones that may change.
  auto [rc4, out4] = run_cli("train --resume --out " + dir + " --time-limit 5 --log-every 1 --seed 3");
  ASSERT_EQ(rc4, 0) << out4;
  EXPECT_NE(out4.find("steps 2..4"), std::string::npos) << out4;
  EXPECT_NE(slurp(dir + "/config.json").find("\"seed\": 3"), std::string::npos);
  EXPECT_TRUE(run_complete(dir));
  // The library refuses too (callers other than the CLI).
  TrainConfig c = tiny_run(dir);
  c.epochs = 1;  // as the run; only the seed differs
  c.seed = 9;
  c.resume = true;
  std::remove((dir + "/summary.json").c_str());
  expect_error_containing([&] { train_mixmatch(c); }, {"seed", "9"});
}

// config.json is what --resume reads: every setting survives the round trip, and files written
// before depth, width and the per-invocation settings were recorded still load.
TEST(Reliability, ConfigJsonRoundTripsAndReadsOlderFiles) {
  TrainConfig c = tiny_run("/tmp/x");
  apply_recipe("google", c);
  c.seed = 18446744073709551615ull;
  c.bn_mode = BnMode::Single;
  c.lr_scale_sqrt = true;
  c.rampup_steps = 7;
  const std::string text = config_to_json(c, "cpu");
  TrainConfig back = config_from_json(text, "config.json");
  SettingChange d;
  EXPECT_FALSE(experiment_differs(c, back, &d)) << d.key << ": " << d.before << " -> " << d.after;
  EXPECT_EQ(config_to_json(back, "cpu"), text);
  nlohmann::json old = nlohmann::json::parse(text);
  for (const char* k : {"preset", "depth", "widen", "eval_batch", "log_every", "prefetch"}) old.erase(k);
  back = config_from_json(old.dump(), "old/config.json");
  EXPECT_EQ(back.depth, 10);
  EXPECT_EQ(back.widen, 1);
  EXPECT_FALSE(experiment_differs(c, back, nullptr));
  old.erase("seed");
  expect_error_containing([&] { config_from_json(old.dump(), "old/config.json"); }, {"old/config.json", "'seed'"});
}

// Item 4: a failed metrics write stops the run naming the file; --resume drops a partial last
// row and the rows past the checkpoint, and continues with nothing lost.
TEST(Reliability, MetricsWriteFailureNamesTheFile) {
  const std::string dir = fresh_dir("full_disk");
  ::mkdir(dir.c_str(), 0755);
  MetricsWriter w(dir, {"step", "loss"}, -1);
  w.write({{"step", 1}, {"loss", 0.5}});
  std::remove((dir + "/metrics.csv").c_str());
  ASSERT_EQ(::symlink("/dev/full", (dir + "/metrics.csv").c_str()), 0);  // every write: ENOSPC
  expect_error_containing([&] { w.write({{"step", 2}, {"loss", 0.4}}); }, {"metrics.csv", "write failed"});
}

TEST(Reliability, ResumeDropsPartialAndLaterMetricRows) {
  const std::string straight = fresh_dir("rows_straight"), split = fresh_dir("rows_split");
  TrainConfig a = tiny_run(straight);
  a.steps_per_epoch = 3;  // 6 steps, rows at 1, 2, ..., 6; checkpoints at 3 and 6
  a.log_every = 1;
  train_mixmatch(a);
  TrainConfig b = a;
  b.out_dir = split;
  b.stop_after = 3;
  train_mixmatch(b);
  // The run went on past its checkpoint (row 4) and died while writing row 5 (cut to "1": a
  // crash inside the number of a later row, as in "10,...").
  const std::vector<std::string> rows = csv_rows_without_timing(straight + "/metrics.csv");
  std::string csv = slurp(split + "/metrics.csv"), jsonl = slurp(split + "/metrics.jsonl");
  std::ifstream full(straight + "/metrics.csv");
  std::string line;
  for (int i = 0; i <= 4; ++i) std::getline(full, line);  // header + rows 1, 2, 3, then row 4
  put(split + "/metrics.csv", csv + line + "\n1");
  put(split + "/metrics.jsonl", jsonl + "{\"step\": 1");
  b.resume = true;
  b.stop_after = 0;
  train_mixmatch(b);
  EXPECT_EQ(csv_rows_without_timing(split + "/metrics.csv"), rows);
  std::ifstream js(split + "/metrics.jsonl");
  int n = 0;
  for (std::string l; std::getline(js, l); ++n) EXPECT_FALSE(nlohmann::json::parse(l, nullptr, false).is_discarded()) << l;
  EXPECT_EQ(n, 6) << "rows 1, 2, ..., 6";
}

// Item 5: non-finite values in a checkpoint are rejected at load, naming the tensor.
TEST(Reliability, NonFiniteCheckpointsAreRejectedNamingTheTensor) {
  const std::string dir = fresh_dir("nan");
  TrainConfig c = tiny_run(dir);
  c.stop_after = 4;
  train_mixmatch(c);
  const std::string best = best_checkpoint_path(dir), last = last_checkpoint_path(dir);
  WideResNetConfig mc;
  mc.depth = 10;
  mc.widen_factor = 1;
  mc.num_classes = 10;
  mc.in_channels = 3;
  mc.bn_momentum = 0.05;
  for (const char* name : {"block1.layer.0.bn1.running_var", "fc.weight"}) {
    std::system(("cp " + best + " " + dir + "/poisoned.safetensors").c_str());
    edit_safetensors(dir + "/poisoned.safetensors", [&](TensorFile& f) { f.tensors.at(name) = with_nan(f.tensors.at(name)); });
    WideResNet net(mc);
    expect_error_containing([&] { load_module(dir + "/poisoned.safetensors", net); }, {name, "non-finite"});
  }
  for (const char* name : {"teacher.fc.weight", "adam.m.fc.weight"}) {
    std::system(("cp " + last + " " + dir + "/last.good").c_str());
    edit_safetensors(last, [&](TensorFile& f) {
      auto it = f.tensors.find(name);
      ASSERT_NE(it, f.tensors.end()) << name;
      it->second = with_nan(it->second);
    });
    c.resume = true;
    expect_error_containing([&] { train_mixmatch(c); }, {name, last});
    std::rename((dir + "/last.good").c_str(), last.c_str());
  }
}

// Item 6: products and ranges of flags are checked at parse time; nothing wraps.
TEST(Reliability, HugeFlagValuesAreRefusedAtParseTime) {
  for (auto [args, flag] : std::vector<std::pair<std::string, std::string>>{
           {"--epochs 9223372036854775807 --steps-per-epoch 2", "--epochs"},
           {"--epochs 4 --steps-per-epoch 4611686018427387904", "--steps-per-epoch"},
           {"--seed -1", "--seed"},
           {"--seed 18446744073709551616", "--seed"},
           {"--batch-size 9223372036854775807", "--batch-size"},
           {"--val-per-class 9223372036854775807", "--val-per-class"}}) {
    auto [rc, out] = run_cli("train " + args + " --print-config");
    EXPECT_NE(rc, 0) << args << " -> " << out;
    EXPECT_NE(out.find(flag), std::string::npos) << args << " -> " << out;
    EXPECT_LE(std::count(out.begin(), out.end(), '\n'), 2) << out;
  }
  // eval, bn-probe and data check split with their own flags: no sum of them may wrap.
  const TrainTest synthetic = load_dataset("synthetic", "");
  expect_error_containing([&] { split_dataset(synthetic.train, 100, INT64_MAX, 0); }, {"--labels", "no unlabeled image"});
  // A huge --stop-after on a resumed run finishes the run (start + stop-after must not wrap).
  const std::string dir = fresh_dir("stop_after");
  TrainConfig c = tiny_run(dir);
  c.stop_after = 3;
  train_mixmatch(c);
  c.resume = true;
  c.stop_after = INT64_MAX;
  EXPECT_EQ(train_mixmatch(c).steps, 5);
  EXPECT_TRUE(run_complete(dir));
}

// Item 7: a shape whose element count overflows 64 bits is rejected before any allocation.
TEST(Reliability, SafetensorsSizesAreOverflowChecked) {
  const std::string path = fresh_dir("overflow.safetensors");
  const std::string header = R"({"w":{"dtype":"F32","shape":[549755813888,549755813888],"data_offsets":[0,0]}})";
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((header.size() >> (8 * i)) & 0xFF);
  put(path, bytes + header);
  expect_error_containing([&] { load_safetensors(path); }, {path, "'w'", "2^40"});
}

// Item 8: resource flags are bounded, with the reason.
TEST(Reliability, ResourceFlagsAreBounded) {
  for (auto [args, flag] : std::vector<std::pair<std::string, std::string>>{
           {"train --prefetch 100000000 --print-config", "--prefetch"},
           {"train --depth 6000000004 --print-config", "--depth"},
           {"train --widen 100000 --print-config", "--widen"},
           {"bn-probe --dataset synthetic --depth 6000000004 --device cpu --out " + fresh_dir("probe"), "--depth"}}) {
    auto [rc, out] = run_cli(args);
    EXPECT_NE(rc, 0) << args << " -> " << out;
    EXPECT_NE(out.find(flag), std::string::npos) << args << " -> " << out;
    EXPECT_EQ(out.find("bad_alloc"), std::string::npos) << out;
  }
}

// Item 9: a checkpoint records its model and data settings; eval uses them and refuses a
// contradicting flag.
TEST(Reliability, EvalUsesTheSettingsTheCheckpointRecords) {
  const std::string dir = fresh_dir("eval");
  auto [rc, out] = run_cli("train " + kTinyFlags + "--epochs 1 --steps-per-epoch 2 --seed 5 --out " + dir);
  ASSERT_EQ(rc, 0) << out;
  const TensorFile best = load_safetensors(best_checkpoint_path(dir));
  EXPECT_EQ(best.metadata.count("depth") ? best.metadata.at("depth") : "", "10");
  EXPECT_EQ(best.metadata.count("val_per_class") ? best.metadata.at("val_per_class") : "", "20");
  auto [rc2, out2] = run_cli("eval --device cpu --checkpoint " + best_checkpoint_path(dir));
  ASSERT_EQ(rc2, 0) << out2;
  EXPECT_NE(out2.find("200 images"), std::string::npos) << "the run's 20 validation images per class: " << out2;
  auto [rc3, out3] = run_cli("eval --device cpu --depth 16 --checkpoint " + best_checkpoint_path(dir));
  EXPECT_NE(rc3, 0) << out3;
  EXPECT_NE(out3.find("--depth 16"), std::string::npos) << out3;
  EXPECT_NE(out3.find("depth = 10"), std::string::npos) << out3;
  auto [rc4, out4] = run_cli("bn-probe --device cpu --seed 6 --out " + dir + "/probe --checkpoint " + best_checkpoint_path(dir));
  EXPECT_NE(rc4, 0) << out4;
  EXPECT_NE(out4.find("--seed 6"), std::string::npos) << out4;
}

// Errors a user can act on: a directory where a file belongs, damaged resume checkpoints.
TEST(Reliability, DirectoriesWhereFilesBelongAreNamed) {
  const std::string dir = fresh_dir("dirs");
  ::mkdir(dir.c_str(), 0755);
  const std::string d = dir + "/data_batch_1.bin";
  ::mkdir(d.c_str(), 0755);
  ImageDataset into;
  expect_error_containing([&] { read_cifar10_file(d, into); }, {d, "is a directory"});
  expect_error_containing([&] { load_safetensors(d); }, {d, "is a directory"});
  expect_error_containing([&] { read_maybe_gzipped(d); }, {d, "is a directory"});
}

TEST(Reliability, DamagedResumeCheckpointsNameTheFile) {
  const std::string dir = fresh_dir("damaged");
  TrainConfig c = tiny_run(dir);
  c.stop_after = 2;
  train_mixmatch(c);
  const std::string last = last_checkpoint_path(dir);
  std::system(("cp " + last + " " + dir + "/last.good").c_str());
  c.resume = true;
  std::vector<std::function<void(TensorFile&)>> damage{
      [](TensorFile& f) { f.integers.at("train.labeled_offset") = 99999; },
      [](TensorFile& f) { f.tensors.at("adam.m.fc.weight") = f.tensors.at("adam.m.fc.weight").to(DType::F64); },
      [](TensorFile& f) { f.tensors.erase("adam.v.fc.weight"); }};
  for (auto& d : damage) {
    edit_safetensors(last, d);
    expect_error_containing([&] { train_mixmatch(c); }, {last});
    std::system(("cp " + dir + "/last.good " + last).c_str());
  }
}

// `data check DIR` and `train --data DIR` use one validator.
TEST(Reliability, DataCheckAndTrainAgreeOnFolders) {
  const std::string dir = fresh_dir("cifar_parent");
  ::mkdir(dir.c_str(), 0755);
  ::mkdir((dir + "/cifar-10-batches-bin").c_str(), 0755);
  std::string records;
  for (int r = 0; r < 20; ++r) records += static_cast<char>(r % 10) + std::string(3072, static_cast<char>(r));
  for (const char* f : {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin",
                        "data_batch_5.bin", "test_batch.bin"})
    put(dir + "/cifar-10-batches-bin/" + f, records);
  EXPECT_EQ(load_dataset("cifar10", dir).train.count, 100) << "the archive's folder layout, as data check accepts";
  // Images too small for the augmentation: refused by both.
  const std::string small = fresh_dir("tiny_images");
  ::mkdir(small.c_str(), 0755);
  auto be32 = [](uint32_t v) {
    std::string b;
    for (int s = 24; s >= 0; s -= 8) b += static_cast<char>(v >> s);
    return b;
  };
  for (std::string split : {"train", "t10k"}) {
    put(small + "/" + split + "-images-idx3-ubyte", be32(0x803) + be32(20) + be32(4) + be32(4) + std::string(20 * 16, 'x'));
    std::string labels = be32(0x801) + be32(20);
    for (int i = 0; i < 20; ++i) labels += static_cast<char>(i % 10);
    put(small + "/" + split + "-labels-idx1-ubyte", labels);
  }
  expect_error_containing([&] { load_dataset("fashion-mnist", small); }, {small, "4x4", "too small"});
  auto [rc, out] = run_cli("data check " + small);
  EXPECT_NE(rc, 0) << out;
  EXPECT_NE(out.find("too small"), std::string::npos) << out;
}

// The non-finite-loss message counts steps as the progress line does and does not promise a
// checkpoint that does not exist.
TEST(Reliability, NonFiniteLossMessageCountsLikeTheProgressLine) {
  const std::string dir = fresh_dir("diverge");
  auto [rc, out] = run_cli("train " + kTinyFlags + "--epochs 2 --steps-per-epoch 4 --lr 1e38 --log-every 1 --out " + dir);
  ASSERT_NE(rc, 0) << out;
  const size_t at = out.find("non-finite loss at step ");
  ASSERT_NE(at, std::string::npos) << out;
  const long long failed = std::atoll(out.c_str() + at + 24);
  long long last_done = 0;
  for (size_t p = 0; (p = out.find(" step ", p)) != std::string::npos && p < at; p += 6)
    if (out.find('/', p) < out.find('\n', p)) last_done = std::atoll(out.c_str() + p + 6);
  EXPECT_EQ(failed, last_done + 1) << out;
  EXPECT_NE(out.find("no checkpoint was written yet"), std::string::npos) << out;
}

// A checkpoint is never written from a step whose losses were not checked, even when the
// losses are read only every --log-every steps and the checkpoint falls between those reads.
TEST(Reliability, NoCheckpointOfAnUncheckedDivergedStep) {
  const std::string dir = fresh_dir("diverge_quiet");
  auto [rc, out] = run_cli("train " + kTinyFlags +
                           "--epochs 2 --steps-per-epoch 4 --eval-every 2 --lr 1e38 --log-every 1000 --out " + dir);
  ASSERT_NE(rc, 0) << out;
  EXPECT_NE(out.find("non-finite loss at step "), std::string::npos) << out;
  EXPECT_NE(out.find("no checkpoint was written yet"), std::string::npos) << out;
  EXPECT_FALSE(path_exists(dir + "/last.safetensors")) << "a diverged model was checkpointed";
}

// Ctrl-C / kill: the step finishes, a checkpoint is written, the last line says how to resume.
// The signal is sent once the run has started (its first line is out), as a user would.
TEST(Reliability, SignalsCheckpointAndSayHowToResume) {
  for (const char* sig : {"INT", "TERM"}) {
    const std::string dir = fresh_dir(std::string("signal_") + sig), log = dir + ".log", script = dir + ".sh";
    put(script, "set -m\n" + cli_path() +
                    " train --preset synthetic --epochs 1000 --eval-every 1000 --max-eval-images 100 --device cpu --out " +
                    dir + " > " + log + " 2>&1 &\npid=$!\nfor i in $(seq 600); do grep -q 'mmengine train:' " + log +
                    " && break; sleep 0.1; done\nkill -" + sig + " $pid\nwait $pid\necho \"exit status $?\"\n");
    const std::string status = script_output(script);
    const std::string out = slurp(log);
    const int code = 128 + (std::string(sig) == "INT" ? SIGINT : SIGTERM);
    EXPECT_NE(status.find("exit status " + std::to_string(code)), std::string::npos) << status << out;
    EXPECT_NE(out.find("interrupted by SIG" + std::string(sig)), std::string::npos) << out;
    EXPECT_NE(out.find("mmengine train --resume --out " + dir), std::string::npos) << out;
    auto [rc2, out2] = run_cli("train --resume --stop-after 1 --out " + dir);
    EXPECT_EQ(rc2, 0) << out2;
    EXPECT_EQ(out2.find("steps 0.."), std::string::npos) << "continues from the checkpoint: " << out2;
  }
}

// What a user expects: every default in --help, no accuracy before the first evaluation,
// `ablate --steps 0` refused.
TEST(Reliability, HelpDefaultsProgressAndAblateSteps) {
  auto [rc, out] = run_cli("train --help");
  EXPECT_EQ(rc, 0) << out;
  for (const char* want : {"1024", "interleave", "0.002", "port", "paper"})
    EXPECT_NE(out.find(want), std::string::npos) << want << " in:\n" << out;
  const std::string dir = fresh_dir("progress");
  auto [rc2, out2] = run_cli("train " + kTinyFlags + "--epochs 1 --steps-per-epoch 2 --log-every 1 --out " + dir);
  ASSERT_EQ(rc2, 0) << out2;
  const size_t first = out2.find("step 1/2");
  ASSERT_NE(first, std::string::npos) << out2;
  const std::string line = out2.substr(first, out2.find('\n', first) - first);
  EXPECT_EQ(line.find("acc"), std::string::npos) << "no accuracy before the first evaluation: " << line;
  auto [rc3, out3] = run_cli("ablate --steps 0 --modes interleave --ema on --device cpu --out " + fresh_dir("ablate0"));
  EXPECT_NE(rc3, 0) << out3;
  EXPECT_NE(out3.find("--steps"), std::string::npos) << out3;
}

// A Python helper without its packages says what is missing (here: matplotlib hidden).
TEST(Reliability, PlotHelperNamesTheMissingPackage) {
  if (std::system("python3 -c pass > /dev/null 2>&1") != 0) GTEST_SKIP() << "python3 not found";
  const std::string fake = fresh_dir("no_matplotlib");
  ::mkdir(fake.c_str(), 0755);
  ::mkdir((fake + "/matplotlib").c_str(), 0755);
  put(fake + "/matplotlib/__init__.py", "raise ImportError('hidden by the test')\n");
  const std::string cmd = "PYTHONPATH=" + fake + " python3 " + MMENGINE_SOURCE_DIR + "/tools/plot_metrics.py run " + fake +
                          " 2>&1";
  std::string out;
  char buf[512];
  FILE* p = popen(cmd.c_str(), "r");
  while (p && fgets(buf, sizeof buf, p)) out += buf;
  EXPECT_NE(WEXITSTATUS(pclose(p)), 0) << out;
  EXPECT_NE(out.find("needs matplotlib"), std::string::npos) << out;
  EXPECT_EQ(out.find("Traceback"), std::string::npos) << out;
}

// Runs trained at once on threads of one process (`mmengine ablate --concurrent-mode streams`)
// each keep their own switches: a setting (engine/env_setting.h) or a precision changed on one
// thread is not seen by another, which starts at the environment's value. Every value set here
// differs from the environment's, whatever MMENGINE_KERNELS / _CONV / _IGEMM / _UNFUSED say.
TEST(ConcurrentRuns, SwitchesAndPrecisionArePerThread) {
  struct Switches {
    KernelVersion kernels;
    ConvBackend conv;
    IgemmTiling tiling;
    bool multi_tensor;
    DType activations;
    bool operator==(const Switches& o) const {
      return kernels == o.kernels && conv == o.conv && tiling == o.tiling && multi_tensor == o.multi_tensor &&
             activations == o.activations;
    }
  };
  auto now = [] {
    return Switches{kernel_version(), conv_backend(), igemm_tiling(), fusion_enabled(Fusion::MultiTensor), activation_dtype()};
  };
  const Switches initial = now();
  Switches seen{}, theirs{};
  {
    // bf16 needs the current kernels, the own convolutions and the bn-leaky-relu fusion.
    const KernelVersionScope current(KernelVersion::Current);
    const ConvBackendScope own(ConvBackend::Own);
    const bool bn_leaky = fusion_enabled(Fusion::BnLeakyRelu);  // its own switch, the kernels being current
    set_fusion_enabled(Fusion::BnLeakyRelu, true);
    std::optional<PrecisionScope> bf16;
    bf16.emplace(Precision::Bf16, Device::CPU, DType::F32);
    set_kernel_version(initial.kernels == KernelVersion::V0 ? KernelVersion::V1 : KernelVersion::V0);
    set_conv_backend(initial.conv == ConvBackend::Igemm3xTf32 ? ConvBackend::Igemm : ConvBackend::Igemm3xTf32);
    set_igemm_tiling(initial.tiling == IgemmTiling::Halo ? IgemmTiling::Gather : IgemmTiling::Halo);
    const Switches mine = now();
    std::thread other([&] {
      seen = now();
      set_kernel_version(mine.kernels);  // its own: not the main thread's
      set_igemm_tiling(initial.tiling);
      theirs = now();
    });
    other.join();
    EXPECT_TRUE(now() == mine) << "another thread's setters changed this thread's switches";
    EXPECT_EQ(activation_dtype(), DType::BF16);
    set_igemm_tiling(initial.tiling);
    bf16.reset();
    set_fusion_enabled(Fusion::BnLeakyRelu, bn_leaky);
  }
  EXPECT_TRUE(seen == initial) << "a new thread starts at the environment's values";
  EXPECT_EQ(theirs.kernels != initial.kernels, true);
  EXPECT_EQ(theirs.activations, DType::F32);
  EXPECT_TRUE(now() == initial) << "the scopes restore this thread's switches";
#ifdef MMENGINE_WITH_CUDA
  const bool tf32 = kernels::gemm_tf32_cuda();
  kernels::gemm_set_tf32_cuda(!tf32);
  bool tf32_seen = !tf32;
  std::thread other([&] { tf32_seen = kernels::gemm_tf32_cuda(); });
  other.join();
  EXPECT_EQ(tf32_seen, tf32) << "the GEMM math mode is per thread too";
  kernels::gemm_set_tf32_cuda(tf32);
#endif
}

// The ablation holds one InterruptScope while its runs (each with its own, on worker threads)
// start and end in any order: a scope that ends while another lives must not unhook the handler
// (under the old per-scope handlers the first raise below killed the process: run A's scope
// restored the default handler while run B's was still live), and one signal reaches every scope.
TEST(ConcurrentRuns, InterruptScopesNestAcrossThreads) {
  struct sigaction saved {}, dfl {};
  dfl.sa_handler = SIG_DFL;
  sigaction(SIGINT, &dfl, &saved);  // not an inherited SIG_IGN (a background job), which scopes keep
  {
    auto run_a = std::make_unique<InterruptScope>();
    std::unique_ptr<InterruptScope> run_b;
    std::thread([&] { run_b = std::make_unique<InterruptScope>(); }).join();  // B starts on another thread
    run_a.reset();  // A ends first, B still runs
    EXPECT_EQ(run_b->signal(), 0);
    std::raise(SIGINT);  // recorded, not fatal: B's scope still has the handler
    EXPECT_EQ(run_b->signal(), SIGINT);
    const InterruptScope inner;
    EXPECT_EQ(inner.signal(), SIGINT) << "a scope inside a live one shares its recorded signal";
  }
  struct sigaction now {};
  sigaction(SIGINT, nullptr, &now);
  EXPECT_EQ(now.sa_handler, SIG_DFL) << "the last scope to end restores the handler found by the first";
  sigaction(SIGINT, &saved, nullptr);
}

// Ctrl-C during `ablate --concurrent-mode streams`: both running runs stop at their next step with
// a checkpoint (their logs say so), no other run starts, and the ablation exits 128 + SIGINT with
// a line saying how to resume. The signal is sent once both runs have started.
TEST(ConcurrentRuns, SignalStopsEveryStreamsRunAndStartsNoOther) {
  const std::string dir = fresh_dir("streams_signal"), log = dir + ".log", script = dir + ".sh";
  const std::string run0 = dir + "/port/L100/interleave-ema-on-seed0", run1 = dir + "/port/L100/interleave-ema-off-seed0";
  put(script, "set -m\n" + cli_path() +
                  " ablate --preset synthetic --device cpu --steps 1000 --eval-every-steps 1000 --max-eval-images 50 "
                  "--modes interleave,single --ema on,off --concurrent 2 --concurrent-mode streams --out " + dir + " > " +
                  log + " 2>&1 &\npid=$!\nfor i in $(seq 600); do grep -qs 'mmengine train:' " + run0 +
                  "/train.log && grep -qs 'mmengine train:' " + run1 + "/train.log && break; sleep 0.1; done\nkill -INT $pid\n"
                  "wait $pid\necho \"exit status $?\"\n");
  const std::string status = script_output(script);
  const std::string out = slurp(log);
  EXPECT_NE(status.find("exit status " + std::to_string(128 + SIGINT)), std::string::npos) << status << out;
  EXPECT_NE(out.find("interrupted by SIGINT: the running runs stopped at a checkpoint"), std::string::npos) << out;
  EXPECT_NE(out.find("4 runs: 0 complete (0 of them before this invocation), 2 interrupted (resumable), 2 not started, 0 failed"),
            std::string::npos)
      << out;
  for (const std::string& run : {run0, run1}) {
    EXPECT_NE(slurp(run + "/train.log").find("interrupted by SIGINT at step"), std::string::npos) << run;
    EXPECT_TRUE(path_exists(run + "/last.safetensors")) << run;
  }
  std::system(("rm -rf '" + dir + "' '" + log + "' '" + script + "'").c_str());
}

// The CPU's batched weight-gradient sum (every conv weight gradient on the CPU) gives the same
// bits with any OpenMP thread count, so a run trained on cores / N threads (one of N runs at once)
// equals the same run trained alone; and every item is summed once.
TEST(ConcurrentRuns, CpuBatchedGemmSumIsTheSameWithAnyThreadCount) {
  const int64_t M = 7, N = 5, K = 9;
  for (const int64_t batch : {int64_t{0}, int64_t{5}, int64_t{37}}) {
    std::vector<float> A(std::max<int64_t>(batch, 1) * M * K), B(std::max<int64_t>(batch, 1) * K * N);
    uint32_t state = 12345;
    for (auto* v : {&A, &B})
      for (float& x : *v) x = static_cast<float>((state = state * 1664525u + 1013904223u) >> 8) / 16777216.0f - 0.5f;
    std::vector<double> expect(M * N, 0.0);  // the sum in double, for "every item once"
    for (int64_t i = 0; i < batch; ++i)
      for (int64_t m = 0; m < M; ++m)
        for (int64_t n = 0; n < N; ++n)
          for (int64_t k = 0; k < K; ++k) expect[m * N + n] += double(A[i * M * K + m * K + k]) * B[i * K * N + k * N + n];
    std::vector<std::vector<float>> results;
    const int saved = cpu_threads();
    for (const int threads : {1, 3, 7}) {
      set_cpu_threads(threads);
      std::vector<float> C(M * N, std::nanf(""));
      kernels::gemm_batched_sum_cpu<float>(false, false, M, N, K, A.data(), M * K, B.data(), K * N, C.data(), batch, nullptr);
      results.push_back(C);
    }
    set_cpu_threads(saved);
    for (size_t r = 1; r < results.size(); ++r)
      EXPECT_EQ(0, std::memcmp(results[0].data(), results[r].data(), M * N * sizeof(float))) << "batch " << batch;
    for (int64_t j = 0; j < M * N; ++j) EXPECT_NEAR(results[0][j], expect[j], 1e-5 * (1 + batch)) << "batch " << batch;
  }
}
