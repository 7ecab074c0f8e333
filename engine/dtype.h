#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace mmengine {

// BF16 (kernels/bf16.h) is a storage type for activations under `--precision bf16`: only the
// ops of that path take it (casts, add, the implicit-GEMM convolution, the fused BatchNorm
// kernels); MM_DISPATCH_FLOAT refuses it everywhere else.
enum class DType { F32, F64, BF16 };
enum class Device { CPU, CUDA };

inline size_t dtype_size(DType t) { return t == DType::F32 ? 4 : t == DType::F64 ? 8 : 2; }
inline const char* dtype_name(DType t) { return t == DType::F32 ? "float32" : t == DType::F64 ? "float64" : "bfloat16"; }
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

namespace mmengine {
[[noreturn]] void fail_no_bf16_kernel();  // engine/tensor.cpp: the error of MM_DISPATCH_FLOAT on bf16
}

// MM_DISPATCH_FLOAT(dtype, T, body): runs body with T = float or double (bfloat16: an error).
#define MM_DISPATCH_FLOAT(dtype, T, ...)             \
  do {                                               \
    if ((dtype) == ::mmengine::DType::F32) {         \
      using T = float;                               \
      __VA_ARGS__;                                   \
    } else if ((dtype) == ::mmengine::DType::F64) {  \
      using T = double;                              \
      __VA_ARGS__;                                   \
    } else {                                         \
      ::mmengine::fail_no_bf16_kernel();             \
    }                                                \
  } while (0)

// MM_DISPATCH_STORAGE(dtype, T, body): the same with T = kernels::bf16 for bfloat16 (include
// kernels/bf16.h), for the ops that have bf16 kernels.
#define MM_DISPATCH_STORAGE(dtype, T, ...)           \
  do {                                               \
    if ((dtype) == ::mmengine::DType::BF16) {        \
      using T = ::mmengine::kernels::bf16;           \
      __VA_ARGS__;                                   \
    } else {                                         \
      MM_DISPATCH_FLOAT(dtype, T, __VA_ARGS__);      \
    }                                                \
  } while (0)
