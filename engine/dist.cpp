// The backend table, the one-rank backend and the choice of backend (engine/dist.h).
#include "engine/dist.h"

#include <cstdlib>
#include <mutex>
#include <utility>

#include "engine/enum_table.h"
#include "kernels/error.h"

namespace mmengine {

namespace {
constexpr EnumEntry<DistBackend> kBackends[] = {
    {DistBackend::Auto, "auto", "mpi or nccl when started by mpirun / srun, else none"},
    {DistBackend::None, "none", "one process"},
    {DistBackend::Mpi, "mpi", "MPI collectives (CPU tensors; CUDA tensors through the host)"},
    {DistBackend::Nccl, "nccl", "NCCL collectives of CUDA tensors, MPI to start the ranks"}};

// One rank: every collective is the identity.
class SingleRank : public Communicator {
 public:
  DistBackend backend() const override { return DistBackend::None; }
  void all_reduce_sum(Tensor&) override {}
  Tensor all_gather_rows(const Tensor& local) override { return local; }
  void broadcast(Tensor&, int) override {}
  std::vector<uint64_t> all_gather_u64(uint64_t v) override { return {v}; }
  void all_reduce_sum_host(std::vector<double>&) override {}
  void broadcast_bytes(void*, size_t, int) override {}
};

const char* cmake_option(DistBackend b) {
  return b == DistBackend::Mpi ? "install libopenmpi-dev and configure with -DMMENGINE_MPI=AUTO"
                               : "configure a CUDA build with NCCL (-DMMENGINE_NCCL=AUTO, NCCL from the CUDA toolkit)";
}
}  // namespace

CountingCommunicator::CountingCommunicator(std::shared_ptr<Communicator> inner) : inner_(std::move(inner)) {
  MM_CHECK(inner_, "CountingCommunicator: no communicator to count");
  rank_ = inner_->rank();
  size_ = inner_->size();
  local_rank_ = inner_->local_rank();
  timeout_s_ = inner_->timeout_s();
}
void CountingCommunicator::all_reduce_sum(Tensor& t) {
  ++all_reduces;
  bytes += static_cast<double>(t.nbytes());
  inner_->all_reduce_sum(t);
}
Tensor CountingCommunicator::all_gather_rows(const Tensor& local) {
  ++all_gathers;
  bytes += static_cast<double>(local.nbytes());
  return inner_->all_gather_rows(local);
}
void CountingCommunicator::broadcast(Tensor& t, int root) {
  ++broadcasts;
  bytes += static_cast<double>(t.nbytes());
  inner_->broadcast(t, root);
}

const char* dist_backend_name(DistBackend b) { return enum_name(kBackends, b); }

DistBackend parse_dist_backend(const std::string& s) { return enum_parse(kBackends, "--dist", s); }

std::string dist_backend_help() { return enum_help(kBackends); }

bool dist_backend_built(DistBackend b) {
  switch (b) {
    case DistBackend::Mpi:
#ifdef MMENGINE_WITH_MPI
      return true;
#else
      return false;
#endif
    case DistBackend::Nccl:
#ifdef MMENGINE_WITH_NCCL
      return true;
#else
      return false;
#endif
    default:
      return true;
  }
}

bool launched_by_mpi() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "MV2_COMM_WORLD_SIZE"})
    if (std::getenv(v)) return true;
  return false;
}

DistBackend resolve_dist_backend(DistBackend requested, Device device) {
  DistBackend b = requested;
  if (b == DistBackend::Auto) {
    if (!launched_by_mpi()) return DistBackend::None;
    b = device == Device::CUDA && dist_backend_built(DistBackend::Nccl) ? DistBackend::Nccl : DistBackend::Mpi;
  }
  MM_CHECK(dist_backend_built(b), "--dist ", dist_backend_name(b), ": this build has no ", dist_backend_name(b),
           requested == DistBackend::Auto ? " (the process was started by an MPI launcher)" : "", "; ", cmake_option(b));
  MM_CHECK(b != DistBackend::Nccl || device == Device::CUDA,
           "--dist nccl: NCCL reduces CUDA tensors, but the training runs on the CPU (use --device cuda, or --dist mpi)");
  return b;
}

std::shared_ptr<Communicator> single_rank_communicator() { return std::make_shared<SingleRank>(); }

std::shared_ptr<Communicator> make_communicator(const DistOptions& o) {
  MM_CHECK(o.collective_timeout_s > 0, "--collective-timeout: must be positive seconds, got ", o.collective_timeout_s);
  const DistBackend b = resolve_dist_backend(o.backend, o.device);
  static std::mutex m;
  static std::shared_ptr<Communicator> made;
  std::lock_guard<std::mutex> lock(m);
  if (made) {
    MM_CHECK(made->backend() == b, "--dist ", dist_backend_name(b), ": this process already has a ",
             dist_backend_name(made->backend()), " communicator");
    return made;
  }
  switch (b) {
#ifdef MMENGINE_WITH_MPI
    case DistBackend::Mpi:
      made = make_mpi_communicator(o.collective_timeout_s);
      break;
#endif
#ifdef MMENGINE_WITH_NCCL
    case DistBackend::Nccl:
      made = make_nccl_communicator(o.collective_timeout_s);
      break;
#endif
    default:
      made = single_rank_communicator();
  }
  return made;
}

void abort_other_ranks_on_error(int exit_code) {
#ifdef MMENGINE_WITH_MPI
  mpi_abort_if_multi_rank(exit_code);
#else
  (void)exit_code;
#endif
}

}  // namespace mmengine
