// Opt-in recording of the per-channel batch statistics of every training-mode BatchNorm call
// (the study's raw data). A BatchNorm with no recorder attached does no extra work.
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
  void add(BnRecord r) { records_.push_back(std::move(r)); }
  const std::vector<BnRecord>& records() const { return records_; }
  void clear() { records_.clear(); }

 private:
  std::vector<BnRecord> records_;
};

}  // namespace mmengine
