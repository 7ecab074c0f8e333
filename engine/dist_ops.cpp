#include "engine/dist_ops.h"

#include "engine/autograd.h"
#include "engine/profiler.h"

namespace mmengine {

Tensor all_reduce_sum(const Tensor& x, Communicator& comm) {
  MM_PROFILE("collectives", x.device());
  Tensor out = x.detach().clone();
  comm.all_reduce_sum(out);
  Communicator* c = &comm;  // the process's communicator outlives every graph
  return record(out, "all_reduce_sum", {x}, [c](const Tensor& g) {
    MM_PROFILE("collectives", g.device());
    Tensor gx = g.clone();
    c->all_reduce_sum(gx);
    return std::vector<Tensor>{gx};
  });
}

Tensor all_gather_rows(const Tensor& x, Communicator& comm) {
  MM_PROFILE("collectives", x.device());
  Tensor out = comm.all_gather_rows(x.detach());
  const int64_t rows = x.size(0), begin = rows * comm.rank();
  return record(out, "all_gather_rows", {x}, [rows, begin](const Tensor& g) {
    return std::vector<Tensor>{slice(g, begin, begin + rows)};
  });
}

Tensor batch_norm_train_sync(const Tensor& x, const Tensor& gamma, const Tensor& beta, double eps, BatchStats* stats,
                             Communicator& comm) {
  MM_CHECK(x.dim() >= 2 && gamma.dim() == 1 && gamma.size(0) == x.size(1) && beta.shape() == gamma.shape(),
           "batch_norm (synchronized): needs x [N, C, ...] and gamma, beta [C], got ", describe(x), ", ",
           describe(gamma), ", ", describe(beta));
  MM_CHECK(eps > 0, "batch_norm: eps must be positive, got ", eps);
  const int64_t N = x.size(0), C = x.size(1), HW = x.numel() / std::max<int64_t>(1, N * C);
  // Per channel: sum and sum of squares of this rank's values, and its count; one all-reduce.
  Tensor x3 = reshape(x, {N, C, HW});
  Tensor s1 = sum(sum(x3, 2), 0), s2 = sum(sum(mul(x3, x3), 2), 0);
  Tensor count = Tensor::full({1}, static_cast<double>(N * HW), x.dtype(), x.device());
  Tensor total = all_reduce_sum(concat({s1, s2, count}), comm);
  // Per-element division by the global count: [C] viewed as [C, 1] channels of one value.
  Tensor n = slice(total, 2 * C, 2 * C + 1);
  auto per_count = [&](const Tensor& s) { return reshape(div_channel(reshape(s, {C, 1}), n), {C}); };
  Tensor mean = per_count(slice(total, 0, C));
  Tensor var = sub(per_count(slice(total, C, 2 * C)), mul(mean, mean));
  Tensor invstd = pow(add(var, eps), -0.5);
  if (stats) *stats = BatchStats{mean.detach(), var.detach(), N * HW * comm.size()};
  return add_channel(mul_channel(sub_channel(x, mean), mul(invstd, gamma)), beta);
}

void all_reduce_gradients(const std::vector<Tensor*>& params, Communicator& comm, size_t bucket_bytes) {
  NoGrad ng;
  std::vector<Tensor> bucket;
  size_t bytes = 0;
  auto flush = [&] {
    if (bucket.empty()) return;
    std::vector<Tensor> flat;
    for (auto& g : bucket) flat.push_back(reshape(g, {g.numel()}));
    Tensor buf = concat(flat);
    comm.all_reduce_sum(buf);
    int64_t off = 0;
    for (auto& g : bucket) {
      g.copy_from(reshape(slice(buf, off, off + g.numel()), g.shape()));
      off += g.numel();
    }
    bucket.clear();
    bytes = 0;
  };
  for (Tensor* p : params) {
    Tensor g = p->grad();
    if (!g.defined()) continue;
    if (!bucket.empty() && (bytes + g.nbytes() > bucket_bytes || g.dtype() != bucket[0].dtype() ||
                            g.device() != bucket[0].device()))
      flush();
    bucket.push_back(g);
    bytes += g.nbytes();
  }
  flush();
}

}  // namespace mmengine
