// The NCCL backend (engine/dist.h): NCCL collectives of CUDA tensors on the context stream
// (engine/cuda/context.h), ordered with the kernels around them;
// CPU tensors and host control values go through the MPI backend (or are the identity on one
// rank). Each rank binds GPU local_rank % device count. The communicator's unique id is made by
// rank 0 and broadcast over MPI; a one-rank run (`mmengine train --dist nccl` without mpirun)
// needs no MPI. The communicator is nonblocking (config.blocking = 0): creation and every
// collective are polled against the collective timeout, and on expiry the communicator is
// aborted (ncclCommAbort) and every rank ends.
#include <cuda_runtime.h>
#include <nccl.h>

#include <chrono>
#include <cstdio>
#include <thread>

#include "engine/cuda/context.h"
#include "engine/dist.h"
#include "kernels/cuda/check.h"

#define MM_NCCL_CHECK(expr)                                                                                   \
  do {                                                                                                        \
    const ncclResult_t mm_nccl_st_ = (expr);                                                                  \
    if (mm_nccl_st_ != ncclSuccess && mm_nccl_st_ != ncclInProgress)                                          \
      ::mmengine::throw_error(__FILE__, __LINE__, std::string("call failed: ") + #expr + ": NCCL: " +         \
                                                      ncclGetErrorString(mm_nccl_st_));                       \
  } while (0)

namespace mmengine {

namespace {
ncclDataType_t nccl_type(DType t) {
  MM_CHECK(t != DType::BF16, "nccl: collectives carry float32/float64 (gradients and statistics), not bfloat16");
  return t == DType::F32 ? ncclFloat32 : ncclFloat64;
}

class NcclComm : public Communicator {
 public:
  explicit NcclComm(double timeout_s) {
    timeout_s_ = timeout_s;
#ifdef MMENGINE_WITH_MPI
    host_ = launched_by_mpi() ? make_mpi_communicator(timeout_s) : single_rank_communicator();
#else
    MM_CHECK(!launched_by_mpi(), "--dist nccl: started by an MPI launcher, but this build has no MPI to bootstrap "
                                 "NCCL (install libopenmpi-dev and reconfigure), or run one rank without mpirun");
    host_ = single_rank_communicator();
#endif
    rank_ = host_->rank();
    size_ = host_->size();
    local_rank_ = host_->local_rank();
    int devices = 0;
    MM_CUDA_CHECK(cudaGetDeviceCount(&devices));
    MM_CHECK(devices > 0, "--dist nccl: no CUDA device");
    MM_CUDA_CHECK(cudaSetDevice(local_rank_ % devices));
    ncclUniqueId id;
    if (rank_ == 0) MM_NCCL_CHECK(ncclGetUniqueId(&id));
    host_->broadcast_bytes(&id, sizeof(id), 0);
    ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
    config.blocking = 0;
    MM_NCCL_CHECK(ncclCommInitRankConfig(&comm_, size_, id, rank_, &config));
    settle("communicator creation");
  }
  ~NcclComm() override {
    if (comm_) ncclCommDestroy(comm_);  // at exit: a failure has no one left to report to
  }
  DistBackend backend() const override { return DistBackend::Nccl; }

  void all_reduce_sum(Tensor& t) override {
    if (t.device() == Device::CPU) return host_->all_reduce_sum(t);
    MM_NCCL_CHECK(ncclAllReduce(t.raw(), t.raw(), t.numel(), nccl_type(t.dtype()), ncclSum, comm_, cuda_stream()));
    finish("all-reduce");
  }
  Tensor all_gather_rows(const Tensor& local) override {
    if (local.device() == Device::CPU) return host_->all_gather_rows(local);
    Shape s = local.shape();
    s[0] *= size_;
    Tensor out = Tensor::empty(s, local.dtype(), local.device());
    MM_NCCL_CHECK(ncclAllGather(local.raw(), out.raw(), local.numel(), nccl_type(local.dtype()), comm_, cuda_stream()));
    finish("all-gather");
    return out;
  }
  void broadcast(Tensor& t, int root) override {
    if (t.device() == Device::CPU) return host_->broadcast(t, root);
    MM_NCCL_CHECK(ncclBroadcast(t.raw(), t.raw(), t.numel(), nccl_type(t.dtype()), root, comm_, cuda_stream()));
    finish("broadcast");
  }
  std::vector<uint64_t> all_gather_u64(uint64_t v) override { return host_->all_gather_u64(v); }
  void all_reduce_sum_host(std::vector<double>& v) override { host_->all_reduce_sum_host(v); }
  void broadcast_bytes(void* data, size_t n, int root) override { host_->broadcast_bytes(data, n, root); }

 private:
  using Clock = std::chrono::steady_clock;

  // Nonblocking communicator: the call returned ncclInProgress until the state settles.
  void settle(const char* what) {
    const auto t0 = Clock::now();
    for (;;) {
      ncclResult_t st = ncclInProgress;
      MM_NCCL_CHECK(ncclCommGetAsyncError(comm_, &st));
      if (st == ncclSuccess) return;
      MM_CHECK(st == ncclInProgress, "NCCL ", what, " failed on rank ", rank_, ": ", ncclGetErrorString(st));
      check_deadline(t0, what);
      std::this_thread::yield();
    }
  }
  // Waits for the collective on the context stream, with the deadline (a host wait, counted:
  // the deadline is how a stopped peer is detected). It spins (yielding) for the first 200 us
  // and sleeps only after: a collective within a node completes in tens of microseconds, and a
  // 20 us sleep lasts the kernel's timer slack (~50-80 us). Measured on an H100 with the
  // sleep from the start: 53 us per added collective of a step, 89 us per sync-BN all-gather.
  void finish(const char* what) {
    settle(what);
    note_host_sync();
    const cudaStream_t stream = cuda_stream();
    const auto t0 = Clock::now();
    for (;;) {
      const cudaError_t q = cudaStreamQuery(stream);
      if (q == cudaSuccess) return;
      if (q != cudaErrorNotReady) MM_CUDA_CHECK(q);
      ncclResult_t st = ncclSuccess;
      MM_NCCL_CHECK(ncclCommGetAsyncError(comm_, &st));
      MM_CHECK(st == ncclSuccess || st == ncclInProgress, "NCCL ", what, " failed on rank ", rank_, ": ",
               ncclGetErrorString(st));
      check_deadline(t0, what);
      if (Clock::now() - t0 < std::chrono::microseconds(200)) std::this_thread::yield();
      else std::this_thread::sleep_for(std::chrono::microseconds(20));
    }
  }
  void check_deadline(Clock::time_point t0, const char* what) {
    if (std::chrono::duration<double>(Clock::now() - t0).count() <= timeout_s_) return;
    std::fprintf(stderr,
                 "mmengine: error: rank %d: NCCL %s did not complete within --collective-timeout %g s: a peer rank did "
                 "not arrive (stopped, hung or dead); aborting the communicator and ending every rank\n",
                 rank_, what, timeout_s_);
    std::fflush(stderr);
    ncclCommAbort(comm_);  // the job is ending: its status has no one to go to
    comm_ = nullptr;
    abort_other_ranks_on_error(3);
    std::exit(3);
  }

  std::shared_ptr<Communicator> host_;
  ncclComm_t comm_ = nullptr;
};
}  // namespace

std::shared_ptr<Communicator> make_nccl_communicator(double timeout_s) { return std::make_shared<NcclComm>(timeout_s); }

}  // namespace mmengine
