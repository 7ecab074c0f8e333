// What the process can run on: the CUDA device count (0 when built without CUDA, when no
// driver is present, or when the driver reports no device), and device-wide synchronization.
#pragma once
#include <string>

#include "engine/dtype.h"

namespace mmengine {

bool built_with_cuda();
// True in MMENGINE_CUDA=EMULATED builds: "cuda" is the CPU emulator (docs/emulator.md), which
// --device auto never picks and whose timings are not GPU numbers.
bool cuda_emulated();
int cuda_device_count();  // never throws: 0 when CUDA is unusable
bool cuda_available();
std::string cuda_unavailable_reason();
void synchronize(Device d);  // waits for queued device work (a counted host sync); a no-op on CPU
// Makes CUDA stream number `slot` (one of a process-wide set, non-blocking, created on first use
// and kept for the process like the context stream, so its allocator pool and library handles
// are reused) the current stream of this host thread for the scope's life; at its end the
// thread's work on it is waited for (a counted host sync). On the CPU device nothing. Work issued
// by host threads holding different slots runs concurrently on the GPU (runs trained at once in
// one process: `mmengine ablate --concurrent-mode streams`).
class WorkerStreamScope {
 public:
  WorkerStreamScope(Device d, int slot);
  ~WorkerStreamScope();
  WorkerStreamScope(const WorkerStreamScope&) = delete;
  WorkerStreamScope& operator=(const WorkerStreamScope&) = delete;

 private:
  void* stream_ = nullptr;  // cudaStream_t of the slot, nullptr on the CPU
  void* scope_ = nullptr;   // the CudaStreamScope that made it current
};
// The OpenMP threads of the CPU kernels' parallel regions issued by this host thread (n >= 1);
// a no-op in a build without OpenMP (cpu_threads() is then 1).
void set_cpu_threads(int n);
int cpu_threads();
// The CPU share of one of `runs` runs at once (ablate --concurrent, the bench's sweep): this
// machine's cores / runs OpenMP threads, at least 1.
int cpu_share(int runs);
// Data parallel: this process uses GPU local_rank % device count (one GPU per rank of a host);
// a no-op without CUDA devices.
void use_cuda_device_of_rank(int local_rank);
// A --device flag value (auto|cpu|cuda) -> a device; auto picks CUDA when a real device exists.
// Errors name the flag, and say why when CUDA is asked for but unusable.
Device resolve_device(const std::string& flag_value, const char* flag_name = "--device");

}  // namespace mmengine
