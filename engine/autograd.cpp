#include "engine/autograd.h"

#include <unordered_map>
#include <unordered_set>

#include "engine/ops.h"

namespace mmengine {

namespace {
thread_local bool g_grad_enabled = true;
}

bool grad_enabled() { return g_grad_enabled; }
NoGrad::NoGrad() : previous_(g_grad_enabled) { g_grad_enabled = false; }
NoGrad::~NoGrad() { g_grad_enabled = previous_; }

Tensor record(Tensor out, const char* name, std::vector<Tensor> inputs, BackwardFn backward) {
  if (!g_grad_enabled) return out;
  bool any = false;
  for (auto& t : inputs) any = any || (t.defined() && t.requires_grad());
  if (!any) return out;
  auto node = std::make_shared<Node>();
  node->name = name;
  node->inputs = std::move(inputs);
  node->backward = std::move(backward);
  out.impl().grad_fn = node;
  out.impl().requires_grad = true;
  return out;
}

namespace {
// Post-order DFS without recursion (deep graphs must not overflow the stack).
const std::shared_ptr<TensorImpl>& nullptr_impl() {
  static const std::shared_ptr<TensorImpl> none;
  return none;
}

// Holds shared pointers: releasing a node while walking must not free impls still to visit.
std::vector<std::shared_ptr<TensorImpl>> topological_order(const std::shared_ptr<TensorImpl>& root) {
  std::vector<std::shared_ptr<TensorImpl>> order;
  std::unordered_set<TensorImpl*> seen{root.get()};
  std::vector<std::pair<std::shared_ptr<TensorImpl>, size_t>> stack{{root, 0}};
  while (!stack.empty()) {
    auto& [impl, next] = stack.back();
    const auto& fn = impl->grad_fn;
    if (fn && next < fn->inputs.size()) {
      const Tensor& in = fn->inputs[next++];
      const std::shared_ptr<TensorImpl>& child = in.defined() ? in.impl_ptr() : nullptr_impl();
      if (!child || !child->requires_grad) continue;
      MM_CHECK(!child->graph_freed, "backward through a graph that an earlier backward already freed");
      if (seen.insert(child.get()).second) stack.push_back({child, 0});
      continue;
    }
    order.push_back(impl);
    stack.pop_back();
  }
  return order;  // children before parents
}

Tensor accumulate(const Tensor& have, const Tensor& add_this) {
  if (!have.defined()) return add_this;
  NoGrad ng;
  return add(have, add_this);
}
}  // namespace

void run_backward(const Tensor& root) {
  MM_CHECK(root.numel() == 1, "backward() needs a one-element (scalar) tensor, got ", describe(root));
  MM_CHECK(root.requires_grad(), "backward() on a tensor that does not require grad");
  MM_CHECK(!root.impl().graph_freed, "backward() called twice on the same graph: it was freed by the first");
  NoGrad ng;  // backward closures are not themselves recorded
  auto order = topological_order(root.impl_ptr());
  std::unordered_map<TensorImpl*, Tensor> grads;
  grads[root.impl_ptr().get()] = Tensor::full(root.shape(), 1.0, root.dtype(), root.device());
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    TensorImpl* impl = it->get();
    auto found = grads.find(impl);
    if (found == grads.end()) continue;  // no path carried a gradient here
    Tensor g = found->second;
    grads.erase(found);
    if (!impl->grad_fn) {  // a leaf that requires grad
      Tensor have(impl->grad);
      impl->grad = accumulate(have, g).impl_ptr();
      continue;
    }
    std::shared_ptr<Node> node = impl->grad_fn;
    std::vector<Tensor> in_grads = node->backward(g);
    MM_CHECK(in_grads.size() == node->inputs.size(), "backward of ", node->name, " returned ",
             in_grads.size(), " gradients for ", node->inputs.size(), " inputs");
    for (size_t i = 0; i < in_grads.size(); ++i) {
      const Tensor& in = node->inputs[i];
      if (!in.defined() || !in.requires_grad() || !in_grads[i].defined()) continue;
      MM_CHECK(in_grads[i].shape() == in.shape() && in_grads[i].dtype() == in.dtype() &&
                   in_grads[i].device() == in.device(),
               "backward of ", node->name, ": gradient ", describe(in_grads[i]), " for input ", describe(in));
      Tensor& slot = grads[in.impl_ptr().get()];
      slot = accumulate(slot, in_grads[i]);
    }
    impl->graph_freed = true;
    impl->grad_fn.reset();  // free this part of the graph (saved tensors go with it)
  }
}

}  // namespace mmengine
