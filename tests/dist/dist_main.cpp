// The main of mmengine_dist_tests, which ctest runs as `mpirun -np 2`: every rank runs every
// test; the MPI communicator is created once (MPI cannot be initialized twice) and shared.
#include <gtest/gtest.h>

#include "tests/dist/dist_world.h"

namespace mmengine::testing {
Communicator& world() {
  static std::shared_ptr<Communicator> comm = [] {
    DistOptions o;
    o.backend = DistBackend::Mpi;
    o.collective_timeout_s = 120;  // a test that desynchronizes the ranks ends the job
    return make_communicator(o);
  }();
  return *comm;
}
}  // namespace mmengine::testing

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  auto& w = mmengine::testing::world();
  const int failed = RUN_ALL_TESTS();
  // Every rank's verdict: a test that failed on one rank fails the job.
  std::vector<double> any{static_cast<double>(failed != 0)};
  w.all_reduce_sum_host(any);
  if (w.rank() == 0) std::printf("mmengine_dist_tests: %d of %d rank(s) failed\n", static_cast<int>(any[0]), w.size());
  return any[0] > 0 ? 1 : 0;
}
