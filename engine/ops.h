// The differentiable functional ops. Each dispatches to kernels/ by device and records its
// backward (engine/autograd.h). All inputs of an op share one device and one dtype.
#pragma once
#include <vector>

#include "engine/tensor.h"

namespace mmengine {

// Elementwise, equal shapes.
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
// With a scalar.
Tensor add(const Tensor& a, double s);
Tensor mul(const Tensor& a, double s);
Tensor neg(const Tensor& a);
// With a per-channel vector c of shape [C] broadcast over x of shape [N, C, ...].
Tensor add_channel(const Tensor& x, const Tensor& c);
Tensor sub_channel(const Tensor& x, const Tensor& c);
Tensor mul_channel(const Tensor& x, const Tensor& c);
Tensor div_channel(const Tensor& x, const Tensor& c);

Tensor pow(const Tensor& a, double exponent);  // a must be positive where exponent is not an integer
Tensor exp(const Tensor& a);
Tensor log(const Tensor& a);
Tensor leaky_relu(const Tensor& a, double slope);
// float32 <-> bfloat16 (rounded to nearest even; the gradient is cast back); the same tensor when
// x already has that dtype. add, sub, mul and div also take two bfloat16 tensors (float math,
// one rounding).
Tensor cast(const Tensor& x, DType to);

// a [M, K] x b [K, N]; linear: x [N, in] x w[out, in]^T + bias[out] (bias may be undefined).
Tensor matmul(const Tensor& a, const Tensor& b);
Tensor linear(const Tensor& x, const Tensor& w, const Tensor& bias);

Tensor sum(const Tensor& a);                                    // all elements -> shape []
Tensor mean(const Tensor& a);
Tensor sum(const Tensor& a, int64_t axis, bool keepdim = false);
Tensor mean(const Tensor& a, int64_t axis, bool keepdim = false);
Tensor softmax(const Tensor& logits);      // over the last axis of a 2-D tensor
Tensor log_softmax(const Tensor& logits);

Tensor reshape(const Tensor& a, const Shape& shape);  // shares data; -1 infers one dimension
Tensor concat(const std::vector<Tensor>& parts);      // along dim 0
Tensor slice(const Tensor& a, int64_t begin, int64_t end);  // rows [begin, end) of dim 0
std::vector<Tensor> split(const Tensor& a, int64_t rows);   // chunks of `rows` along dim 0
Tensor index_select(const Tensor& a, const std::vector<int64_t>& rows);  // a[rows[i]] along dim 0
// The same with `count` int64 row indices already in memory of a's device (e.g. drawn there,
// so no upload and no host read); each must lie in [0, a.size(0)): not checked on the host.
Tensor index_select(const Tensor& a, std::shared_ptr<void> rows_on_device, int64_t count);

}  // namespace mmengine
