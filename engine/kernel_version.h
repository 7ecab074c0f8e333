// Which generation of the engine's own CUDA kernels runs: the current one (default) or `v0`,
// the first version measured on a GPU (docs/perf-notes.md), kept as the baseline that
// `mmengine bench` measures beside the current one in the same run. v0 differs in: the conv
// weight gradient (one cuBLAS GEMM per image) and BatchNorm (one block per channel). Picked by
// MMENGINE_KERNELS=current|v0 (read once) or set_kernel_version(). CPU kernels have one version.
#pragma once
#include <string>

namespace mmengine {

enum class KernelVersion { Current, V0 };
KernelVersion kernel_version();
void set_kernel_version(KernelVersion v);
KernelVersion parse_kernel_version(const std::string& name, const char* what);
const char* kernel_version_name(KernelVersion v);

}  // namespace mmengine
