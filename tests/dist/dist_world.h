// The communicator of the running mmengine_dist_tests job (every rank of `mpirun -np N`).
#pragma once
#include "engine/dist.h"

namespace mmengine::testing {
Communicator& world();
}  // namespace mmengine::testing
