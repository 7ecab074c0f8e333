#include "mixmatch/metrics.h"

#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "engine/file_io.h"
#include "engine/safetensors.h"
#include "kernels/error.h"

namespace mmengine {

namespace {
bool exists(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0;
}

std::string number(double v) {
  if (!std::isfinite(v)) return "";
  std::ostringstream os;
  os.precision(8);
  os << v;
  return os.str();
}

// The step of a complete row (a CSV line with one field per column, or a JSON object), or -1
// for a row that a crash or a full disk cut short.
int64_t row_step(const std::string& line, size_t columns, bool json) {
  if (json) {
    const auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    return j.is_object() && j.contains("step") && j["step"].is_number() ? j["step"].get<int64_t>() : -1;
  }
  if (static_cast<size_t>(std::count(line.begin(), line.end(), ',')) + 1 != columns) return -1;
  char* end = nullptr;
  const long long step = std::strtoll(line.c_str(), &end, 10);
  return end != line.c_str() && *end == ',' ? step : -1;
}

// Keeps the complete rows whose step is <= keep (and the CSV header): a partial last line (no
// newline) and rows written after the checkpoint are dropped; training repeats those steps.
void truncate_rows(const std::string& path, const std::string& header, size_t columns, int64_t keep, bool json) {
  std::string text = exists(path) ? read_text_file(path, "the metrics of the run") : std::string();
  std::string out = json ? "" : header + "\n";
  size_t pos = 0;
  bool first = true;
  for (size_t nl; (nl = text.find('\n', pos)) != std::string::npos; pos = nl + 1, first = false) {
    const std::string line = text.substr(pos, nl - pos);
    if (!json && first) continue;  // the header, written afresh above
    const int64_t step = row_step(line, columns, json);
    if (step >= 1 && step <= keep) out += line + "\n";
  }
  write_file_atomically(path, out);
}
}  // namespace

MetricsWriter::MetricsWriter(const std::string& dir, const std::vector<std::string>& columns, int64_t keep_up_to_step)
    : csv_(dir + "/metrics.csv"), jsonl_(dir + "/metrics.jsonl"), columns_(columns) {
  MM_CHECK(!columns.empty() && columns[0] == "step", "metrics: the first column must be step");
  std::string header;
  for (size_t i = 0; i < columns.size(); ++i) header += (i ? "," : "") + columns[i];
  if (keep_up_to_step >= 0) {
    truncate_rows(csv_, header, columns.size(), keep_up_to_step, false);
    truncate_rows(jsonl_, header, columns.size(), keep_up_to_step, true);
  } else {
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
  append_to_file(csv_, csv + "\n");  // a failed write (full disk) stops the run, naming the file
  append_to_file(jsonl_, json + "}\n");
}

}  // namespace mmengine
