// Tensor: a contiguous array of float32/float64 (or bfloat16 activations, engine/dtype.h) on
// the CPU or a CUDA device, with shared ownership of its storage, plus the autograd fields
// (requires_grad, grad, the node that made it). Copies of a Tensor share the same data; clone()
// copies the data.
#pragma once
#include <memory>
#include <vector>

#include "engine/dtype.h"
#include "kernels/error.h"

namespace mmengine {

struct Node;
class Tensor;

struct TensorImpl {
  std::shared_ptr<void> storage;
  Shape shape;
  DType dtype = DType::F32;
  Device device = Device::CPU;
  bool requires_grad = false;
  std::shared_ptr<TensorImpl> grad;  // accumulated gradient of a leaf
  std::shared_ptr<Node> grad_fn;     // the op that produced this tensor (null for leaves)
  bool graph_freed = false;          // a backward already consumed (and released) grad_fn
};

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // Factories. empty() leaves memory uninitialized.
  static Tensor empty(const Shape& shape, DType dtype = DType::F32, Device device = Device::CPU);
  static Tensor zeros(const Shape& shape, DType dtype = DType::F32, Device device = Device::CPU);
  static Tensor full(const Shape& shape, double value, DType dtype = DType::F32, Device device = Device::CPU);
  static Tensor from_vector(const std::vector<double>& values, const Shape& shape,
                            DType dtype = DType::F32, Device device = Device::CPU);
  static Tensor scalar(double value, DType dtype = DType::F32, Device device = Device::CPU);

  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const { return impl().shape; }
  int64_t dim() const { return static_cast<int64_t>(impl().shape.size()); }
  int64_t size(int64_t d) const;
  int64_t numel() const { return shape_numel(impl().shape); }
  DType dtype() const { return impl().dtype; }
  Device device() const { return impl().device; }
  size_t nbytes() const { return numel() * dtype_size(dtype()); }

  void* raw() const { return impl().storage.get(); }
  template <typename T>
  T* data() const;

  // Copies (never share storage with the source).
  Tensor to(Device d) const;
  Tensor to(DType t) const;
  Tensor clone() const;
  std::vector<double> to_vector() const;  // values as double, in order
  double item() const;                    // the single element of a 1-element tensor
  void copy_from(const Tensor& src);      // same shape/dtype; any devices; no autograd
  void fill_(double value);               // in place, no autograd
  void poison_();                         // fills with NaN (bytes 0xFF), for tests

  // Autograd.
  bool requires_grad() const { return impl().requires_grad; }
  Tensor& set_requires_grad(bool r);
  Tensor grad() const;  // undefined until a backward reached this leaf
  void zero_grad();     // drops the accumulated gradient
  Tensor detach() const;  // shares data, no history
  const std::shared_ptr<Node>& grad_fn() const { return impl().grad_fn; }
  void backward() const;  // from a one-element tensor

  TensorImpl& impl() const {
    MM_CHECK(impl_, "use of an undefined tensor");
    return *impl_;
  }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }
  bool same(const Tensor& o) const { return impl_ == o.impl_; }

 private:
  std::shared_ptr<TensorImpl> impl_;
};

std::string describe(const Tensor& t);  // "float32[2, 3] on cpu"

// Test aid: while on, every new uninitialized tensor (Tensor::empty, hence every kernel
// output) is filled with NaN first, so an element a kernel forgets to write shows up.
void set_poison_new_tensors(bool on);
bool poison_new_tensors();

}  // namespace mmengine
