#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "engine/rng.h"
#include "engine/safetensors.h"
#include "layers/checkpoint.h"
#include "layers/wideresnet.h"
#include "tests/test_util.h"

using namespace mmengine;
using namespace mmengine::testing;

namespace {
std::string temp_path(const std::string& name) {
  return (::testing::TempDir() + "mm_" + std::to_string(::getpid()) + "_" + name);
}

WideResNetConfig small_cfg() {
  WideResNetConfig c;
  c.depth = 10;
  c.widen_factor = 1;
  c.seed = 3;
  return c;
}

std::string read_all(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

void write_all(const std::string& p, const std::string& s) { std::ofstream(p, std::ios::binary) << s; }

// Builds a file with a hand-made header (for the corrupt-input cases).
std::string raw_file(const std::string& header, const std::string& data) {
  std::string out(8, '\0');
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xFF);
  return out + header + data;
}

void expect_error(const std::string& path, const std::string& needle) {
  try {
    load_safetensors(path);
    ADD_FAILURE() << "no error for " << needle;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << "the error must name the file: " << e.what();
  }
}
}  // namespace

class CheckpointOnDevice : public ::testing::TestWithParam<Device> {};

TEST_P(CheckpointOnDevice, SaveLoadRoundTripIsBitExact) {
  MM_SKIP_WITHOUT(GetParam());
  WideResNet a(small_cfg());
  a.to(GetParam());
  a(rand_normal({2, 3, 8, 8}, 1, 0, DType::F32, GetParam()));  // move running stats and counters
  const std::string path = temp_path("roundtrip.safetensors");
  save_module(path, a, {{"note", "test"}});
  WideResNetConfig other = small_cfg();
  other.seed = 99;
  WideResNet b(other);
  b.to(GetParam());
  load_module(path, b);
  auto sa = a.named_state(), sb = b.named_state();
  ASSERT_EQ(sa.size(), sb.size());
  for (size_t i = 0; i < sa.size(); ++i) EXPECT_EQ(sa[i].second->to_vector(), sb[i].second->to_vector()) << sa[i].first;
  EXPECT_EQ(b.named_counters()[0].value[0], 1);
  EXPECT_EQ(load_safetensors(path).metadata.at("note"), "test");
  std::remove(path.c_str());
}

INSTANTIATE_TEST_SUITE_P(Devices, CheckpointOnDevice, ::testing::Values(Device::CPU, Device::CUDA),
                         [](const auto& info) { return param_name(info.param); });

TEST(Checkpoint, FileLayoutIsSafetensors) {
  const std::string path = temp_path("layout.safetensors");
  save_safetensors(path, {{"w", Tensor::from_vector({1, 2, 3}, {3})}}, {{"n", 5}});
  std::string bytes = read_all(path);
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= static_cast<uint64_t>(static_cast<unsigned char>(bytes[i])) << (8 * i);
  auto header = nlohmann::json::parse(bytes.substr(8, n));
  EXPECT_EQ(header["w"]["dtype"], "F32");
  EXPECT_EQ(header["w"]["shape"], nlohmann::json::array({3}));
  EXPECT_EQ(header["n"]["dtype"], "I64");
  EXPECT_EQ(bytes.size(), 8 + n + 12 + 8);
  std::remove(path.c_str());
}

TEST(Checkpoint, ModelMismatchesNameTheTensor) {
  const std::string path = temp_path("mismatch.safetensors");
  WideResNet net(small_cfg());
  auto expect_load_error = [&](const std::vector<std::pair<std::string, Tensor>>& tensors, const std::string& needle) {
    std::vector<std::pair<std::string, int64_t>> ints;
    for (auto& c : net.named_counters()) ints.emplace_back(c.name, 0);
    save_safetensors(path, tensors, ints);
    try {
      load_module(path, net);
      ADD_FAILURE() << "no error for " << needle;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  std::vector<std::pair<std::string, Tensor>> good;
  for (auto& [n, t] : net.named_state()) good.emplace_back(n, *t);

  auto missing = good;
  missing.erase(missing.begin() + 3);
  expect_load_error(missing, "missing tensor '" + good[3].first + "'");

  auto extra = good;
  extra.emplace_back("block9.weight", Tensor::zeros({2}));
  expect_load_error(extra, "unexpected tensor 'block9.weight'");

  auto shape = good;
  shape[0].second = Tensor::zeros({16, 3, 3, 2});
  expect_load_error(shape, "tensor 'conv1.weight' has shape [16, 3, 3, 2]");

  auto dtype = good;
  dtype[0].second = good[0].second.to(DType::F64);
  expect_load_error(dtype, "tensor 'conv1.weight' has dtype float64");
  std::remove(path.c_str());
}

TEST(Checkpoint, CorruptFilesGiveClearErrors) {
  const std::string path = temp_path("corrupt.safetensors");
  save_safetensors(path, {{"w", Tensor::from_vector({1, 2, 3, 4}, {4})}});
  std::string good = read_all(path);

  write_all(path, good.substr(0, good.size() - 3));
  expect_error(path, "outside the");
  write_all(path, good.substr(0, 5));
  expect_error(path, "truncated");
  std::string huge = good;
  huge[7] = 0x7f;
  write_all(path, huge);
  expect_error(path, "header length");
  write_all(path, raw_file("{not json", ""));
  expect_error(path, "not valid JSON");
  write_all(path, raw_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                           std::string(12, '\0')));
  expect_error(path, "overlap");
  write_all(path, raw_file(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", std::string(8, '\0')));
  expect_error(path, "do not match shape");
  write_all(path, raw_file(R"({"a":{"dtype":"BF16","shape":[4],"data_offsets":[0,8]}})", std::string(8, '\0')));
  expect_error(path, "not supported");
  write_all(path, raw_file(R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", std::string(8, '\0')));
  expect_error(path, "bad dimension");
  write_all(path, raw_file(R"({"a":{"dtype":"F32","shape":[2]}})", std::string(8, '\0')));
  expect_error(path, "needs dtype, shape and data_offsets");
  std::remove(path.c_str());
  expect_error(path, "cannot open");
}

TEST(Checkpoint, WritesAreAtomic) {
  const std::string dir = temp_path("no_such_dir") + "/x.safetensors";
  EXPECT_THROW(save_safetensors(dir, {{"w", Tensor::zeros({2})}}), Error);
  const std::string path = temp_path("atomic.safetensors");
  save_safetensors(path, {{"w", Tensor::zeros({2})}});
  // No temporary file is left beside the result.
  std::ifstream tmp(path + ".tmp." + std::to_string(::getpid()));
  EXPECT_FALSE(tmp.good());
  std::remove(path.c_str());
}
