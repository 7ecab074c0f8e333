#include "engine/dist_ops.h"

#include "engine/autograd.h"
#include "engine/memory.h"
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

void all_reduce_sum_bucketed(const std::vector<Tensor>& tensors, Communicator& comm, size_t bucket_bytes, double scale) {
  NoGrad ng;
  std::vector<Tensor> bucket;
  size_t bytes = 0;
  auto flush = [&] {
    if (bucket.empty()) return;
    std::vector<Tensor> flat;
    for (auto& t : bucket) flat.push_back(reshape(t, {t.numel()}));
    Tensor buf = concat(flat);
    comm.all_reduce_sum(buf);
    if (scale != 1.0) buf = mul(buf, scale);  // once per bucket
    // Back into each tensor's storage: one device copy each, from its offset in the bucket.
    size_t off = 0;
    for (auto& t : bucket) {
      copy_bytes(t.raw(), t.device(), static_cast<const char*>(buf.raw()) + off, buf.device(), t.nbytes());
      off += t.nbytes();
    }
    bucket.clear();
    bytes = 0;
  };
  for (const Tensor& t : tensors) {
    if (!bucket.empty() && (bytes + t.nbytes() > bucket_bytes || t.dtype() != bucket[0].dtype() ||
                            t.device() != bucket[0].device()))
      flush();
    bucket.push_back(t);
    bytes += t.nbytes();
  }
  flush();
}

void all_reduce_gradients(const std::vector<Tensor*>& params, Communicator& comm, size_t bucket_bytes) {
  std::vector<Tensor> grads;
  for (Tensor* p : params)
    if (p->grad().defined()) grads.push_back(p->grad());
  all_reduce_sum_bucketed(grads, comm, bucket_bytes);
}

}  // namespace mmengine
