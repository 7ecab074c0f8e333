// Which generation of the engine's own CUDA kernels runs, so that `mmengine bench` measures
// the versions of docs/perf-notes.md side by side in one GPU run:
//   v0: the first version measured on a GPU: the conv weight gradient as one cuBLAS GEMM per
//       image, BatchNorm with one block per channel;
//   v1: the weight gradient as one strided-batched GEMM into a workspace + an ordered sum;
//   current: every convolution GEMM (forward, input and weight gradient) once over the whole
//       batch on the wide layouts of kernels/conv.h, BatchNorm on a (channel, split) grid.
// Picked by MMENGINE_KERNELS=current|v1|v0 (read once) or set_kernel_version() (per host thread:
// engine/env_setting.h). The CPU kernels have one version.
//
// The step's fusions (issue 13 items 5-6) run on both devices with the current kernels, and
// each can be switched off alone, so the bench measures it against its absence in one run:
//   grouped-bn:     MixMatch's interleaved / separate modes run the model once over the G
//                   chunks with per-group BatchNorm statistics, instead of G model calls;
//   bn-running:     BatchNorm's running statistics move inside its statistics kernel, instead
//                   of elementwise ops after it;
//   bn-leaky-relu:  BatchNorm's apply fused with the LeakyReLU after it (forward and backward;
//                   in evaluation without gradients, the whole eval-mode BatchNorm and the LeakyReLU);
//   multi-tensor:   Adam and the EMA teacher in one launch over all tensors, not one per tensor;
//   conv-bn-stats:  a BatchNorm right after a convolution on the igemm backend (TF32 gather
//                   or halo kernels, float32, no bias: WRN's conv1 -> bn2 in every block) takes
//                   its statistics from the convolution's epilogue instead of two passes over
//                   its input (engine/ops_nn.h conv2d_with_bn_moments).
// MMENGINE_UNFUSED=name,name,... (or "all") switches fusions off (read once), as does
// set_fusion_enabled() (per thread); with MMENGINE_KERNELS=v1|v0 they are all off.
#pragma once
#include <string>
#include <vector>

#include "engine/enum_table.h"
#include "engine/env_setting.h"

namespace mmengine {

enum class KernelVersion { Current, V1, V0 };
inline constexpr EnumEntry<KernelVersion> kKernelVersions[] = {
    {KernelVersion::Current, "current", "every convolution GEMM over the whole batch, BatchNorm on a 2-D grid, the fusions"},
    {KernelVersion::V1, "v1", "the weight gradient as one strided-batched GEMM, no fusions"},
    {KernelVersion::V0, "v0", "the first GPU version: a GEMM per image, BatchNorm one block per channel"}};
KernelVersion kernel_version();
void set_kernel_version(KernelVersion v);
using KernelVersionScope = SettingScope<KernelVersion, kernel_version, set_kernel_version>;
KernelVersion parse_kernel_version(const std::string& name, const char* what);
const char* kernel_version_name(KernelVersion v);

enum class Fusion { GroupedBatchNorm, BnRunningInKernel, BnLeakyRelu, MultiTensor, ConvBnStats };
inline constexpr EnumEntry<Fusion> kFusions[] = {
    {Fusion::GroupedBatchNorm, "grouped-bn", "one model pass over the chunks, BatchNorm statistics per chunk"},
    {Fusion::BnRunningInKernel, "bn-running", "running statistics moved inside BatchNorm's kernel"},
    {Fusion::BnLeakyRelu, "bn-leaky-relu", "BatchNorm's apply fused with the LeakyReLU after it (training and evaluation)"},
    {Fusion::MultiTensor, "multi-tensor", "Adam and the EMA in one launch over all tensors"},
    {Fusion::ConvBnStats, "conv-bn-stats",
     "BatchNorm's statistics from the epilogue of the implicit-GEMM convolution before it (float32)"}};
// Every fusion, in table order.
inline std::vector<Fusion> all_fusions() {
  std::vector<Fusion> out;
  for (const auto& e : kFusions) out.push_back(e.value);
  return out;
}
bool fusion_enabled(Fusion f);  // not switched off, and the current kernels
void set_fusion_enabled(Fusion f, bool on);
const char* fusion_name(Fusion f);

// Switches one fusion for the lifetime of the object, then back to what it was.
class FusionScope {
 public:
  FusionScope(Fusion f, bool on) : f_(f), was_(fusion_enabled(f)) { set_fusion_enabled(f, on); }
  ~FusionScope() { set_fusion_enabled(f_, was_); }
  FusionScope(const FusionScope&) = delete;
  FusionScope& operator=(const FusionScope&) = delete;

 private:
  Fusion f_;
  bool was_;
};

}  // namespace mmengine
