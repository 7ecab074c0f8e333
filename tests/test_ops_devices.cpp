// Every registered case (ops, layers, loss) on CUDA against the CPU reference: forward outputs
// and input gradients, float32 and float64, small and multi-block shapes, NaN-poisoned outputs.
#include <algorithm>

#include "engine/adam.h"
#include "engine/autograd.h"
#include "engine/dispatch.h"
#include "engine/memory.h"
#include "kernels/optim.h"
#include "engine/ops.h"
#include "engine/rng.h"
#include "tests/test_util.h"
#include "tools/grad_cases.h"
#ifdef MMENGINE_WITH_CUDA
#include "kernels/gemm.h"
#endif

using namespace mmengine;
using namespace mmengine::testing;

namespace {
struct CaseRun {
  Tensor out;
  std::vector<Tensor> grads;
};

CaseRun run_case(const GradCase& c, const std::vector<Tensor>& inputs) {
  if (c.before_forward) c.before_forward();
  CaseRun r;
  r.out = c.forward(inputs);
  Tensor w = rand_uniform(r.out.shape(), 77, 0, r.out.dtype(), r.out.device(), -1, 1);
  Tensor loss = sum(mul(r.out, w));
  if (loss.requires_grad()) loss.backward();
  for (auto& t : inputs) r.grads.push_back(t.requires_grad() ? t.grad() : Tensor());
  return r;
}

struct CaseParam {
  std::string name;
  DType dtype;
  bool large;
};
void PrintTo(const CaseParam& p, std::ostream* os) {
  *os << p.name << (p.dtype == DType::F32 ? " float32" : " float64") << (p.large ? " large" : " small");
}

// Largest |a - b| over all elements (the tensors have the same shape).
double max_abs_diff(const Tensor& a, const Tensor& b) {
  auto x = a.to_vector(), y = b.to_vector();
  double m = 0;
  for (size_t i = 0; i < x.size(); ++i) m = std::max(m, std::isnan(x[i] - y[i]) ? INFINITY : std::fabs(x[i] - y[i]));
  return m;
}
double max_abs(const Tensor& a) {
  double m = 0;
  for (double v : a.to_vector()) m = std::max(m, std::fabs(v));
  return m;
}

// float32 results of long reductions with cancellation (a conv weight gradient sums thousands
// of terms) can differ between devices by more than a fixed tolerance while both are as accurate
// as float32 allows. Where the element-wise check fails, the CUDA result must still be as close
// to a float64 CPU reference as the CPU float32 result is (within 4x), or within 1e-5 of the
// reference's largest magnitude.
::testing::AssertionResult close_f32(const Tensor& got, const Tensor& want, const Tensor& ref64, Tolerance tol) {
  auto elementwise = all_close(got, want, tol);
  if (elementwise) return elementwise;
  double e_cuda = max_abs_diff(got, ref64), e_cpu = max_abs_diff(want, ref64);
  double allowed = std::max(4 * e_cpu, 1e-5 * max_abs(ref64));
  if (e_cuda <= allowed) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << elementwise.message() << "; against float64: CUDA error " << e_cuda
                                       << ", CPU float32 error " << e_cpu << ", allowed " << allowed;
}

// TF32 cases (GradCase::tf32): the CPU runs them on the CPU twins, which round the same inputs
// to TF32, so only the FP32 summation order differs; near-cancelling elements make an
// element-wise check brittle, so they are judged by ||got - want|| / ||want||, every element
// finite where the CPU's is.
::testing::AssertionResult close_tf32(const Tensor& got, const Tensor& want) {
  auto a = got.to_vector(), e = want.to_vector();
  if (a.size() != e.size()) return ::testing::AssertionFailure() << "shape " << describe(got) << " vs " << describe(want);
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::isnan(a[i]) != std::isnan(e[i])) return ::testing::AssertionFailure() << "NaN at " << i;
    num += (a[i] - e[i]) * (a[i] - e[i]), den += e[i] * e[i];
  }
  const double rel = std::sqrt(num / std::max(den, 1e-300));
  if (rel <= 1e-5) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "relative error norm " << rel << " > 1e-5";
}

std::vector<CaseParam> all_params() {
  std::vector<CaseParam> p;
  for (auto& c : all_grad_cases())
    for (DType t : {DType::F32, DType::F64})
      for (bool large : {false, true}) p.push_back({c.name, t, large});
  return p;
}
}  // namespace

