#include "engine/autograd.h"
#include "engine/dispatch.h"
#include "engine/profiler.h"
#include "engine/memory.h"
#include "engine/ops.h"
#include "kernels/index.h"

namespace mmengine {

namespace {
int64_t row_elems(const Tensor& a) {
  MM_CHECK(a.dim() >= 1, "row ops need at least one dimension, got ", describe(a));
  return a.size(0) == 0 ? 0 : a.numel() / a.size(0);
}

// Copies rows [begin, begin + count) of src into dst starting at row dst_row (same row size).
void copy_rows(const Tensor& dst, int64_t dst_row, const Tensor& src, int64_t begin, int64_t count) {
  const size_t row_bytes = row_elems(src) * dtype_size(src.dtype());
  copy_bytes(static_cast<char*>(dst.raw()) + dst_row * row_bytes, dst.device(),
             static_cast<const char*>(src.raw()) + begin * row_bytes, src.device(), count * row_bytes);
}

std::shared_ptr<void> upload_indices(const std::vector<int64_t>& idx, Device d) {
  auto buf = allocate(d, idx.size() * sizeof(int64_t));
  copy_bytes(buf.get(), d, idx.data(), Device::CPU, idx.size() * sizeof(int64_t));
  return buf;
}
}  // namespace

Tensor reshape(const Tensor& a, const Shape& shape) {
  Shape s = shape;
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == -1) {
      MM_CHECK(infer < 0, "reshape: more than one -1 in ", shape_str(shape));
      infer = static_cast<int64_t>(i);
    } else {
      MM_CHECK(s[i] >= 0, "reshape: bad dimension in ", shape_str(shape));
      known *= s[i];
    }
  }
  if (infer >= 0) {
    MM_CHECK(known > 0 && a.numel() % known == 0, "reshape: cannot infer -1 in ", shape_str(shape), " for ", describe(a));
    s[infer] = a.numel() / known;
  }
  MM_CHECK(shape_numel(s) == a.numel(), "reshape: ", describe(a), " cannot become ", shape_str(s));
  Tensor out = a.detach();
  out.impl().shape = s;
  Shape in_shape = a.shape();
  return record(out, "reshape", {a}, [in_shape](const Tensor& g) {
    Tensor gx = g.detach();
    gx.impl().shape = in_shape;
    return std::vector<Tensor>{gx};
  });
}

Tensor concat(const std::vector<Tensor>& parts) {
  MM_PROFILE("copy/index", parts.empty() ? Device::CPU : parts[0].device());
  MM_CHECK(!parts.empty(), "concat of no tensors");
  const Tensor& first = parts[0];
  int64_t rows = 0;
  for (const auto& p : parts) {
    check_same_place("concat", first, p);
    MM_CHECK(p.dim() == first.dim() && row_elems(p) * p.size(0) == p.numel(), "concat: bad part ", describe(p));
    for (int64_t d = 1; d < p.dim(); ++d)
      MM_CHECK(p.size(d) == first.size(d), "concat: parts ", describe(first), " and ", describe(p), " differ beyond dim 0");
    rows += p.size(0);
  }
  Shape s = first.shape();
  s[0] = rows;
  Tensor out = Tensor::empty(s, first.dtype(), first.device());
  std::vector<int64_t> sizes;
  int64_t at = 0;
  for (const auto& p : parts) {
    copy_rows(out, at, p, 0, p.size(0));
    at += p.size(0);
    sizes.push_back(p.size(0));
  }
  return record(out, "concat", parts, [sizes](const Tensor& g) {
    std::vector<Tensor> grads;
    int64_t begin = 0;
    for (int64_t n : sizes) {
      grads.push_back(slice(g, begin, begin + n));
      begin += n;
    }
    return grads;
  });
}

Tensor slice(const Tensor& a, int64_t begin, int64_t end) {
  MM_PROFILE("copy/index", a.device());
  MM_CHECK(a.dim() >= 1 && 0 <= begin && begin <= end && end <= a.size(0), "slice [", begin, ", ", end, ") out of range for ",
           describe(a));
  Shape s = a.shape();
  s[0] = end - begin;
  Tensor out = Tensor::empty(s, a.dtype(), a.device());
  copy_rows(out, 0, a, begin, end - begin);
  Shape in_shape = a.shape();
  return record(out, "slice", {a}, [=](const Tensor& g) {
    Tensor gx = Tensor::zeros(in_shape, g.dtype(), g.device());
    copy_rows(gx, begin, g, 0, end - begin);
    return std::vector<Tensor>{gx};
  });
}

std::vector<Tensor> split(const Tensor& a, int64_t rows) {
  MM_CHECK(rows > 0, "split: chunk size must be positive, got ", rows);
  std::vector<Tensor> out;
  for (int64_t b = 0; b < a.size(0); b += rows) out.push_back(slice(a, b, std::min(a.size(0), b + rows)));
  return out;
}

Tensor index_select(const Tensor& a, const std::vector<int64_t>& rows) {
  MM_CHECK(a.dim() >= 1, "index_select needs at least one dimension, got ", describe(a));
  for (auto r : rows) MM_CHECK(r >= 0 && r < a.size(0), "index_select: row ", r, " out of range for ", describe(a));
  return index_select(a, upload_indices(rows, a.device()), static_cast<int64_t>(rows.size()));
}

Tensor index_select(const Tensor& a, std::shared_ptr<void> idx, int64_t count) {
  MM_PROFILE("copy/index", a.device());
  MM_CHECK(a.dim() >= 1, "index_select needs at least one dimension, got ", describe(a));
  Shape s = a.shape();
  s[0] = count;
  Tensor out = Tensor::empty(s, a.dtype(), a.device());
  const int64_t row = row_elems(a), nidx = s[0], nsrc = a.size(0);
  auto idx_ptr = static_cast<const int64_t*>(idx.get());
  MM_DISPATCH_FLOAT(a.dtype(), T, MM_KERNEL(a.device(), gather_rows, T)(a.data<T>(), idx_ptr, out.data<T>(), nidx, row));
  Shape in_shape = a.shape();
  return record(out, "index_select", {a}, [=](const Tensor& g) {
    Tensor gx = Tensor::empty(in_shape, g.dtype(), g.device());
    MM_DISPATCH_FLOAT(g.dtype(), T,
                      MM_KERNEL(g.device(), scatter_add_rows, T)(g.data<T>(), static_cast<const int64_t*>(idx.get()),
                                                                gx.data<T>(), nidx, row, nsrc));
    return std::vector<Tensor>{gx};
  });
}

}  // namespace mmengine
