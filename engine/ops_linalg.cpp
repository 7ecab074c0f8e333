#include "engine/autograd.h"
#include "engine/dispatch.h"
#include "engine/profiler.h"
#include "engine/ops.h"
#include "kernels/gemm.h"

namespace mmengine {

namespace {
// C = op(A) op(B) into a fresh tensor.
Tensor gemm(bool ta, bool tb, const Tensor& A, const Tensor& B, int64_t M, int64_t N, int64_t K) {
  MM_PROFILE("gemm (linear)", A.device());
  Tensor C = Tensor::empty({M, N}, A.dtype(), A.device());
  MM_DISPATCH_FLOAT(A.dtype(), T,
                    MM_KERNEL(A.device(), gemm, T)(ta, tb, M, N, K, T(1), A.data<T>(), B.data<T>(), T(0), C.data<T>()));
  return C;
}
}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  check_same_place("matmul", a, b);
  MM_CHECK(a.dim() == 2 && b.dim() == 2 && a.size(1) == b.size(0), "matmul: needs [M, K] x [K, N], got ",
           describe(a), " and ", describe(b));
  const int64_t M = a.size(0), K = a.size(1), N = b.size(1);
  Tensor out = gemm(false, false, a, b, M, N, K);
  Tensor A = a.detach(), B = b.detach();
  bool need_a = a.requires_grad(), need_b = b.requires_grad();
  return record(out, "matmul", {a, b}, [=](const Tensor& g) {
    Tensor ga, gb;
    if (need_a) ga = gemm(false, true, g, B, M, K, N);  // g [M,N] x B^T [N,K]
    if (need_b) gb = gemm(true, false, A, g, K, N, M);  // A^T [K,M] x g [M,N]
    return std::vector<Tensor>{ga, gb};
  });
}

Tensor linear(const Tensor& x, const Tensor& w, const Tensor& bias) {
  check_same_place("linear", x, w);
  MM_CHECK(x.dim() == 2 && w.dim() == 2 && x.size(1) == w.size(1), "linear: needs x [N, in] and w [out, in], got ",
           describe(x), " and ", describe(w));
  const int64_t N = x.size(0), in = x.size(1), out_features = w.size(0);
  Tensor out = gemm(false, true, x, w, N, out_features, in);
  Tensor X = x.detach(), W = w.detach();
  bool need_x = x.requires_grad(), need_w = w.requires_grad();
  out = record(out, "linear", {x, w}, [=](const Tensor& g) {
    Tensor gx, gw;
    if (need_x) gx = gemm(false, false, g, W, N, in, out_features);  // g [N,out] x W [out,in]
    if (need_w) gw = gemm(true, false, g, X, out_features, in, N);   // g^T [out,N] x X [N,in]
    return std::vector<Tensor>{gx, gw};
  });
  if (!bias.defined()) return out;
  check_same_place("linear bias", x, bias);
  MM_CHECK(bias.dim() == 1 && bias.size(0) == out_features, "linear: bias must be [", out_features, "], got ",
           describe(bias));
  return add_channel(out, bias);
}

}  // namespace mmengine
