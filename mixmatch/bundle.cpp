#include "mixmatch/bundle.h"

#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "kernels/error.h"
#include "engine/safetensors.h"
#include "mixmatch/trainer.h"

namespace fs = std::filesystem;

namespace mmengine {

namespace {
const char* const kTar = "grid.tar.gz";
const char* const kManifest = "bundle.json";
const char* const kFormat = "mmengine-grid-bundle 1";
const std::vector<std::string> kRunTexts{"config.json", "summary.json", "metrics.csv"};
const int64_t kMaxUnpacked = int64_t{512} << 20;  // a grid's texts are a few MiB; more is not a bundle

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  MM_CHECK(in.good(), path, ": cannot open");
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// A relative path of plain components: no absolute paths, no "..", no empty components.
bool safe_relative(const std::string& p) {
  if (p.empty() || p[0] == '/' || p.size() > 255) return false;
  std::stringstream ss(p);
  std::string part;
  while (std::getline(ss, part, '/'))
    if (part.empty() || part == "." || part == "..") return false;
  return p.back() != '/';
}

std::string flat_name(const std::string& run) {
  std::string s = run;
  for (size_t i = s.find('/'); i != std::string::npos; i = s.find('/', i + 2)) s.replace(i, 1, "__");
  return s;
}

// Steps a run folder has done: summary.json's steps_done, else metrics.csv's last step, else 0.
int64_t steps_done(const std::string& dir) {
  if (fs::exists(dir + "/summary.json")) {
    auto j = nlohmann::json::parse(slurp(dir + "/summary.json"), nullptr, false);
    if (j.is_object() && j.contains("steps_done") && j["steps_done"].is_number()) return j["steps_done"].get<int64_t>();
  }
  std::ifstream in(dir + "/metrics.csv");
  std::string line, last;
  std::getline(in, line);
  while (std::getline(in, line))
    if (!line.empty()) last = line;
  return last.empty() ? 0 : std::atoll(last.c_str());
}

std::string size_text(int64_t bytes) {
  return bytes >= (int64_t{1} << 20) ? std::to_string(bytes >> 20) + " MiB" : std::to_string(bytes >> 10) + " KiB";
}

void copy_atomically(const std::string& from, const std::string& to) {
  const std::string tmp = to + ".tmp";
  fs::copy_file(from, tmp, fs::copy_options::overwrite_existing);
  fs::rename(tmp, to);
}

std::string gzip(const std::string& raw) {
  z_stream z{};
  MM_CHECK(deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK, "gzip: init");
  std::string out(deflateBound(&z, raw.size()), '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(raw.data()));
  z.avail_in = static_cast<uInt>(raw.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  MM_CHECK(rc == Z_STREAM_END, "gzip: deflate failed");
  return out;
}

std::string gunzip(const std::string& gz, const std::string& path) {
  z_stream z{};
  MM_CHECK(inflateInit2(&z, 15 + 32) == Z_OK, "gunzip: init");
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(gz.data()));
  z.avail_in = static_cast<uInt>(gz.size());
  std::string out;
  char buf[1 << 16];
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof buf;
    rc = inflate(&z, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) break;
    out.append(buf, sizeof buf - z.avail_out);
    if (static_cast<int64_t>(out.size()) > kMaxUnpacked) rc = Z_MEM_ERROR;
    if (rc == Z_OK && z.avail_in == 0 && z.avail_out != 0) break;  // truncated input
  }
  inflateEnd(&z);
  MM_CHECK(rc == Z_STREAM_END, path, ": not a complete gzip stream (expected a bundle's ", kTar, ")");
  return out;
}

void put_octal(char* field, size_t width, uint64_t v) {
  std::snprintf(field, width, "%0*llo", static_cast<int>(width - 1), static_cast<unsigned long long>(v));
}

unsigned header_checksum(const unsigned char* h) {
  unsigned sum = 0;
  for (int i = 0; i < 512; ++i) sum += (i >= 148 && i < 156) ? ' ' : h[i];
  return sum;
}
}  // namespace

void write_tar_gz(const std::string& path, const std::vector<std::pair<std::string, std::string>>& files) {
  std::string tar;
  for (auto& [name, bytes] : files) {
    MM_CHECK(safe_relative(name) && name.size() < 100, "tar: bad member name '", name, "'");
    unsigned char h[512] = {};
    std::memcpy(h, name.data(), name.size());
    put_octal(reinterpret_cast<char*>(h + 100), 8, 0644);
    put_octal(reinterpret_cast<char*>(h + 108), 8, 0);
    put_octal(reinterpret_cast<char*>(h + 116), 8, 0);
    put_octal(reinterpret_cast<char*>(h + 124), 12, bytes.size());
    put_octal(reinterpret_cast<char*>(h + 136), 12, 0);
    h[156] = '0';
    std::memcpy(h + 257, "ustar", 6);
    std::memcpy(h + 263, "00", 2);
    char sum[8];
    std::snprintf(sum, sizeof sum, "%06o", header_checksum(h));
    std::memcpy(h + 148, sum, 7);
    h[155] = ' ';
    tar.append(reinterpret_cast<char*>(h), 512);
    tar += bytes;
    tar.append((512 - bytes.size() % 512) % 512, '\0');
  }
  tar.append(1024, '\0');
  write_file_atomically(path, gzip(tar));
}

std::vector<std::pair<std::string, std::string>> read_tar_gz(const std::string& path) {
  const std::string tar = gunzip(slurp(path), path);
  std::vector<std::pair<std::string, std::string>> out;
  size_t at = 0;
  while (true) {
    MM_CHECK(at + 512 <= tar.size(), path, ": truncated tar (no end-of-archive blocks)");
    const auto* h = reinterpret_cast<const unsigned char*>(tar.data() + at);
    if (std::all_of(h, h + 512, [](unsigned char c) { return c == 0; })) break;
    const unsigned stored = static_cast<unsigned>(std::strtoul(std::string(tar.data() + at + 148, 8).c_str(), nullptr, 8));
    MM_CHECK(stored == header_checksum(h), path, ": tar header checksum mismatch at byte ", at);
    MM_CHECK(h[156] == '0' || h[156] == 0, path, ": tar member of type '", char(h[156]), "' (only regular files expected)");
    std::string name(tar.data() + at, strnlen(tar.data() + at, 100));
    const std::string prefix(tar.data() + at + 345, strnlen(tar.data() + at + 345, 155));
    if (!prefix.empty()) name = prefix + "/" + name;
    MM_CHECK(safe_relative(name), path, ": unsafe tar member name '", name, "'");
    const uint64_t size = std::strtoull(std::string(tar.data() + at + 124, 12).c_str(), nullptr, 8);
    MM_CHECK(size <= tar.size() - at - 512, path, ": tar member ", name, " runs past the end");
    out.emplace_back(name, tar.substr(at + 512, size));
    at += 512 + (size + 511) / 512 * 512;
  }
  return out;
}

BundleReport write_bundle(const std::string& grid_dir, const std::vector<std::string>& runs,
                          const std::vector<std::string>& best_runs, const std::string& bundle_dir,
                          const BundleLimits& limits) {
  MM_CHECK(limits.max_files >= 1, "--bundle-max-files: must be >= 1");
  fs::create_directories(bundle_dir);
  for (auto& e : fs::directory_iterator(bundle_dir)) {  // an earlier bundle in the same folder
    const std::string n = e.path().filename().string();
    auto ends = [&](const std::string& s) { return n.size() >= s.size() && n.compare(n.size() - s.size(), s.size(), s) == 0; };
    if (n == kTar || ends(".best.safetensors") || ends(".last.safetensors")) fs::remove(e.path());
  }
  std::vector<std::pair<std::string, std::string>> texts;
  for (const char* f : {"ablate.csv", "ablate.md"})
    if (fs::exists(grid_dir + "/" + f)) texts.emplace_back(f, slurp(grid_dir + "/" + f));
  nlohmann::ordered_json manifest;
  manifest["format"] = kFormat;
  manifest["runs"] = nlohmann::json::array();
  for (auto& run : runs) {
    MM_CHECK(safe_relative(run), "bundle: run folder '", run, "' is not a relative path inside the grid");
    const std::string dir = grid_dir + "/" + run;
    if (!fs::exists(dir + "/config.json")) continue;  // never started (or failed before it began)
    for (auto& f : kRunTexts)
      if (fs::exists(dir + "/" + f)) texts.emplace_back(run + "/" + f, slurp(dir + "/" + f));
    manifest["runs"].push_back({{"dir", run}, {"complete", run_complete(dir)}, {"steps_done", steps_done(dir)},
                                {"best", nullptr}, {"state", nullptr}});
  }
  // The checkpoints' budget: what the texts leave (measured compressed, plus room for the manifest).
  BundleReport report;
  const int64_t text_bytes = static_cast<int64_t>(gzip([&] {
                               std::string all;
                               for (auto& t : texts) all += t.second;
                               return all;
                             }()).size()) + (int64_t{1} << 20);
  int64_t used = text_bytes;
  int files = 1;
  auto consider = [&](nlohmann::ordered_json& entry, const char* kind, const std::string& source) {
    const std::string name = flat_name(entry["dir"].get<std::string>()) + "." + kind + ".safetensors";
    if (!fs::exists(source)) {
      if (kind == std::string("best") && entry["complete"].get<bool>())
        report.notes.push_back(entry["dir"].get<std::string>() + " has no best.safetensors");
      return;
    }
    const int64_t size = static_cast<int64_t>(fs::file_size(source));
    std::string why;
    if (files + 1 > limits.max_files) why = "the bundle's " + std::to_string(limits.max_files) + " files are used";
    else if (size > limits.max_file_bytes) why = "over " + size_text(limits.max_file_bytes) + " a file";
    else if (used + size > limits.max_total_bytes) why = "the bundle's " + size_text(limits.max_total_bytes) + " are used";
    if (!why.empty()) {
      report.notes.push_back(name + " left out (" + size_text(size) + "): " + why);
      return;
    }
    copy_atomically(source, bundle_dir + "/" + name);
    entry[kind == std::string("best") ? "best" : "state"] = name;
    report.files.push_back(name);
    used += size;
    ++files;
  };
  for (auto& entry : manifest["runs"])
    for (auto& b : best_runs)
      if (entry["dir"] == b) consider(entry, "best", best_checkpoint_path(grid_dir + "/" + b));
  for (auto& entry : manifest["runs"])
    if (!entry["complete"].get<bool>()) consider(entry, "last", last_checkpoint_path(grid_dir + "/" + entry["dir"].get<std::string>()));
  // An interrupted run's best model so far belongs to its state (a resumed run keeps it unless it improves).
  for (auto& entry : manifest["runs"])
    if (!entry["state"].is_null() && entry["best"].is_null())
      consider(entry, "best", best_checkpoint_path(grid_dir + "/" + entry["dir"].get<std::string>()));
  for (auto& entry : manifest["runs"])
    if (!entry["complete"].get<bool>() && entry["state"].is_null() && entry["steps_done"].get<int64_t>() > 0)
      report.notes.push_back(entry["dir"].get<std::string>() + ": interrupted at step " +
                             std::to_string(entry["steps_done"].get<int64_t>()) + " without its state in the bundle: restarts from step 0");
  texts.emplace_back(kManifest, manifest.dump(2) + "\n");
  write_tar_gz(bundle_dir + "/" + kTar, texts);
  const int64_t tar_size = static_cast<int64_t>(fs::file_size(bundle_dir + "/" + kTar));
  MM_CHECK(tar_size <= limits.max_file_bytes, bundle_dir, "/", kTar, ": ", tar_size, " bytes, over the limit of ",
           limits.max_file_bytes);
  report.files.insert(report.files.begin(), kTar);
  report.total_bytes = used - text_bytes + tar_size;
  MM_CHECK(report.total_bytes <= limits.max_total_bytes, bundle_dir, ": ", report.total_bytes, " bytes, over the limit");
  return report;
}

std::string MergeReport::summary() const {
  return std::to_string(taken_complete) + " complete runs taken, " + std::to_string(taken_interrupted) +
         " interrupted runs taken with their state, " + std::to_string(kept_local) + " kept as they were here, " +
         std::to_string(restarting) + " interrupted without a state (they restart)";
}

MergeReport merge_bundle(const std::string& bundle_dir, const std::string& grid_dir) {
  const std::string tar_path = bundle_dir + "/" + kTar;
  MM_CHECK(fs::exists(tar_path), "--from-bundle ", bundle_dir, ": no ", kTar, " (expected a folder written by --bundle)");
  std::map<std::string, std::string> members;
  for (auto& [name, bytes] : read_tar_gz(tar_path)) members[name] = std::move(bytes);
  MM_CHECK(members.count(kManifest), tar_path, ": no ", kManifest, " inside (not a grid bundle)");
  auto manifest = nlohmann::json::parse(members[kManifest], nullptr, false);
  MM_CHECK(manifest.is_object() && manifest.value("format", "") == kFormat && manifest["runs"].is_array(), tar_path,
           ": ", kManifest, " is not a '", kFormat, "' manifest");
  MergeReport r;
  for (auto& entry : manifest["runs"]) {
    const std::string run = entry.value("dir", "");
    MM_CHECK(safe_relative(run), tar_path, ": unsafe run folder '", run, "'");
    const std::string dir = grid_dir + "/" + run;
    const bool complete = entry.value("complete", false);
    const std::string state = entry["state"].is_string() ? entry["state"].get<std::string>() : "";
    const std::string best = entry["best"].is_string() ? entry["best"].get<std::string>() : "";
    for (auto* f : {&state, &best})
      MM_CHECK(f->empty() || (safe_relative(*f) && f->find('/') == std::string::npos && fs::exists(bundle_dir + "/" + *f)),
               "--from-bundle ", bundle_dir, ": ", *f, " named by the manifest is missing");
    if (run_complete(dir)) {
      ++r.kept_local;
      continue;
    }
    if (!complete && state.empty()) {
      ++r.restarting;
      continue;
    }
    if (!complete && fs::exists(last_checkpoint_path(dir)) && steps_done(dir) >= entry.value("steps_done", int64_t{0})) {
      ++r.kept_local;
      continue;
    }
    fs::create_directories(dir);
    for (auto& f : kRunTexts) {
      auto it = members.find(run + "/" + f);
      if (it != members.end()) write_file_atomically(dir + "/" + f, it->second);
      else fs::remove(dir + "/" + f);
    }
    if (complete) fs::remove(last_checkpoint_path(dir));
    else copy_atomically(bundle_dir + "/" + state, last_checkpoint_path(dir));
    if (!best.empty()) copy_atomically(bundle_dir + "/" + best, best_checkpoint_path(dir));
    ++(complete ? r.taken_complete : r.taken_interrupted);
  }
  return r;
}

}  // namespace mmengine
