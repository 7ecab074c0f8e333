// The MPI backend (engine/dist.h): MPI collectives of CPU tensors (CUDA tensors staged through
// the host) and of host control values. Every collective is nonblocking and polled against the
// collective timeout; while polling, a rank answers arrival probes on a second communicator,
// so a rank that times out can name the peers that neither arrived nor answered (a stopped or
// hung process) before it ends the job with MPI_Abort.
#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdio>
#include <map>
#include <sstream>
#include <thread>

#include "engine/dist.h"
#include "engine/mpi/mpi_check.h"

namespace mmengine {

namespace {
constexpr int kProbeTag = 71, kReplyTag = 72;

// MPI is initialized once per process and finalized at exit.
void ensure_mpi_initialized() {
  int ready = 0;
  MM_MPI_CHECK(MPI_Initialized(&ready));
  if (ready) return;
  int provided = 0;
  MM_MPI_CHECK(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided));
  std::atexit([] {
    int done = 0;
    MPI_Finalized(&done);
    if (!done) MPI_Finalize();
  });
}

MPI_Datatype mpi_type(DType t) {
  MM_CHECK(t != DType::BF16, "mpi: collectives carry float32/float64 (gradients and statistics), not bfloat16");
  return t == DType::F32 ? MPI_FLOAT : MPI_DOUBLE;
}

int mpi_count(int64_t n, const char* what) {
  MM_CHECK(n >= 0 && n <= INT_MAX, "MPI ", what, ": ", n, " elements, more than one MPI call takes (2^31 - 1)");
  return static_cast<int>(n);
}

std::string rank_list(const std::vector<int>& r) {
  std::ostringstream s;
  for (size_t i = 0; i < r.size(); ++i) s << (i ? ", " : "") << r[i];
  return s.str();
}

class MpiComm : public Communicator {
 public:
  explicit MpiComm(double timeout_s) {
    timeout_s_ = timeout_s;
    ensure_mpi_initialized();
    MM_MPI_CHECK(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN));
    MM_MPI_CHECK(MPI_Comm_dup(MPI_COMM_WORLD, &data_));
    MM_MPI_CHECK(MPI_Comm_dup(MPI_COMM_WORLD, &ctrl_));
    MM_MPI_CHECK(MPI_Comm_rank(data_, &rank_));
    MM_MPI_CHECK(MPI_Comm_size(data_, &size_));
    MPI_Comm node;
    MM_MPI_CHECK(MPI_Comm_split_type(data_, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &node));
    MM_MPI_CHECK(MPI_Comm_rank(node, &local_rank_));
    MM_MPI_CHECK(MPI_Comm_free(&node));
  }
  // The communicators are released by MPI_Finalize at exit.
  DistBackend backend() const override { return DistBackend::Mpi; }

  void all_reduce_sum(Tensor& t) override {
    Tensor host = t.device() == Device::CPU ? t : t.to(Device::CPU);
    MPI_Request r;
    MM_MPI_CHECK(MPI_Iallreduce(MPI_IN_PLACE, host.raw(), mpi_count(t.numel(), "all-reduce"), mpi_type(t.dtype()),
                                MPI_SUM, data_, &r));
    wait(r, "all-reduce");
    if (t.device() != Device::CPU) t.copy_from(host);
  }

  Tensor all_gather_rows(const Tensor& local) override {
    MM_CHECK(local.dim() >= 1, "all_gather_rows: needs rows, got ", describe(local));
    Tensor host = local.device() == Device::CPU ? local : local.to(Device::CPU);
    Shape s = local.shape();
    s[0] *= size_;
    Tensor out = Tensor::empty(s, local.dtype(), Device::CPU);
    const int n = mpi_count(local.numel(), "all-gather");
    MPI_Request r;
    MM_MPI_CHECK(MPI_Iallgather(host.raw(), n, mpi_type(local.dtype()), out.raw(), n, mpi_type(local.dtype()), data_, &r));
    wait(r, "all-gather");
    return local.device() == Device::CPU ? out : out.to(local.device());
  }

  void broadcast(Tensor& t, int root) override {
    Tensor host = t.device() == Device::CPU ? t : t.to(Device::CPU);
    broadcast_bytes(host.raw(), host.nbytes(), root);
    if (t.device() != Device::CPU) t.copy_from(host);
  }

  std::vector<uint64_t> all_gather_u64(uint64_t v) override {
    std::vector<uint64_t> all(size_);
    MPI_Request r;
    MM_MPI_CHECK(MPI_Iallgather(&v, 1, MPI_UINT64_T, all.data(), 1, MPI_UINT64_T, data_, &r));
    wait(r, "all-gather of control values");
    return all;
  }

  void all_reduce_sum_host(std::vector<double>& v) override {
    MPI_Request r;
    MM_MPI_CHECK(MPI_Iallreduce(MPI_IN_PLACE, v.data(), mpi_count(static_cast<int64_t>(v.size()), "all-reduce"),
                                MPI_DOUBLE, MPI_SUM, data_, &r));
    wait(r, "all-reduce of control values");
  }

