// Internal to the emulator: what a stream holds. Work runs at once (launches are synchronous),
// except while the stream is capturing: then it is recorded for a graph (emulator/graph.cpp).
#pragma once
#include <atomic>
#include <thread>
#include <vector>

#include "cuda_runtime.h"

struct mmemu_stream {
  // Atomic: another host thread's forbidden call may invalidate this stream's capture.
  std::atomic<cudaStreamCaptureStatus> capture{cudaStreamCaptureStatusNone};
  cudaStreamCaptureMode mode = cudaStreamCaptureModeGlobal;
  std::thread::id capturer;  // the host thread that began the capture (its mode's rules, EndCapture)
  std::vector<mmemu::Recorded> recorded;
};
