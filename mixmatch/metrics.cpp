#include "mixmatch/metrics.h"

#include <cmath>
#include <fstream>
#include <map>
#include <sstream>

#include "kernels/error.h"
#include "engine/safetensors.h"

namespace mmengine {

namespace {
std::string number(double v) {
  if (!std::isfinite(v)) return "";
  std::ostringstream os;
  os.precision(8);
  os << v;
  return os.str();
}

// Keeps the lines whose first field (the step) is <= keep; the header line always stays.
void truncate_rows(const std::string& path, int64_t keep, bool json) {
  std::ifstream in(path);
  if (!in.good()) return;
  std::string line, out;
  bool first = true;
  while (std::getline(in, line)) {
    if (!json && first) {
      out += line + "\n";
      first = false;
      continue;
    }
    int64_t step = -1;
    if (json) {
      auto p = line.find("\"step\":");
      if (p != std::string::npos) step = std::atoll(line.c_str() + p + 7);
    } else {
      step = std::atoll(line.c_str());
    }
    if (step <= keep) out += line + "\n";
  }
  write_file_atomically(path, out);
}
}  // namespace

MetricsWriter::MetricsWriter(const std::string& dir, const std::vector<std::string>& columns, int64_t keep_up_to_step)
    : csv_(dir + "/metrics.csv"), jsonl_(dir + "/metrics.jsonl"), columns_(columns) {
  MM_CHECK(!columns.empty() && columns[0] == "step", "metrics: the first column must be step");
  if (keep_up_to_step >= 0) {
    truncate_rows(csv_, keep_up_to_step, false);
    truncate_rows(jsonl_, keep_up_to_step, true);
  } else {
    std::string header;
    for (size_t i = 0; i < columns.size(); ++i) header += (i ? "," : "") + columns[i];
    write_file_atomically(csv_, header + "\n");
    write_file_atomically(jsonl_, "");
  }
}

void MetricsWriter::write(const MetricsRow& row) {
  std::map<std::string, double> values(row.begin(), row.end());
  std::string csv, json = "{";
  for (size_t i = 0; i < columns_.size(); ++i) {
    auto it = values.find(columns_[i]);
    const std::string v = it == values.end() ? "" : number(it->second);
    csv += (i ? "," : "") + v;
    json += (i ? ", " : "") + ("\"" + columns_[i] + "\": ") + (v.empty() ? "null" : v);
  }
  std::ofstream(csv_, std::ios::app) << csv << "\n";
  std::ofstream(jsonl_, std::ios::app) << json << "}\n";
}

}  // namespace mmengine
