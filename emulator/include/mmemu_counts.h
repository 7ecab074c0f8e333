// What the emulated device has been asked to do since the process started: kernel launches
// that ran, cuBLAS GEMM calls, and memory copies and fills. Only the emulated build has it:
// tests count a step's launches with it (a GPU would need a profiler for the same number).
#pragma once
#include <cstdint>

namespace mmemu {

struct WorkCounts {
  uint64_t kernels = 0, gemms = 0, copies = 0;
};
WorkCounts work_counts();
void count_work(uint64_t WorkCounts::*what);

}  // namespace mmemu