class CudaMatchesCpu : public ::testing::TestWithParam<CaseParam> {};

TEST_P(CudaMatchesCpu, ForwardAndBackward) {
  MM_SKIP_WITHOUT(Device::CUDA);
  const CaseParam& p = GetParam();
  GradCase c;
  for (auto& k : all_grad_cases())
    if (k.name == p.name) c = k;
  PoisonScope poison;
  // Each device gets its inputs from the case itself (the values are drawn on the host, so they
  // are the same): cases that own state, like the WRN case's model, then live on that device.
  std::vector<Tensor> cpu_in = c.make_inputs(Device::CPU, p.dtype, 2024, p.large);
  CaseRun want = run_case(c, cpu_in);
  std::vector<Tensor> cuda_in = c.make_inputs(Device::CUDA, p.dtype, 2024, p.large);
  for (size_t i = 0; i < cpu_in.size(); ++i)
    ASSERT_EQ(cuda_in[i].to_vector(), cpu_in[i].to_vector()) << "input " << i << " differs between devices";
  CaseRun got = run_case(c, cuda_in);
  Tolerance tol = reduction_tol(p.dtype);  // most cases involve a sum or a GEMM somewhere
  if (p.dtype == DType::F64) {
    EXPECT_TRUE(all_close(got.out, want.out, tol)) << "forward of " << p.name;
  } else if (c.tf32) {
    EXPECT_TRUE(close_tf32(got.out, want.out)) << "forward of " << p.name;
    for (size_t i = 0; i < want.grads.size(); ++i) {
      if (!want.grads[i].defined()) continue;
      ASSERT_TRUE(got.grads[i].defined());
      EXPECT_TRUE(close_tf32(got.grads[i], want.grads[i])) << "gradient of input " << i << " of " << p.name;
    }
    return;
  } else {
    // The same case in float64 on the CPU is the reference both float32 results are judged by.
    CaseRun ref = run_case(c, c.make_inputs(Device::CPU, DType::F64, 2024, p.large));
    EXPECT_TRUE(close_f32(got.out, want.out, ref.out, tol)) << "forward of " << p.name;
    for (size_t i = 0; i < want.grads.size(); ++i) {
      if (!want.grads[i].defined()) continue;
      ASSERT_TRUE(got.grads[i].defined());
      EXPECT_TRUE(close_f32(got.grads[i], want.grads[i], ref.grads[i], tol)) << "gradient of input " << i << " of " << p.name;
    }
    return;
  }
  for (size_t i = 0; i < want.grads.size(); ++i) {
    if (!want.grads[i].defined()) continue;
    ASSERT_TRUE(got.grads[i].defined());
    EXPECT_TRUE(all_close(got.grads[i], want.grads[i], tol)) << "gradient of input " << i << " of " << p.name;
  }
}

INSTANTIATE_TEST_SUITE_P(AllCases, CudaMatchesCpu, ::testing::ValuesIn(all_params()), [](const auto& info) {
  std::string n = info.param.name + (info.param.dtype == DType::F32 ? "_f32" : "_f64") + (info.param.large ? "_large" : "_small");
  for (auto& ch : n)
    if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
  return n;
});

// Elementwise ops must agree to the tight elementwise tolerance, batch-1 and odd sizes.
TEST(CudaMatchesCpuElementwise, TightTolerance) {
  MM_SKIP_WITHOUT(Device::CUDA);
  PoisonScope poison;
  for (DType t : {DType::F32, DType::F64})
    for (Shape s : {Shape{1, 1, 1, 1}, Shape{3, 5, 7, 9}, Shape{2, 33, 17, 13}}) {
      Tensor a = rand_uniform(s, 1, 0, t, Device::CPU, 0.5, 2), b = rand_uniform(s, 2, 0, t, Device::CPU, 0.5, 2);
      Tensor ca = a.to(Device::CUDA), cb = b.to(Device::CUDA);
      EXPECT_TRUE(all_close(mul(ca, cb), mul(a, b), elementwise_tol(t)));
      EXPECT_TRUE(all_close(div(ca, cb), div(a, b), elementwise_tol(t)));
      EXPECT_TRUE(all_close(exp(ca), exp(a), elementwise_tol(t)));
      EXPECT_TRUE(all_close(leaky_relu(sub(ca, cb), 0.1), leaky_relu(sub(a, b), 0.1), elementwise_tol(t)));
    }
}

