// mmengine data check|download|info
#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "data/dataset.h"
#include "data/split.h"
#include "kernels/error.h"
#include "tools/commands.h"

namespace mmengine {

namespace {
bool exists(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0;
}

std::string detect(const std::string& dir) {
  if (exists(dir + "/data_batch_1.bin")) return "cifar10";
  if (exists(dir + "/train-images-idx3-ubyte") || exists(dir + "/train-images-idx3-ubyte.gz")) return "fashion-mnist";
  if (exists(dir + "/cifar-10-batches-bin/data_batch_1.bin")) return "cifar10";
  MM_FAIL(dir, ": no dataset found (expected data_batch_1.bin for CIFAR-10 or train-images-idx3-ubyte[.gz] for ",
          "Fashion-MNIST)");
}

void print_counts(const ImageDataset& d) {
  std::printf("%-22s %6lld images  %lldx%lldx%lld  per class:", d.name.c_str(), (long long)d.count, (long long)d.channels,
              (long long)d.height, (long long)d.width);
  for (auto c : d.class_counts()) std::printf(" %lld", (long long)c);
  std::printf("\n");
}

// Shell-quotes a path for the download helper commands.
std::string q(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

int run(const std::string& cmd) { return std::system(cmd.c_str()); }

constexpr const char* kCifarUrl = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz";
constexpr const char* kCifarMd5 = "c32a1d4ab5d03f1284b67883e8d87530";
}  // namespace

int data_check(const std::string& dir, int64_t labels, int64_t val_per_class, uint64_t seed) {
  // The same loader and checks as `train --data DIR`: both accept and reject the same folders.
  const std::string name = detect(dir), real_dir = dataset_folder(name, dir);
  TrainTest t = load_dataset(name, dir);
  std::printf("%s in %s: every file valid\n", name.c_str(), real_dir.c_str());
  print_counts(t.train);
  print_counts(t.test);
  Split s = split_dataset(t.train, labels, val_per_class, seed);
  std::printf("split (--labels %lld, %lld validation per class, seed %llu): labeled %zu, unlabeled %zu, validation %zu\n",
              (long long)labels, (long long)val_per_class, (unsigned long long)seed, s.labeled.size(), s.unlabeled.size(),
              s.validation.size());
  return 0;
}

int data_download(const std::string& name, const std::string& dir) {
  MM_CHECK(name == "cifar10", "data download: only cifar10 is downloadable (Fashion-MNIST comes from Debian's ",
           "dataset-fashion-mnist package), got '", name, "'");
  const std::string final_dir = dir + "/cifar-10-batches-bin";
  if (exists(final_dir + "/data_batch_1.bin")) {
    std::printf("%s already present\n", final_dir.c_str());
    return 0;
  }
  MM_CHECK(run("mkdir -p " + q(dir)) == 0, dir, ": cannot create the folder");
  const std::string archive = dir + "/.cifar-10-binary.tar.gz.part", unpack = dir + "/.cifar-10-unpack.tmp";
  std::printf("downloading %s ...\n", kCifarUrl);
  if (run("curl -fsSL --retry 2 -o " + q(archive) + " " + kCifarUrl) != 0) {
    run("rm -f " + q(archive));
    MM_FAIL("data download: fetching ", kCifarUrl, " failed (no network here?). Put the binary version in ", final_dir,
            " by hand, or convert the JPEG copy as described in docs/data.md");
  }
  if (run("echo '" + std::string(kCifarMd5) + "  " + archive + "' | md5sum -c --status") != 0) {
    run("rm -f " + q(archive));
    MM_FAIL("data download: ", archive, " does not have the official MD5 ", kCifarMd5, "; removed it");
  }
  run("rm -rf " + q(unpack));
  if (run("mkdir -p " + q(unpack) + " && tar -xzf " + q(archive) + " -C " + q(unpack)) != 0 ||
      !exists(unpack + "/cifar-10-batches-bin/test_batch.bin")) {
    run("rm -rf " + q(unpack) + " " + q(archive));
    MM_FAIL("data download: unpacking ", archive, " failed");
  }
  // Atomic publish: the folder appears complete or not at all.
  MM_CHECK(std::rename((unpack + "/cifar-10-batches-bin").c_str(), final_dir.c_str()) == 0, final_dir,
           ": cannot move the unpacked files into place");
  run("rm -rf " + q(unpack) + " " + q(archive));
  std::printf("CIFAR-10 ready in %s\n", final_dir.c_str());
  return 0;
}

int data_info() {
  for (const auto& name : known_datasets()) {
    const std::string dir = default_data_dir(name);
    if (name == "synthetic") {
      std::printf("%-14s generated in memory from a seed (no files)\n", name.c_str());
      continue;
    }
    const bool found = exists(dir + (name == "cifar10" ? "/data_batch_1.bin" : "/train-images-idx3-ubyte.gz")) ||
                       exists(dir + "/train-images-idx3-ubyte");
    std::printf("%-14s %-45s %s\n", name.c_str(), dir.c_str(), found ? "found" : "not found");
  }
  std::printf("(cifar10: --data DIR or MMENGINE_CIFAR10=DIR overrides; fashion-mnist: apt-get install dataset-fashion-mnist)\n");
  return 0;
}

void add_data_command(CLI::App& app, CommandAction& action) {
  auto* data = app.add_subcommand("data", "check, download and locate datasets");
  data->require_subcommand(1);
  auto* check = data->add_subcommand("check", "validate every file of a dataset folder, print counts per class and split");
  auto dir = std::make_shared<std::string>();
  auto labels = std::make_shared<int64_t>(4000);
  auto val = std::make_shared<int64_t>(500);
  auto seed = std::make_shared<uint64_t>(0);
  check->add_option("DIR", *dir, "dataset folder")->required();
  check->add_option("--labels", *labels, "labeled images for the split summary");
  check->add_option("--val-per-class", *val, "validation images per class");
  check->add_option("--seed", *seed, "split seed")->check(unsigned_64());
  check->callback([=, &action] { action = [=] { return data_check(*dir, *labels, *val, *seed); }; });

  auto* download = data->add_subcommand("download", "fetch the official CIFAR-10 binary archive, verify, unpack atomically");
  auto name = std::make_shared<std::string>();
  auto ddir = std::make_shared<std::string>("data-cache");
  download->add_option("NAME", *name, "cifar10")->required();
  download->add_option("DIR", *ddir, "where to put cifar-10-batches-bin/ (default data-cache)");
  download->callback([=, &action] { action = [=] { return data_download(*name, *ddir); }; });

  auto* info = data->add_subcommand("info", "where each dataset is looked for");
  info->callback([&action] { action = [] { return data_info(); }; });
}

}  // namespace mmengine
