#include "mixmatch/step_runner.h"

#ifdef MMENGINE_WITH_CUDA
#include "engine/cuda/graph.h"
#endif

namespace mmengine {

#ifdef MMENGINE_WITH_CUDA
struct StepRunner::Graphed {
  static constexpr int kWarmups = 2;
  CudaGraph graph;
  StepBatch statics;  // x and u: the buffers every replay reads
  StepDeviceInputs inputs;
  int runs = 0;
  StepResult captured;
  // Host-side counters the captured step advanced (Adam's t; the modules' counters).
  int64_t adam_delta = 0;
  std::vector<int64_t*> counters;
  std::vector<int64_t> counter_deltas;
};

namespace {
std::vector<int64_t*> counters_of(WideResNet& student, WideResNet* teacher) {
  std::vector<int64_t*> out;
  for (auto& c : student.named_counters()) out.push_back(c.value);
  if (teacher)
    for (auto& c : teacher->named_counters()) out.push_back(c.value);
  return out;
}
}  // namespace
#else
struct StepRunner::Graphed {};
#endif

StepRunner::StepRunner(WideResNet& student, WideResNet* teacher, Adam& adam, const TrainConfig& cfg, int num_classes,
                       const StepRanks& ranks)
    : student_(student), teacher_(teacher), adam_(adam), cfg_(cfg), num_classes_(num_classes), ranks_(ranks) {
  if (cfg.graph == GraphMode::Off) return;
  MM_CHECK(student.device() == Device::CUDA, "--graph on: needs --device cuda (a CUDA graph replays GPU work)");
  MM_CHECK(!ranks.distributed(), "--graph on: not with data parallel (", ranks.size(),
           " ranks; their collectives are not captured): use --graph off");
#ifdef MMENGINE_WITH_CUDA
  graphed_ = std::make_unique<Graphed>();
#endif
}

StepRunner::~StepRunner() = default;

StepResult StepRunner::run(const StepBatch& b, int64_t step) {
  if (!graphed_) return mixmatch_step(student_, teacher_, adam_, b, cfg_, step, num_classes_, ranks_);
#ifndef MMENGINE_WITH_CUDA
  MM_FAIL("--graph on: this build has no CUDA");
#else
  Graphed& g = *graphed_;
  const Device dev = Device::CUDA;
  if (g.runs == 0) {  // the static buffers, outside the graph's pool
    g.statics.x = Tensor::empty(b.x.shape(), b.x.dtype(), dev);
    for (auto& u : b.u) g.statics.u.push_back(Tensor::empty(u.shape(), u.dtype(), dev));
    g.inputs = allocate_step_inputs(static_cast<int64_t>(b.labels.size()), dev);
  }
  MM_CHECK(b.x.shape() == g.statics.x.shape() && b.u.size() == g.statics.u.size(),
           "--graph on: the step's shapes changed (a CUDA graph needs static shapes; use --graph off)");
  g.statics.step = step;
  g.statics.x.copy_from(b.x);
  for (size_t k = 0; k < b.u.size(); ++k) g.statics.u[k].copy_from(b.u[k]);
  write_step_inputs(g.inputs, b.labels, step, adam_.steps() + 1, num_classes_, dev);
  auto eager = [&] { return mixmatch_step(student_, teacher_, adam_, g.statics, cfg_, step, num_classes_, g.inputs); };
  const int run = g.runs++;
  if (run < Graphed::kWarmups) {
    StepResult r;
    g.graph.warm([&] { r = eager(); });
    return r;
  }
  if (run == Graphed::kWarmups) {
    g.counters = counters_of(student_, teacher_);
    std::vector<int64_t> before;
    for (int64_t* c : g.counters) before.push_back(*c);
    const int64_t adam_before = adam_.steps();
    g.graph.capture([&] { g.captured = eager(); });
    g.adam_delta = adam_.steps() - adam_before;
    for (size_t i = 0; i < g.counters.size(); ++i) g.counter_deltas.push_back(*g.counters[i] - before[i]);
  } else {
    adam_.set_steps(adam_.steps() + g.adam_delta);
    for (size_t i = 0; i < g.counters.size(); ++i) *g.counters[i] += g.counter_deltas[i];
  }
  g.graph.replay();
  StepResult r = g.captured;
  r.step = step;
  return r;
#endif
}

}  // namespace mmengine
