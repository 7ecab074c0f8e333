// metrics.csv and metrics.jsonl of a run: one row per logged step, the same columns in both.
// On resume, rows after the checkpoint's step and rows cut short by a crash are dropped (the
// resumed run writes them again). Every append is checked: a failed write throws naming the file.
#pragma once
#include <string>
#include <utility>
#include <vector>

namespace mmengine {

using MetricsRow = std::vector<std::pair<std::string, double>>;

class MetricsWriter {
 public:
  MetricsWriter(const std::string& dir, const std::vector<std::string>& columns, int64_t keep_up_to_step);
  void write(const MetricsRow& row);  // columns not in the row are written empty / null

 private:
  std::string csv_, jsonl_;
  std::vector<std::string> columns_;
};

}  // namespace mmengine
