// The CPU twins of the halo implicit-GEMM kernels (kernels/conv_igemm.h, kernels/cuda/
// conv_igemm_halo.cu): the halo kernels compute the same function as the gather kernels, so
// their twins are the reference twins (kernels/cpu/conv_igemm.cpp) behind the halo launchers'
// own check of the shape; the workspace is unused on the CPU. (The weight gradient's twins:
// conv_igemm_halo_wgrad.cpp.)
#include "kernels/bf16.h"
#include "kernels/conv_igemm.h"

namespace mmengine::kernels {

template <typename A>
void conv_igemm_forward_halo_cpu(const ConvGeometry& g, int64_t cout, const A* x, const float* w, A* y,
                                 float* /*workspace*/) {
  check_igemm_halo_supported(g);
  conv_igemm_forward_cpu(g, cout, x, w, y);
}
template <typename A>
void conv_igemm_grad_input_halo_cpu(const ConvGeometry& g, int64_t cout, const float* w, const A* gy, A* gx,
                                    float* /*workspace*/) {
  check_igemm_halo_supported(g);
  conv_igemm_grad_input_cpu(g, cout, w, gy, gx);
}
template void conv_igemm_forward_halo_cpu<float>(const ConvGeometry&, int64_t, const float*, const float*, float*, float*);
template void conv_igemm_forward_halo_cpu<bf16>(const ConvGeometry&, int64_t, const bf16*, const float*, bf16*, float*);
template void conv_igemm_grad_input_halo_cpu<float>(const ConvGeometry&, int64_t, const float*, const float*, float*,
                                                    float*);
template void conv_igemm_grad_input_halo_cpu<bf16>(const ConvGeometry&, int64_t, const float*, const bf16*, bf16*,
                                                   float*);
void conv_igemm_forward_halo_split_cpu(const ConvGeometry& g, int64_t cout, const float* x, const float* w, float* y,
                                       float* /*workspace*/) {
  check_igemm_halo_supported(g);
  conv_igemm_forward_split_cpu(g, cout, x, w, y);
}
void conv_igemm_grad_input_halo_split_cpu(const ConvGeometry& g, int64_t cout, const float* w, const float* gy,
                                          float* gx, float* /*workspace*/) {
  check_igemm_halo_supported(g);
  conv_igemm_grad_input_split_cpu(g, cout, w, gy, gx);
}
int64_t conv_igemm_halo_workspace_cpu(const ConvGeometry&, int64_t) { return 0; }

void conv_igemm_forward_halo_stats_cpu(const ConvGeometry& g, int64_t cout, const float* x, const float* w, float* y,
                                       int64_t groups, double* moments, double* /*stats_workspace*/,
                                       float* /*workspace*/) {
  check_conv_igemm_halo_stats_supported(g, groups);
  conv_igemm_forward_cpu(g, cout, x, w, y);
  conv_igemm_output_moments_cpu(g, cout, y, groups, moments);
}
int64_t conv_igemm_halo_stats_workspace_cpu(const ConvGeometry&, int64_t) { return 0; }

}  // namespace mmengine::kernels
