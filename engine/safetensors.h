// safetensors files (https://huggingface.co/docs/safetensors): an 8-byte little-endian header
// length, a JSON header {name: {dtype, shape, data_offsets}, "__metadata__": {...}}, then the
// raw little-endian data. A file is untrusted input: the header length, the JSON, every
// dtype, shape and offset (inside the data area, not overlapping, equal to numel x dtype size)
// are checked before any tensor is allocated or read. Writes go to a temporary file that is
// renamed into place, so a crash never leaves a partial file under the real name.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "engine/file_io.h"  // write_file_atomically, used by every writer
#include "engine/tensor.h"

namespace mmengine {

struct TensorFile {
  std::map<std::string, Tensor> tensors;    // F32 / F64 entries, on the CPU
  std::map<std::string, int64_t> integers;  // I64 entries of one element (counters, step numbers)
  std::map<std::string, std::string> metadata;
  std::vector<std::string> order;           // entry names in file order
};

void save_safetensors(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const std::vector<std::pair<std::string, int64_t>>& integers = {},
                      const std::map<std::string, std::string>& metadata = {});
TensorFile load_safetensors(const std::string& path);

}  // namespace mmengine
