#include "engine/safetensors.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <unistd.h>

namespace mmengine {

using json = nlohmann::json;

void save_safetensors(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const std::vector<std::pair<std::string, int64_t>>& integers,
                      const std::map<std::string, std::string>& metadata) {
  json header = json::object();
  std::string data;
  auto add_entry = [&](const std::string& name, const char* dtype, const Shape& shape, const void* p, size_t n) {
    MM_CHECK(!header.contains(name), path, ": duplicate tensor name '", name, "'");
    MM_CHECK(name != "__metadata__", path, ": '__metadata__' is reserved");
    header[name] = {{"dtype", dtype}, {"shape", shape}, {"data_offsets", {data.size(), data.size() + n}}};
    data.append(static_cast<const char*>(p), n);
  };
  for (auto& [name, t] : tensors) {
    MM_CHECK(t.dtype() != DType::BF16, path, ": tensor '", name,
             "' is bfloat16; checkpoints hold float32/float64 (bf16 is an activation format only)");
    Tensor host = t.device() == Device::CPU ? t : t.to(Device::CPU);
    add_entry(name, t.dtype() == DType::F32 ? "F32" : "F64", t.shape(), host.raw(), host.nbytes());
  }
  for (auto& [name, v] : integers) add_entry(name, "I64", {}, &v, sizeof(int64_t));
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::string h = header.dump();
  while ((8 + h.size()) % 8 != 0) h.push_back(' ');  // align the data to 8 bytes
  uint64_t len = h.size();
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((len >> (8 * i)) & 0xFF);
  bytes += h;
  bytes += data;
  write_file_atomically(path, bytes);
}

TensorFile load_safetensors(const std::string& path) {
  const uint64_t file_size = require_regular_file(path, "a safetensors file");
  std::ifstream in(path, std::ios::binary);
  MM_CHECK(in.good(), path, ": cannot open (missing file?)");
  MM_CHECK(file_size >= 8, path, ": truncated: ", file_size, " bytes, a safetensors file has at least 8");
  unsigned char lenbuf[8];
  in.read(reinterpret_cast<char*>(lenbuf), 8);
  uint64_t hlen = 0;
  for (int i = 0; i < 8; ++i) hlen |= static_cast<uint64_t>(lenbuf[i]) << (8 * i);
  MM_CHECK(hlen <= file_size - 8 && hlen <= (uint64_t(100) << 20), path, ": header length ", hlen,
           " does not fit the file of ", file_size, " bytes");
  std::string htext(hlen, '\0');
  in.read(htext.data(), static_cast<std::streamsize>(hlen));
  json header;
  try {
    header = json::parse(htext);
  } catch (const std::exception& e) {
    MM_FAIL(path, ": header is not valid JSON: ", e.what());
  }
  MM_CHECK(header.is_object(), path, ": header must be a JSON object");
  const uint64_t data_size = file_size - 8 - hlen;

  struct Entry {
    std::string name, dtype;
    Shape shape;
    uint64_t begin, end;
  };
  std::vector<Entry> entries;
  TensorFile out;
  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const json& v = it.value();
    if (name == "__metadata__") {
      MM_CHECK(v.is_object(), path, ": __metadata__ must be an object of strings");
      for (auto m = v.begin(); m != v.end(); ++m) {
        MM_CHECK(m.value().is_string(), path, ": __metadata__ value '", m.key(), "' is not a string");
        out.metadata[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    MM_CHECK(v.is_object() && v.contains("dtype") && v.contains("shape") && v.contains("data_offsets"), path,
             ": tensor '", name, "' needs dtype, shape and data_offsets");
    MM_CHECK(v["dtype"].is_string(), path, ": tensor '", name, "': dtype must be a string");
    Entry e{name, v["dtype"].get<std::string>(), {}, 0, 0};
    MM_CHECK(e.dtype == "F32" || e.dtype == "F64" || e.dtype == "I64", path, ": tensor '", name, "': dtype ", e.dtype,
             " is not supported (F32, F64, I64)");
    MM_CHECK(v["shape"].is_array() && v["shape"].size() <= 8, path, ": tensor '", name, "': bad shape");
    // Element and byte counts with overflow checks: a shape whose product wraps around 2^64
    // must not pass the size comparison below.
    uint64_t numel = 1;
    for (auto& d : v["shape"]) {
      MM_CHECK(d.is_number_unsigned() && d.get<uint64_t>() < (uint64_t(1) << 40), path, ": tensor '", name,
               "': bad dimension in shape (expected an integer in [0, 2^40))");
      e.shape.push_back(static_cast<int64_t>(d.get<uint64_t>()));
      MM_CHECK(!__builtin_mul_overflow(numel, d.get<uint64_t>(), &numel) && numel < (uint64_t(1) << 40), path,
               ": tensor '", name, "': shape ", v["shape"].dump(), " has more than 2^40 elements");
    }
    const json& off = v["data_offsets"];
    MM_CHECK(off.is_array() && off.size() == 2 && off[0].is_number_unsigned() && off[1].is_number_unsigned(), path,
             ": tensor '", name, "': data_offsets must be two unsigned integers");
    e.begin = off[0].get<uint64_t>();
    e.end = off[1].get<uint64_t>();
    const uint64_t elem = e.dtype == "F32" ? 4 : 8;
    MM_CHECK(e.begin <= e.end && e.end <= data_size, path, ": tensor '", name, "': data_offsets [", e.begin, ", ", e.end,
             ") outside the ", data_size, "-byte data area (truncated file?)");
    uint64_t bytes = 0;
    MM_CHECK(!__builtin_mul_overflow(numel, elem, &bytes), path, ": tensor '", name, "': byte size overflows");
    MM_CHECK(e.end - e.begin == bytes, path, ": tensor '", name, "': ", e.end - e.begin,
             " bytes do not match shape ", shape_str(e.shape), " of ", e.dtype);
    MM_CHECK(e.dtype != "I64" || numel == 1, path, ": tensor '", name, "': only one-element I64 entries are supported");
    entries.push_back(e);
  }
  std::vector<Entry> sorted = entries;
  std::sort(sorted.begin(), sorted.end(), [](const Entry& a, const Entry& b) { return a.begin < b.begin; });
  for (size_t i = 1; i < sorted.size(); ++i)
    MM_CHECK(sorted[i].begin >= sorted[i - 1].end, path, ": tensors '", sorted[i - 1].name, "' and '", sorted[i].name,
             "' overlap");
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) { return a.begin < b.begin; });

  const uint64_t data_start = 8 + hlen;
  for (auto& e : entries) {
    in.seekg(static_cast<std::streamoff>(data_start + e.begin));
    out.order.push_back(e.name);
    if (e.dtype == "I64") {
      int64_t v = 0;
      in.read(reinterpret_cast<char*>(&v), 8);
      MM_CHECK(in.good(), path, ": read failed for '", e.name, "'");
      out.integers[e.name] = v;
      continue;
    }
    Tensor t = Tensor::empty(e.shape, e.dtype == "F32" ? DType::F32 : DType::F64);
    in.read(static_cast<char*>(t.raw()), static_cast<std::streamsize>(e.end - e.begin));
    MM_CHECK(in.good(), path, ": read failed for '", e.name, "'");
    out.tensors[e.name] = t;
  }
  return out;
}

}  // namespace mmengine
