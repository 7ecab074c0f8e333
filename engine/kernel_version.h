// Which generation of the engine's own CUDA kernels runs, so that `mmengine bench` measures
// the versions of docs/perf-notes.md side by side in one GPU run:
//   v0: the first version measured on a GPU: the conv weight gradient as one cuBLAS GEMM per
//       image, BatchNorm with one block per channel;
//   v1: the weight gradient as one strided-batched GEMM into a workspace + an ordered sum;
//   current: every convolution GEMM (forward, input and weight gradient) once over the whole
//       batch on the wide layouts of kernels/conv.h, BatchNorm on a (channel, split) grid.
// Picked by MMENGINE_KERNELS=current|v1|v0 (read once) or set_kernel_version(). The CPU
// kernels have one version.
#pragma once
#include <string>

namespace mmengine {

enum class KernelVersion { Current, V1, V0 };
KernelVersion kernel_version();
void set_kernel_version(KernelVersion v);
KernelVersion parse_kernel_version(const std::string& name, const char* what);
const char* kernel_version_name(KernelVersion v);

}  // namespace mmengine
