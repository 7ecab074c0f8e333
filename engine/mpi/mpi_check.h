// MM_MPI_CHECK(call): the one status check of every MPI call; a failure throws mmengine::Error
// naming the call and MPI's own error text. The communicators set MPI_ERRORS_RETURN, so calls
// return their status instead of aborting inside the library.
#pragma once
#include <mpi.h>

#include <string>

#include "kernels/error.h"

namespace mmengine {
inline std::string mpi_error_text(int code) {
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  if (MPI_Error_string(code, text, &len) != MPI_SUCCESS) return "MPI error " + std::to_string(code);
  return std::string(text, len);
}
}  // namespace mmengine

#define MM_MPI_CHECK(expr)                                                                                      \
  do {                                                                                                          \
    const int mm_mpi_st_ = (expr);                                                                              \
    if (mm_mpi_st_ != MPI_SUCCESS)                                                                              \
      ::mmengine::throw_error(__FILE__, __LINE__,                                                               \
                              std::string("call failed: ") + #expr + ": MPI: " + ::mmengine::mpi_error_text(mm_mpi_st_)); \
  } while (0)
