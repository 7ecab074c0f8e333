#include "mixmatch/dist_train.h"

#include <cmath>
#include <sstream>

namespace mmengine {

namespace {
void fnv1a(uint64_t& h, const void* data, size_t n) {
  const auto* p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 1099511628211ull;
  }
}
void hash_tensor(uint64_t& h, const Tensor& t) {
  const Tensor host = t.device() == Device::CPU ? t : t.to(Device::CPU);
  fnv1a(h, host.raw(), host.nbytes());
}
}  // namespace

uint64_t training_state_checksum(const std::vector<Module*>& models, const Adam& adam) {
  uint64_t h = 14695981039346656037ull;
  for (Module* m : models) {
    for (auto& [name, t] : m->named_state()) hash_tensor(h, *t);
    for (auto& c : m->named_counters()) fnv1a(h, c.value, sizeof(*c.value));
  }
  for (auto& [name, t] : adam.state()) hash_tensor(h, t);
  const int64_t steps = adam.steps();
  fnv1a(h, &steps, sizeof(steps));
  return h;
}

void check_ranks_agree(Communicator& comm, uint64_t checksum, int64_t step) {
  if (comm.size() == 1) return;
  const std::vector<uint64_t> all = comm.all_gather_u64(checksum);
  std::ostringstream differ;
  for (int r = 1; r < comm.size(); ++r)
    if (all[r] != all[0]) differ << (differ.tellp() > 0 ? ", " : "") << r;
  MM_CHECK(differ.tellp() == 0, "data parallel: after step ", step, " the parameters, EMA or Adam state of rank(s) ",
           differ.str(), " differ from rank 0's (checksums of the training state); every rank must apply the same "
           "update, so the run stops here");
}

EvalResult evaluate_across_ranks(Communicator& comm, Module& model, const ImageDataset& data,
                                 const std::vector<int64_t>& indices, Device device, int64_t batch,
                                 EvalGraphs* graphs, EvalImages* images) {
  if (comm.size() == 1) return evaluate(model, data, indices, device, batch, graphs, images);
  MM_CHECK(!graphs, "--graph on: not with data parallel");
  std::vector<int64_t> mine;
  for (size_t i = comm.rank(); i < indices.size(); i += comm.size()) mine.push_back(indices[i]);
  const EvalResult r = evaluate(model, data, mine, device, batch, nullptr, images);
  std::vector<double> sums{r.loss * r.count, std::round(r.accuracy * r.count / 100.0), static_cast<double>(r.count)};
  comm.all_reduce_sum_host(sums);
  EvalResult all;
  all.count = static_cast<int64_t>(sums[2]);
  if (all.count > 0) {
    all.loss = sums[0] / all.count;
    all.accuracy = 100.0 * sums[1] / all.count;
  }
  return all;
}

uint64_t any_rank(Communicator& comm, uint64_t flags) {
  if (comm.size() == 1) return flags;
  uint64_t all = 0;
  for (uint64_t f : comm.all_gather_u64(flags)) all |= f;
  return all;
}

}  // namespace mmengine
