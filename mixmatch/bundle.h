// Results bundles of the study grid: what one GPU run carries back, and what the next one
// resumes from. A bundle is a folder of at most `max_files` files (default 8), none over 16 MiB,
// 64 MiB in all:
//   grid.tar.gz                   every run's config.json, summary.json and metrics.csv, the
//                                 grid's ablate.csv / ablate.md, and bundle.json (the manifest)
//   <run>.best.safetensors        best models of the runs asked for (bn-probe's input)
//   <run>.last.safetensors        training states of interrupted runs, while the limits allow,
//                                 then those runs' best models so far (<run>.best.safetensors)
// (<run> is the run's folder relative to the grid with '/' written as '__'). An interrupted
// run whose state did not fit restarts from step 0 when the bundle is merged. grid.tar.gz is
// an ordinary gzip'd ustar archive (`tar xzf` reads it).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace mmengine {

struct BundleLimits {
  int max_files = 8;
  int64_t max_file_bytes = int64_t{16} << 20;
  int64_t max_total_bytes = int64_t{64} << 20;
};

struct BundleReport {
  std::vector<std::string> files;  // written, in bundle_dir
  int64_t total_bytes = 0;
  std::vector<std::string> notes;  // what was left out and why
};

// Writes grid_dir's runs (folders relative to grid_dir) into bundle_dir, which is created; old
// bundle files there are replaced. best_runs: runs whose best.safetensors to include.
BundleReport write_bundle(const std::string& grid_dir, const std::vector<std::string>& runs,
                          const std::vector<std::string>& best_runs, const std::string& bundle_dir,
                          const BundleLimits& limits = {});

struct MergeReport {
  int taken_complete = 0, taken_interrupted = 0, kept_local = 0, restarting = 0;
  std::string summary() const;
};

// Merges a bundle into grid_dir. Per run: a run complete in grid_dir is kept; otherwise a
// complete run of the bundle replaces it; an interrupted run of the bundle with its state
// replaces a local run that has done fewer steps; an interrupted run without a state is skipped.
MergeReport merge_bundle(const std::string& bundle_dir, const std::string& grid_dir);

// A gzip'd ustar archive of regular files (name -> bytes), and its reader. The reader treats
// the file as untrusted: checksums, sizes and names are checked (no absolute paths, no "..").
void write_tar_gz(const std::string& path, const std::vector<std::pair<std::string, std::string>>& files);
std::vector<std::pair<std::string, std::string>> read_tar_gz(const std::string& path);

}  // namespace mmengine
