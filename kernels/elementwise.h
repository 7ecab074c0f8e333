// Elementwise ops: unary (exp, log, pow, leaky_relu, ...), binary on equal shapes, and binary
// with a per-channel operand broadcast over [outer, channels, inner] (NCHW: outer = N,
// inner = H*W). The per-element formulas live in elementwise_math.h, used by both devices.
#pragma once
#ifdef MMENGINE_WITH_CUDA
#include <cuda_runtime.h>  // cudaStream_t: every CUDA launcher takes its stream last
#endif
#include <cstdint>

namespace mmengine::kernels {

enum class Unary { Exp, Log, Pow, LeakyRelu, Neg, AddScalar, MulScalar };
enum class Binary { Add, Sub, Mul, Div };

// y = f(x; param)
template <typename T> void unary_forward_cpu(Unary op, T param, const T* x, T* y, int64_t n);
// gx = gy * f'(x) (y = f(x) is passed so exp can reuse it)
template <typename T> void unary_backward_cpu(Unary op, T param, const T* x, const T* y, const T* gy, T* gx, int64_t n);
template <typename T> void binary_forward_cpu(Binary op, const T* a, const T* b, T* out, int64_t n);
// ga and gb may each be null (not needed).
template <typename T> void binary_backward_cpu(Binary op, const T* a, const T* b, const T* gout, T* ga, T* gb, int64_t n);
// The binary kernels also exist for T = bf16 (kernels/bf16.h): computed in float, the result
// rounded once to bf16 (the float32 kernel's result on the same values, rounded).
// y = x stored as another type: float <-> bf16 (rounded to nearest even).
template <typename S, typename D> void convert_cpu(const S* x, D* y, int64_t n);
// out[o, c, i] = x[o, c, i] (op) ch[c]
template <typename T> void channel_forward_cpu(Binary op, const T* x, const T* ch, T* out, int64_t outer, int64_t channels, int64_t inner);
// gx (may be null) and gch[c] = sum over o, i (may be null)
template <typename T> void channel_backward_cpu(Binary op, const T* x, const T* ch, const T* gout, T* gx, T* gch, int64_t outer, int64_t channels, int64_t inner);

#ifdef MMENGINE_WITH_CUDA
template <typename T> void unary_forward_cuda(Unary op, T param, const T* x, T* y, int64_t n, cudaStream_t stream);
template <typename T> void unary_backward_cuda(Unary op, T param, const T* x, const T* y, const T* gy, T* gx, int64_t n, cudaStream_t stream);
template <typename T> void binary_forward_cuda(Binary op, const T* a, const T* b, T* out, int64_t n, cudaStream_t stream);
template <typename T> void binary_backward_cuda(Binary op, const T* a, const T* b, const T* gout, T* ga, T* gb, int64_t n, cudaStream_t stream);
template <typename S, typename D> void convert_cuda(const S* x, D* y, int64_t n, cudaStream_t stream);
template <typename T> void channel_forward_cuda(Binary op, const T* x, const T* ch, T* out, int64_t outer, int64_t channels, int64_t inner, cudaStream_t stream);
template <typename T> void channel_backward_cuda(Binary op, const T* x, const T* ch, const T* gout, T* gx, T* gch, int64_t outer, int64_t channels, int64_t inner, cudaStream_t stream);
#endif

}  // namespace mmengine::kernels
