// Module: named parameters, buffers and child modules in registration order (the order and
// the dotted names of PyTorch's state_dict), train/eval mode, device moves, zero_grad.
// Layers own their tensors as members and register pointers to them, so a device move
// replaces the member in place and the layer's code never goes through a lookup.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/tensor.h"

namespace mmengine {

class BnRecorder;
class Communicator;

// One chunk of rows of a grouped forward (see ForwardOptions::groups).
struct RowGroup {
  bool update_running_stats = true;
  const char* tag = "";
};

// Per-call options a forward pass hands down to every BatchNorm it reaches.
struct ForwardOptions {
  bool update_running_stats = true;  // training mode only: whether this call moves the running stats
  const char* tag = "";              // what the batch holds, for the BN statistics recorder
  // Training mode only: BatchNorm statistics over the rows of every rank of this communicator
  // (synchronized BN, engine/dist_ops.h; with groups: each group's rows on every rank); null:
  // this call's own rows.
  Communicator* bn_sync = nullptr;
  // Empty: the batch is one batch. Otherwise the rows are groups.size() equal chunks that every
  // training-mode BatchNorm normalizes with per-chunk statistics (MixMatch's interleaved and
  // separate modes in one pass): chunk g moves the running statistics (after chunks < g) iff
  // groups[g].update_running_stats and is recorded with groups[g].tag; update_running_stats
  // and tag above are then unused. The result equals one forward per chunk with those options.
  std::vector<RowGroup> groups;
};

// A named integer state entry (PyTorch's BatchNorm num_batches_tracked, an int64 tensor).
struct NamedCounter {
  std::string name;
  int64_t* value;
};

class Module {
 public:
  virtual ~Module() = default;
  Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  virtual Tensor forward(const Tensor& x, const ForwardOptions& opts = {}) = 0;
  Tensor operator()(const Tensor& x, const ForwardOptions& opts = {}) { return forward(x, opts); }

  void train(bool on = true);
  void eval() { train(false); }
  bool training() const { return training_; }

  std::vector<std::pair<std::string, Tensor*>> named_parameters();
  std::vector<std::pair<std::string, Tensor*>> named_buffers();
  // Parameters then buffers of each module, then its children, recursively (PyTorch's order).
  std::vector<std::pair<std::string, Tensor*>> named_state();
  std::vector<NamedCounter> named_counters();
  int64_t parameter_count();

  void zero_grad();
  void to(Device d);
  void cast(DType t);  // every parameter and buffer converted (e.g. float64 for exact statistics)
  Device device();
  // Attaches (or with nullptr detaches) a recorder to every BatchNorm below this module.
  virtual void set_bn_recorder(BnRecorder* r);

 protected:
  void register_parameter(const std::string& name, Tensor* t);
  void register_buffer(const std::string& name, Tensor* t);
  void register_counter(const std::string& name, int64_t* v);
  void register_module(const std::string& name, Module* m);  // owned by the subclass
  const std::vector<std::pair<std::string, Module*>>& children() const { return children_; }

 private:
  template <typename F>
  void walk(const std::string& prefix, F&& f);
  std::vector<std::pair<std::string, Tensor*>> params_, buffers_;
  std::vector<std::pair<std::string, int64_t*>> counters_;
  std::vector<std::pair<std::string, Module*>> children_;
  bool training_ = true;
};

}  // namespace mmengine
