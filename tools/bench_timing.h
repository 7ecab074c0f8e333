// The timing rule every `mmengine bench` table uses: warm-up runs, then the median (and the
// range) of timed runs, each with the device idle before and after (engine/profiler.h); and
// the models every bench times: a WRN student and its EMA teacher on the device.
#pragma once
#include <algorithm>
#include <functional>
#include <vector>

#include "engine/profiler.h"
#include "layers/wideresnet.h"
#include "mixmatch/ema.h"

namespace mmengine {

struct BenchStats {
  double median = 0, min = 0, max = 0;
  int repeats = 0;
};

// With `before` run (untimed, finished: time_ms waits for the device first) ahead of every run,
// warm-up included: an L2 flush, say.
inline BenchStats measure_after(Device dev, int warmup, int repeats, const std::function<void()>& before,
                                const std::function<void()>& fn) {
  for (int i = 0; i < warmup; ++i) before(), fn();
  std::vector<double> t;
  for (int i = 0; i < repeats; ++i) {
    before();
    t.push_back(time_ms(dev, fn));
  }
  std::sort(t.begin(), t.end());
  return {t[t.size() / 2], t.front(), t.back(), repeats};
}

inline BenchStats measure(Device dev, int warmup, int repeats, const std::function<void()>& fn) {
  return measure_after(dev, warmup, repeats, [] {}, fn);
}

inline WideResNetConfig bench_model(int64_t depth, int64_t widen) {
  WideResNetConfig mc;
  mc.depth = depth;
  mc.widen_factor = widen;
  return mc;
}

struct BenchModels {
  BenchModels(int64_t depth, int64_t widen, Device dev) : student(bench_model(depth, widen)), teacher(bench_model(depth, widen)) {
    student.to(dev);
    teacher.to(dev);
    copy_state(student, teacher);
  }
  WideResNet student, teacher;
};

}  // namespace mmengine
