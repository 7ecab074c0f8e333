// Opt-in recording of the per-channel batch statistics of every training-mode BatchNorm call
// (the study's raw data). A BatchNorm with no recorder attached does no extra work.
// A grouped forward (ForwardOptions::groups) records one entry per chunk, in the order G
// separate forwards would have made: every layer of chunk 0, then every layer of chunk 1, ...
#pragma once
#include <string>
#include <vector>

namespace mmengine {

struct BnRecord {
  std::string layer;  // state-dict prefix, e.g. "block2.layer.0.bn1"
  std::string tag;    // ForwardOptions::tag of the call (labeled, unlabeled, mixed, ...)
  std::vector<double> mean, var;  // per channel; var is the biased batch variance
  int64_t count = 0;              // values per channel in the batch
};

class BnRecorder {
 public:
  void add(BnRecord r) {
    flush();
    records_.push_back(std::move(r));
  }
  // Chunk `group` of a grouped forward of `groups` chunks; held until the forward ends (the
  // next add, records(), or a layer seen again in chunk 0: the next grouped forward).
  void add_grouped(BnRecord r, size_t group, size_t groups) {
    if (pending_.size() != groups || (group == 0 && seen_in_first_(r.layer))) flush();
    pending_.resize(groups);
    pending_[group].push_back(std::move(r));
  }
  const std::vector<BnRecord>& records() {
    flush();
    return records_;
  }
  void clear() {
    records_.clear();
    pending_.clear();
  }

 private:
  bool seen_in_first_(const std::string& layer) const {
    for (auto& r : pending_[0])
      if (r.layer == layer) return true;
    return false;
  }
  void flush() {
    for (auto& chunk : pending_)
      for (auto& r : chunk) records_.push_back(std::move(r));
    pending_.clear();
  }
  std::vector<BnRecord> records_;
  std::vector<std::vector<BnRecord>> pending_;
};

}  // namespace mmengine
