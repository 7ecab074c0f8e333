#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace mmengine {

enum class DType { F32, F64 };
enum class Device { CPU, CUDA };

inline size_t dtype_size(DType t) { return t == DType::F32 ? 4 : 8; }
inline const char* dtype_name(DType t) { return t == DType::F32 ? "float32" : "float64"; }
// The emulated device (MMENGINE_CUDA=EMULATED) says so wherever a device name is printed.
#ifdef MMENGINE_CUDA_EMULATED
inline const char* device_name(Device d) { return d == Device::CPU ? "cpu" : "cuda (emulated)"; }
#else
inline const char* device_name(Device d) { return d == Device::CPU ? "cpu" : "cuda"; }
#endif

using Shape = std::vector<int64_t>;
std::string shape_str(const Shape& s);
int64_t shape_numel(const Shape& s);

}  // namespace mmengine

// MM_DISPATCH_FLOAT(dtype, T, body): runs body with T = float or double.
#define MM_DISPATCH_FLOAT(dtype, T, ...)        \
  do {                                          \
    if ((dtype) == ::mmengine::DType::F32) {    \
      using T = float;                          \
      __VA_ARGS__;                              \
    } else {                                    \
      using T = double;                         \
      __VA_ARGS__;                              \
    }                                           \
  } while (0)
