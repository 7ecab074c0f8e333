// Data-parallel communication: one Communicator per process, spanning every rank of the job.
// Backends: "none" (one rank, every collective the identity; always built), "mpi" (MPI
// collectives of CPU tensors; CUDA tensors are staged through the host; built when CMake finds
// MPI) and "nccl" (NCCL collectives of CUDA tensors, CPU tensors and control values over MPI;
// built when CMake finds NCCL and real CUDA). Contract:
// - Every rank makes the same collective calls in the same order (the data-parallel step does).
// - Results are identical on every rank (each element is reduced once and distributed, or
//   reduced in the same order everywhere): parameters updated from them stay bit-identical.
// - No collective waits forever: a peer that does not arrive within the collective timeout
//   ends every surviving rank with an error naming the rank(s) that did not arrive
//   (MPI: nonblocking collectives polled against a deadline, then an arrival probe and
//   MPI_Abort; NCCL: nonblocking communicator polled, then ncclCommAbort).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace mmengine {

enum class DistBackend { Auto, None, Mpi, Nccl };
// One table (engine/enum_table.h): name, parse (errors name --dist), help text.
const char* dist_backend_name(DistBackend b);
DistBackend parse_dist_backend(const std::string& s);
std::string dist_backend_help();
// Whether this build has the backend (none: always).
bool dist_backend_built(DistBackend b);

class Communicator {
 public:
  virtual ~Communicator() = default;
  int rank() const { return rank_; }
  int size() const { return size_; }
  int local_rank() const { return local_rank_; }  // rank among the processes of this host
  virtual DistBackend backend() const = 0;
  double timeout_s() const { return timeout_s_; }

  // Tensors (any dtype; the backend says which devices): in place, the sum over ranks.
  virtual void all_reduce_sum(Tensor& t) = 0;
  // local [rows, ...] from every rank -> [size * rows, ...] in rank order (equal rows everywhere).
  virtual Tensor all_gather_rows(const Tensor& local) = 0;
  virtual void broadcast(Tensor& t, int root) = 0;
  // Host control values (flags, checksums, evaluation counts).
  virtual std::vector<uint64_t> all_gather_u64(uint64_t v) = 0;
  virtual void all_reduce_sum_host(std::vector<double>& v) = 0;
  virtual void broadcast_bytes(void* data, size_t n, int root) = 0;

 protected:
  int rank_ = 0, size_ = 1, local_rank_ = 0;
  double timeout_s_ = 0;
};

// Another communicator, its tensor collectives counted (mmengine bench --ranks, tests): every
// call is forwarded; rank and size are the other's.
class CountingCommunicator : public Communicator {
 public:
  explicit CountingCommunicator(std::shared_ptr<Communicator> inner);
  DistBackend backend() const override { return inner_->backend(); }
  void all_reduce_sum(Tensor& t) override;
  Tensor all_gather_rows(const Tensor& local) override;
  void broadcast(Tensor& t, int root) override;
  std::vector<uint64_t> all_gather_u64(uint64_t v) override { return inner_->all_gather_u64(v); }
  void all_reduce_sum_host(std::vector<double>& v) override { inner_->all_reduce_sum_host(v); }
  void broadcast_bytes(void* data, size_t n, int root) override { inner_->broadcast_bytes(data, n, root); }
  int64_t all_reduces = 0, all_gathers = 0, broadcasts = 0;
  double bytes = 0;  // of the tensors sent into those collectives

 private:
  std::shared_ptr<Communicator> inner_;
};

struct DistOptions {
  DistBackend backend = DistBackend::Auto;
  double collective_timeout_s = 300;
  Device device = Device::CPU;  // where the training tensors live (auto picks nccl for CUDA)
};

// True when an MPI launcher (mpirun / srun with PMI) started this process.
bool launched_by_mpi();
// auto: none unless launched by an MPI launcher; then nccl for CUDA tensors when built, else
// mpi. The error for a backend this build lacks names --dist and the CMake option.
DistBackend resolve_dist_backend(DistBackend requested, Device device);
// The process's communicator (created once; later calls must ask for the same backend).
std::shared_ptr<Communicator> make_communicator(const DistOptions& o);
// A one-rank communicator (the "none" backend), e.g. to run a rank's shard alone.
std::shared_ptr<Communicator> single_rank_communicator();
// After an error on one rank of a multi-rank MPI job: ends every rank (MPI_Abort), since the
// others would wait in their next collective. Does nothing in a one-rank run.
void abort_other_ranks_on_error(int exit_code);

// Backends, defined in engine/mpi/ and engine/nccl/ when built.
std::shared_ptr<Communicator> make_mpi_communicator(double timeout_s);
std::shared_ptr<Communicator> make_nccl_communicator(double timeout_s);
void mpi_abort_if_multi_rank(int exit_code);

}  // namespace mmengine
