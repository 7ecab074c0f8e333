// The CUDA emulator's stand-in for NVTX (docs/emulator.md): ranges name spans of a profiler
// timeline, and the emulator has no profiler, so they do nothing.
#pragma once

inline int nvtxRangePushA(const char*) { return 0; }
inline int nvtxRangePop() { return 0; }
