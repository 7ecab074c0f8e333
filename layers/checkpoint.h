// Module state <-> safetensors, with PyTorch's state-dict names, so a file written here loads
// in PyTorch with load_state_dict (and the reverse).
#pragma once
#include <map>
#include <string>

#include "engine/safetensors.h"
#include "layers/module.h"

namespace mmengine {

// Entries of the module's state under `prefix` (e.g. "" for a plain model file, "teacher."
// inside a training checkpoint).
void append_module_state(Module& m, const std::string& prefix, std::vector<std::pair<std::string, Tensor>>& tensors,
                         std::vector<std::pair<std::string, int64_t>>& integers);
void save_module(const std::string& path, Module& m, const std::map<std::string, std::string>& metadata = {});

// Throws, naming the tensor and the file, unless every element of t is finite.
void require_finite(const Tensor& t, const std::string& name, const std::string& path);
// Copies every entry under `prefix` into the module: a missing, extra (when `strict`),
// wrong-shape, wrong-dtype or non-finite entry is an error naming the tensor and the file.
void load_module_state(const TensorFile& f, const std::string& path, Module& m, const std::string& prefix, bool strict);
void load_module(const std::string& path, Module& m);

}  // namespace mmengine
