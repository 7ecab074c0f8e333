#include "mixmatch/interleave.h"

#include "engine/ops.h"

namespace mmengine {

std::vector<int64_t> interleave_offsets(int64_t batch, int64_t nu) {
  MM_CHECK(batch > 0 && nu >= 0, "interleave_offsets: batch ", batch, " and nu ", nu);
  std::vector<int64_t> groups(nu + 1, batch / (nu + 1));
  const int64_t rest = batch - (batch / (nu + 1)) * (nu + 1);
  for (int64_t x = 0; x < rest; ++x) groups[nu - x] += 1;  // the seed's groups[-x - 1] += 1
  std::vector<int64_t> offsets{0};
  for (auto g : groups) offsets.push_back(offsets.back() + g);
  return offsets;
}

std::vector<Tensor> interleave(const std::vector<Tensor>& xy, int64_t batch) {
  const int64_t nu = static_cast<int64_t>(xy.size()) - 1;
  MM_CHECK(nu >= 0, "interleave: no tensors");
  for (auto& t : xy) MM_CHECK(t.size(0) == batch, "interleave: every chunk must have ", batch, " rows, got ", describe(t));
  const auto off = interleave_offsets(batch, nu);
  std::vector<std::vector<Tensor>> parts(nu + 1);
  for (int64_t v = 0; v <= nu; ++v)
    for (int64_t p = 0; p <= nu; ++p) parts[v].push_back(slice(xy[v], off[p], off[p + 1]));
  for (int64_t i = 1; i <= nu; ++i) std::swap(parts[0][i], parts[i][i]);
  std::vector<Tensor> out;
  for (auto& v : parts) out.push_back(concat(v));
  return out;
}

}  // namespace mmengine