// The multi-tensor optimizer kernels (one launch over every tensor) on CUDA against their CPU
// twins: odd sizes around the 4096-element tile, outputs poisoned first where fresh.
TEST(CudaMatchesCpuOptim, MultiTensorAdamAndEma) {
  MM_SKIP_WITHOUT(Device::CUDA);
  PoisonScope poison;
  for (DType t : {DType::F32, DType::F64}) {
    const std::vector<int64_t> sizes{1, 4097, 37, 8192, 5};
    auto run = [&](Device d) {
      std::vector<Tensor> ps, teacher;
      std::vector<std::pair<std::string, Tensor*>> named;
      for (size_t i = 0; i < sizes.size(); ++i) {
        ps.push_back(rand_normal({sizes[i]}, 30 + i, 0, t).to(d).set_requires_grad(true));
        teacher.push_back(rand_normal({sizes[i]}, 50 + i, 0, t).to(d));
      }
      for (size_t i = 0; i < ps.size(); ++i) named.emplace_back(std::to_string(i), &ps[i]);
      Adam adam(named, 0.01);
      for (int step = 0; step < 2; ++step) {
        for (auto& p : ps) p.zero_grad();
        Tensor loss = sum(mul(ps[0], ps[0]));
        for (size_t i = 1; i < ps.size(); ++i) loss = add(loss, sum(mul(mul(ps[i], ps[i]), rand_normal(ps[i].shape(), 70 + i, step, t, d))));
        loss.backward();
        adam.step();  // multi-tensor (the fusion is on by default)
      }
      // The EMA kernel over the same tensors as students: averaged chunks and one copy chunk
      // (the state a Params-scope teacher does not average).
      MM_DISPATCH_FLOAT(t, T, {
        std::vector<kernels::EmaChunk<T>> chunks;
        for (size_t i = 0; i < ps.size(); ++i)
          chunks.push_back({teacher[i].data<T>(), ps[i].data<T>(), ps[i].numel(), 0, 0.9, 1 - 0.02 * 0.01, i == 2 ? 1 : 0});
        const int64_t tiles = kernels::multi_tensor_tiles(chunks.data(), static_cast<int64_t>(chunks.size()));
        auto table = upload_bytes(d, chunks.data(), chunks.size() * sizeof(chunks[0]));
        MM_KERNEL(d, ema_update_multi, T)(static_cast<const kernels::EmaChunk<T>*>(table.get()),
                                         static_cast<int64_t>(chunks.size()), tiles);
      });
      std::vector<Tensor> out = teacher;
      for (auto& p : ps) out.push_back(p.detach());
      for (auto& [n, st] : adam.state()) out.push_back(st);
      return out;
    };
    auto cpu = run(Device::CPU), cuda = run(Device::CUDA);
    for (size_t i = 0; i < cpu.size(); ++i) EXPECT_TRUE(all_close(cuda[i], cpu[i], elementwise_tol(t))) << "Adam tensor " << i;
  }
}

#ifdef MMENGINE_WITH_CUDA
// MMENGINE_MATMUL=tf32 / gemm_set_tf32_cuda: float GEMMs within TF32's error of full FP32, and
// switching back restores full precision exactly. (The emulator's cuBLAS stand-in computes in
// full precision either way: only a real GPU checks the rounding.)
TEST(CudaGemm, Tf32ModeIsCloseAndSwitchesBack) {
  MM_SKIP_WITHOUT(Device::CUDA);
  Tensor a = rand_uniform({129, 300}, 5, 0, DType::F32, Device::CUDA, -1, 1);
  Tensor b = rand_uniform({300, 257}, 6, 0, DType::F32, Device::CUDA, -1, 1);
  const bool was = kernels::gemm_tf32_cuda();
  kernels::gemm_set_tf32_cuda(false);
  Tensor full = matmul(a, b);
  kernels::gemm_set_tf32_cuda(true);
  Tensor tf32 = matmul(a, b);
  kernels::gemm_set_tf32_cuda(false);
  Tensor again = matmul(a, b);
  kernels::gemm_set_tf32_cuda(was);
  EXPECT_EQ(again.to_vector(), full.to_vector());
  double num = 0, den = 0;
  auto f = full.to_vector(), t = tf32.to_vector();
  for (size_t i = 0; i < f.size(); ++i) num += (t[i] - f[i]) * (t[i] - f[i]), den += f[i] * f[i];
  EXPECT_LT(std::sqrt(num / den), 2e-3) << "TF32 rounds inputs to 10 mantissa bits: ~3e-4 relative";
}
#endif
