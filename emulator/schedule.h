// Internal to the emulator: the order in which blocks and threads run between barriers.
#pragma once
#include <cstdint>

namespace mmemu {
struct Schedule {
  enum Kind { Ascending, Descending, Random } kind = Ascending;
  uint64_t seed = 0;
};
// MMENGINE_EMU_SCHEDULE, read once: ascending (default), descending, random or random:SEED.
const Schedule& schedule();
Schedule schedule_from(const char* text);
}  // namespace mmemu