  void broadcast_bytes(void* data, size_t n, int root) override {
    MPI_Request r;
    MM_MPI_CHECK(MPI_Ibcast(data, mpi_count(static_cast<int64_t>(n), "broadcast"), MPI_BYTE, root, data_, &r));
    wait(r, "broadcast");
  }

 private:
  using Clock = std::chrono::steady_clock;
  double seconds_since(Clock::time_point t) const { return std::chrono::duration<double>(Clock::now() - t).count(); }

  // Polls the request; short yields first (collectives of a step follow each other closely),
  // then sleeps, so waiting ranks leave the cores to the ones still computing.
  void wait(MPI_Request& r, const char* what) {
    ++seq_;
    const auto t0 = Clock::now();
    for (int polls = 0;; ++polls) {
      int done = 0;
      MM_MPI_CHECK(MPI_Test(&r, &done, MPI_STATUS_IGNORE));
      if (done) return;
      answer_probes();
      if (seconds_since(t0) > timeout_s_) timed_out(what);
      if (polls < 200)
        std::this_thread::yield();
      else
        std::this_thread::sleep_for(std::chrono::microseconds(polls < 2000 ? 20 : 500));
    }
  }

  // A peer that timed out asks where this rank is: reply with the collective number.
  void answer_probes() {
    for (;;) {
      int flag = 0;
      MPI_Status st;
      MM_MPI_CHECK(MPI_Iprobe(MPI_ANY_SOURCE, kProbeTag, ctrl_, &flag, &st));
      if (!flag) return;
      uint64_t theirs = 0;
      MM_MPI_CHECK(MPI_Recv(&theirs, 1, MPI_UINT64_T, st.MPI_SOURCE, kProbeTag, ctrl_, MPI_STATUS_IGNORE));
      MM_MPI_CHECK(MPI_Send(&seq_, 1, MPI_UINT64_T, st.MPI_SOURCE, kReplyTag, ctrl_));
    }
  }

  // Probes every peer, waits a short grace period for answers, names the silent ones and ends
  // the job: a collective that cannot complete cannot be cancelled, and MPI_Finalize would wait.
  [[noreturn]] void timed_out(const char* what) {
    std::vector<MPI_Request> sends;
    for (int q = 0; q < size_; ++q) {
      if (q == rank_) continue;
      sends.emplace_back();
      MPI_Isend(&seq_, 1, MPI_UINT64_T, q, kProbeTag, ctrl_, &sends.back());
    }
    std::map<int, uint64_t> answers;
    const double grace = std::min(5.0, std::max(1.0, timeout_s_ / 2));
    const auto t0 = Clock::now();
    while (static_cast<int>(answers.size()) < size_ - 1 && seconds_since(t0) < grace) {
      answer_probes();
      int flag = 0;
      MPI_Status st;
      MPI_Iprobe(MPI_ANY_SOURCE, kReplyTag, ctrl_, &flag, &st);
      if (flag) {
        uint64_t s = 0;
        MPI_Recv(&s, 1, MPI_UINT64_T, st.MPI_SOURCE, kReplyTag, ctrl_, MPI_STATUS_IGNORE);
        answers[st.MPI_SOURCE] = s;
      } else {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
    }
    std::vector<int> silent, elsewhere;
    for (int q = 0; q < size_; ++q) {
      if (q == rank_) continue;
      auto it = answers.find(q);
      if (it == answers.end())
        silent.push_back(q);
      else if (it->second != seq_)
        elsewhere.push_back(q);
    }
    std::ostringstream m;
    m << "rank " << rank_ << ": collective #" << seq_ << " (" << what << ") did not complete within --collective-timeout "
      << timeout_s_ << " s";
    if (!silent.empty())
      m << "; rank(s) " << rank_list(silent) << " did not arrive and did not answer a probe within " << grace
        << " s (stopped, hung or dead)";
    if (!elsewhere.empty()) m << "; rank(s) " << rank_list(elsewhere) << " answered from another collective";
    if (silent.empty() && elsewhere.empty()) m << "; every rank answered (a slow network or an MPI fault)";
    m << "; ending every rank";
    std::fprintf(stderr, "mmengine: error: %s\n", m.str().c_str());
    std::fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, 3);
    std::abort();  // MPI_Abort does not return
  }

  MPI_Comm data_ = MPI_COMM_NULL, ctrl_ = MPI_COMM_NULL;
  uint64_t seq_ = 0;  // collectives started by this rank
};
}  // namespace

std::shared_ptr<Communicator> make_mpi_communicator(double timeout_s) { return std::make_shared<MpiComm>(timeout_s); }

void mpi_abort_if_multi_rank(int exit_code) {
  int ready = 0, done = 0, size = 1;
  if (MPI_Initialized(&ready) != MPI_SUCCESS || !ready) return;
  if (MPI_Finalized(&done) != MPI_SUCCESS || done) return;
  if (MPI_Comm_size(MPI_COMM_WORLD, &size) != MPI_SUCCESS || size <= 1) return;
  std::fflush(stdout);
  std::fflush(stderr);
  MPI_Abort(MPI_COMM_WORLD, exit_code);
}

}  // namespace mmengine
