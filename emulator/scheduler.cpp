// The CUDA emulator's execution: each block of a grid runs on the launching OS thread, each of
// its CUDA threads as a fiber with its own stack. Fibers switch only at __syncthreads(), at warp
// collectives and at thread exit, so `__shared__` (a thread_local static) is one copy per block.
// Between two barriers the threads run one after another in the order the schedule picks
// (MMENGINE_EMU_SCHEDULE = ascending | descending | random[:seed]); a barrier or a collective
// that not every thread (lane) reaches aborts with the kernel, the block and the lines.
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "mmemu_counts.h"
#include "emulator/memory_registry.h"
#include "emulator/schedule.h"
#include "cuda_runtime.h"

#if defined(__SANITIZE_ADDRESS__)
#define MMEMU_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MMEMU_ASAN 1
#endif
#endif
#ifdef MMEMU_ASAN
#include <sanitizer/common_interface_defs.h>
#endif

#if !defined(__x86_64__)
#include <ucontext.h>
#endif

namespace mmemu {

// ---- schedules ------------------------------------------------------------------------------
Schedule schedule_from(const char* text) {
  Schedule s;
  std::string v = text ? text : "";
  if (v.empty() || v == "ascending") return s;
  if (v == "descending") {
    s.kind = Schedule::Descending;
    return s;
  }
  if (v.rfind("random", 0) == 0) {
    s.kind = Schedule::Random;
    s.seed = 1;
    if (v.size() > 7 && v[6] == ':') s.seed = std::strtoull(v.c_str() + 7, nullptr, 10);
    if (v.size() == 6 || (v.size() > 7 && v[6] == ':')) return s;
  }
  std::fprintf(stderr, "mmengine CUDA emulator: MMENGINE_EMU_SCHEDULE=%s: expected ascending, descending or random[:seed]\n",
               v.c_str());
  std::abort();
}

const Schedule& schedule() {
  static const Schedule s = schedule_from(std::getenv("MMENGINE_EMU_SCHEDULE"));
  return s;
}

namespace {

// ---- fibers ---------------------------------------------------------------------------------
#if defined(MMEMU_ASAN)
constexpr size_t kStackBytes = 512 * 1024;
#else
constexpr size_t kStackBytes = 128 * 1024;
#endif

#if defined(__x86_64__)
// Saves the callee-saved registers on the current stack, stores the stack pointer in *save,
// loads `next` and restores what was saved there. (Cheaper than swapcontext, which also
// switches the signal mask with a system call at every barrier of every thread.)
extern "C" void mmemu_switch_stack(void** save, void* next);
asm(R"(
  .text
  .globl mmemu_switch_stack
  .type mmemu_switch_stack, @function
mmemu_switch_stack:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size mmemu_switch_stack, .-mmemu_switch_stack
)");
#endif

enum class State { Runnable, AtBarrier, AtWarpOp, Done };

struct Fiber {
  char* stack = nullptr;  // lowest usable address (a guard page lies below)
#if defined(__x86_64__)
  void* sp = nullptr;
#else
  ucontext_t ctx;
#endif
  void* fake_stack = nullptr;  // ASan's bookkeeping while switched out
  // The CUDA thread it runs in the current block.
  uint3 tid{};
  State state = State::Done;
  const char* file = nullptr;  // where it waits
  int line = 0;
  // A pending warp collective.
  WarpOp op{};
  const char* what = nullptr;
  unsigned mask = 0;
  uint64_t value = 0, result = 0;
  int param = 0, width = 32;
};

struct BlockRun {
  const LaunchSite* site;
  uint3 block;
  void (*body)(void*);
  void* context;
};

struct Executor {
  std::vector<Fiber> fibers;
  size_t count = 0;  // fibers in use by the current block
  Fiber* current = nullptr;
  const BlockRun* run = nullptr;
#if defined(__x86_64__)
  void* sched_sp = nullptr;
#else
  ucontext_t sched_ctx;
#endif
  void* sched_fake = nullptr;
  const void* sched_bottom = nullptr;
  size_t sched_size = 0;
  std::mt19937_64 rng{schedule().seed};
  bool in_kernel = false;
  std::vector<uint32_t> order;
};

thread_local Executor* tl_exec = nullptr;

// Owns the thread's executor: when the OS thread ends, its fiber stacks are unmapped and the
// executor freed, so threads that launch kernels and exit (runs trained on worker threads of
// `ablate --concurrent-mode streams`) leave nothing behind.
struct ExecutorOwner {
  ~ExecutorOwner() {
    if (!tl_exec) return;
    const long page = sysconf(_SC_PAGESIZE);
    for (Fiber& f : tl_exec->fibers)
      if (f.stack) munmap(f.stack - page, kStackBytes + page);
    delete tl_exec;
    tl_exec = nullptr;
  }
};
thread_local ExecutorOwner tl_owner;

Executor& executor() {
  if (!tl_exec) {
    tl_exec = new Executor;  // one per OS thread that launches; kept for its lifetime
    (void)&tl_owner;         // constructs the owner on this thread, so its destructor runs at thread exit
  }
  return *tl_exec;
}

void asan_start(void** fake, const void* bottom, size_t size) {
#ifdef MMEMU_ASAN
  __sanitizer_start_switch_fiber(fake, bottom, size);
#else
  (void)fake, (void)bottom, (void)size;
#endif
}
void asan_finish(void* fake, const void** bottom, size_t* size) {
#ifdef MMEMU_ASAN
  __sanitizer_finish_switch_fiber(fake, bottom, size);
#else
  (void)fake, (void)bottom, (void)size;
#endif
}

std::string str(uint3 v) { return "(" + std::to_string(v.x) + "," + std::to_string(v.y) + "," + std::to_string(v.z) + ")"; }

[[noreturn]] void fail(const Executor& ex, const std::string& what) {
  std::fprintf(stderr, "mmengine CUDA emulator: kernel %s (launched at %s:%d), block %s: %s\n", ex.run->site->kernel,
               ex.run->site->file, ex.run->site->line, str(ex.run->block).c_str(), what.c_str());
  std::fflush(stderr);
  std::abort();
}

// The frames at the top of a fiber's stack never return (the fiber is abandoned once its thread
// exits, and the stack reused for the next block), so they must leave no ASan redzones behind.
#ifdef MMEMU_ASAN
#define MMEMU_NO_ASAN __attribute__((no_sanitize_address))
#else
#define MMEMU_NO_ASAN
#endif

// Back to the scheduler; returns when the scheduler resumes this fiber.
MMEMU_NO_ASAN void yield_to_scheduler(Executor& ex, Fiber& f) {
  asan_start(f.state == State::Done ? nullptr : &f.fake_stack, ex.sched_bottom, ex.sched_size);
#if defined(__x86_64__)
  mmemu_switch_stack(&f.sp, ex.sched_sp);
#else
  swapcontext(&f.ctx, &ex.sched_ctx);
#endif
  asan_finish(f.fake_stack, &ex.sched_bottom, &ex.sched_size);
}

[[noreturn]] MMEMU_NO_ASAN void fiber_main() {
  Executor& ex = *tl_exec;
  asan_finish(nullptr, &ex.sched_bottom, &ex.sched_size);
  Fiber& f = *ex.current;
  try {
    ex.run->body(ex.run->context);
  } catch (const std::exception& e) {
    fail(ex, std::string("a C++ exception left a kernel thread: ") + e.what());
  } catch (...) {
    fail(ex, "a C++ exception left a kernel thread");
  }
  f.state = State::Done;
  Fiber& self = *ex.current;
  yield_to_scheduler(ex, self);
  std::abort();  // a finished fiber is never resumed
}

#if !defined(__x86_64__)
void fiber_main_ucontext() { fiber_main(); }
#endif

void prepare(Executor& ex, Fiber& f) {
  const long page = sysconf(_SC_PAGESIZE);
  if (!f.stack) {
    void* m = mmap(nullptr, kStackBytes + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED) {
      std::fprintf(stderr, "mmengine CUDA emulator: cannot map a fiber stack\n");
      std::abort();
    }
    mprotect(m, page, PROT_NONE);  // overflow faults instead of corrupting the next stack
    f.stack = static_cast<char*>(m) + page;
  }
  f.fake_stack = nullptr;
#if defined(__x86_64__)
  // A frame as mmemu_switch_stack leaves it: six saved registers, then the "return address"
  // fiber_main, entered with the stack aligned as after a call.
  uintptr_t top = reinterpret_cast<uintptr_t>(f.stack + kStackBytes) & ~uintptr_t(15);
  void** sp = reinterpret_cast<void**>(top);
  *--sp = nullptr;                                       // fiber_main's own return address
  *--sp = reinterpret_cast<void*>(&fiber_main);
  for (int i = 0; i < 6; ++i) *--sp = nullptr;           // rbp rbx r12 r13 r14 r15
  f.sp = sp;
#else
  getcontext(&f.ctx);
  f.ctx.uc_stack.ss_sp = f.stack;
  f.ctx.uc_stack.ss_size = kStackBytes;
  f.ctx.uc_link = nullptr;
  makecontext(&f.ctx, fiber_main_ucontext, 0);
#endif
  (void)ex;
}

void resume(Executor& ex, Fiber& f) {
  ex.current = &f;
  regs.thread_idx = f.tid;
  asan_start(&ex.sched_fake, f.stack, kStackBytes);
#if defined(__x86_64__)
  mmemu_switch_stack(&ex.sched_sp, f.sp);
#else
  swapcontext(&ex.sched_ctx, &f.ctx);
#endif
  asan_finish(ex.sched_fake, nullptr, nullptr);
}

// The order in which the runnable threads of a block run in one round.
void fill_order(Executor& ex) {
  const uint32_t n = static_cast<uint32_t>(ex.count);
  ex.order.resize(n);
  std::iota(ex.order.begin(), ex.order.end(), 0u);
  switch (schedule().kind) {
    case Schedule::Ascending: break;
    case Schedule::Descending: std::reverse(ex.order.begin(), ex.order.end()); break;
    case Schedule::Random: std::shuffle(ex.order.begin(), ex.order.end(), ex.rng); break;
  }
}

std::string where(const Fiber& f) {
  switch (f.state) {
    case State::Done: return "has exited";
    case State::AtBarrier: return std::string("waits at __syncthreads() at ") + f.file + ":" + std::to_string(f.line);
    case State::AtWarpOp:
      return std::string("waits at ") + f.what + " at " + f.file + ":" + std::to_string(f.line);
    case State::Runnable: break;
  }
  return "runs";
}

uint64_t collective_result(const Fiber* lanes, int nlanes, int lane) {
  const Fiber& me = lanes[lane];
  const int width = me.width, base = lane / width * width;
  auto at = [&](int src) { return src >= 0 && src < nlanes ? lanes[src].value : me.value; };
  switch (me.op) {
    case WarpOp::ShflIdx: return at(base + ((me.param % width) + width) % width);
    case WarpOp::ShflUp: return lane - me.param >= base ? at(lane - me.param) : me.value;
    case WarpOp::ShflDown: return lane + me.param < base + width ? at(lane + me.param) : me.value;
    case WarpOp::ShflXor: {
      const int src = lane ^ me.param;
      return src < base + width ? at(src) : me.value;
    }
    case WarpOp::Ballot:
    case WarpOp::Any:
    case WarpOp::All: {
      uint64_t bits = 0;
      for (int i = 0; i < nlanes; ++i) bits |= (lanes[i].value != 0 ? 1ull : 0ull) << i;
      if (me.op == WarpOp::Ballot) return bits;
      if (me.op == WarpOp::Any) return bits != 0;
      return bits == (nlanes == 32 ? 0xffffffffull : (1ull << nlanes) - 1);
    }
    case WarpOp::Sync: return 0;
  }
  return 0;
}

// After a round every thread waits or has exited: release whole warps at one collective, else
// the whole block at one barrier; anything else is divergence.
bool release(Executor& ex) {
  Fiber* f = ex.fibers.data();
  const int n = static_cast<int>(ex.count);
  bool any_collective = false;
  for (int w = 0; w * 32 < n; ++w) {
    Fiber* lanes = f + w * 32;
    const int nlanes = std::min(32, n - w * 32);
    int first = -1;
    for (int l = 0; l < nlanes; ++l)
      if (lanes[l].state == State::AtWarpOp) {
        first = l;
        break;
      }
    if (first < 0) continue;
    any_collective = true;
    const Fiber& a = lanes[first];
    const unsigned lanes_mask = nlanes == 32 ? 0xffffffffu : (1u << nlanes) - 1;
    if (a.mask != lanes_mask)
      fail(ex, std::string(a.what) + " at " + a.file + ":" + std::to_string(a.line) + " with mask 0x" +
                   [&] { char b[16]; std::snprintf(b, sizeof b, "%08x", a.mask); return std::string(b); }() +
                   ": the emulator supports only the mask of every lane of the warp (warp " + std::to_string(w) + ")");
    if (a.width < 1 || a.width > 32 || (a.width & (a.width - 1)))
      fail(ex, std::string(a.what) + " at " + a.file + ":" + std::to_string(a.line) + ": width " + std::to_string(a.width) +
                   " is not a power of two up to 32");
    for (int l = 0; l < nlanes; ++l) {
      const Fiber& b = lanes[l];
      if (b.state != State::AtWarpOp || b.file != a.file || b.line != a.line || b.op != a.op || b.mask != a.mask ||
          b.width != a.width)
        fail(ex, "divergent warp collective: thread " + str(a.tid) + " (lane " + std::to_string(first) + " of warp " +
                     std::to_string(w) + ") " + where(a) + ", but thread " + str(b.tid) + " (lane " + std::to_string(l) +
                     ") " + where(b));
    }
    for (int l = 0; l < nlanes; ++l) lanes[l].result = collective_result(lanes, nlanes, l);
    for (int l = 0; l < nlanes; ++l) lanes[l].state = State::Runnable;
  }
  if (any_collective) return true;
  int first = -1;
  for (int i = 0; i < n; ++i)
    if (f[i].state == State::AtBarrier) {
      first = i;
      break;
    }
  if (first < 0) return false;  // every thread has exited
  const Fiber& a = f[first];
  for (int i = 0; i < n; ++i) {
    const Fiber& b = f[i];
    if (b.state != State::AtBarrier || b.file != a.file || b.line != a.line)
      fail(ex, "divergent barrier: thread " + str(a.tid) + " " + where(a) + ", but thread " + str(b.tid) + " " + where(b));
  }
  for (int i = 0; i < n; ++i) f[i].state = State::Runnable;
  return true;
}

void run_block(Executor& ex, const BlockRun& run, dim3 block) {
  ex.run = &run;
  const size_t n = size_t(block.x) * block.y * block.z;
  if (ex.fibers.size() < n) ex.fibers.resize(n);
  ex.count = n;
  size_t i = 0;
  for (unsigned z = 0; z < block.z; ++z)
    for (unsigned y = 0; y < block.y; ++y)
      for (unsigned x = 0; x < block.x; ++x, ++i) {
        Fiber& f = ex.fibers[i];
        prepare(ex, f);
        f.tid = uint3{x, y, z};
        f.state = State::Runnable;
      }
  do {
    fill_order(ex);
    for (uint32_t t : ex.order)
      if (ex.fibers[t].state == State::Runnable) resume(ex, ex.fibers[t]);
  } while (release(ex));
  ex.current = nullptr;
}

Fiber& current_thread(const char* what, const char* file, int line) {
  Executor* ex = tl_exec;
  if (!ex || !ex->current) {
    std::fprintf(stderr, "mmengine CUDA emulator: %s at %s:%d called outside a kernel\n", what, file, line);
    std::abort();
  }
  return *ex->current;
}

}  // namespace

void sync_threads(const char* file, int line) {
  Fiber& f = current_thread("__syncthreads()", file, line);
  f.state = State::AtBarrier;
  f.file = file;
  f.line = line;
  yield_to_scheduler(*tl_exec, f);
}

uint64_t warp_collective(WarpOp op, const char* what, const char* file, int line, unsigned mask, uint64_t value, int param,
                         int width) {
  Fiber& f = current_thread(what, file, line);
  f.state = State::AtWarpOp;
  f.file = file;
  f.line = line;
  f.op = op;
  f.what = what;
  f.mask = mask;
  f.value = value;
  f.param = param;
  f.width = width;
  yield_to_scheduler(*tl_exec, f);
  return f.result;
}

bool launch_config_ok(const LaunchSite& site, dim3 grid, dim3 block, size_t shared_bytes) {
  // The limits of every GPU the project targets (compute capability 7.0 to 9.0).
  const uint64_t threads = uint64_t(block.x) * block.y * block.z;
  if (grid.x == 0 || grid.y == 0 || grid.z == 0 || threads == 0 || threads > 1024 || block.x > 1024 || block.y > 1024 ||
      block.z > 64 || grid.x > 2147483647u || grid.y > 65535 || grid.z > 65535) {
    // What CUDA 13's cudaLaunchKernel returns for each of these on an H100 (docs/gpu-log.md,
    // 2026-11-27; older runtimes said cudaErrorInvalidConfiguration).
    set_last_error(cudaErrorInvalidValue);
    return false;
  }
  if (shared_bytes > 48 * 1024) {  // more dynamic shared memory than a launch gets without opt-in
    set_last_error(cudaErrorInvalidValue);
    return false;
  }
  if (shared_bytes > 0) {
    std::fprintf(stderr, "mmengine CUDA emulator: kernel %s (%s:%d) asks for dynamic shared memory, which the emulator does not provide\n",
                 site.kernel, site.file, site.line);
    std::abort();
  }
  return true;
}

void run_grid(const LaunchSite& site, dim3 grid, dim3 block, size_t shared_bytes, cudaStream_t stream,
              void (*body)(void*), void* context) {
  if (!launch_config_ok(site, grid, block, shared_bytes)) return;
  if (stream == nullptr && capture_forbids()) {  // the legacy stream synchronizes with a capturing one
    set_last_error(cudaErrorStreamCaptureImplicit);
    return;
  }
  count_work(stream, Work::Kernel);
  Executor& ex = executor();
  if (ex.in_kernel) {
    std::fprintf(stderr, "mmengine CUDA emulator: kernel %s launched from inside a kernel (%s:%d)\n", site.kernel, site.file,
                 site.line);
    std::abort();
  }
  ex.in_kernel = true;
  const Registers saved = regs;
  regs.grid_dim = grid;
  regs.block_dim = block;
  BlockRun run{&site, {}, body, context};
  const uint64_t blocks = uint64_t(grid.x) * grid.y * grid.z;
  // Blocks run one after another; the schedule also picks their order (random: a random
  // stride coprime with the block count, from a random start).
  uint64_t stride = 1, start = 0;
  if (schedule().kind == Schedule::Random && blocks > 1) {
    start = ex.rng() % blocks;
    do stride = 1 + ex.rng() % (blocks - 1);
    while (std::gcd(stride, blocks) != 1);
  }
  for (uint64_t k = 0; k < blocks; ++k) {
    uint64_t b = k;
    if (schedule().kind == Schedule::Descending) b = blocks - 1 - k;
    if (schedule().kind == Schedule::Random) b = (start + k * stride) % blocks;
    run.block = uint3{static_cast<unsigned>(b % grid.x), static_cast<unsigned>(b / grid.x % grid.y),
                      static_cast<unsigned>(b / (uint64_t(grid.x) * grid.y))};
    regs.block_idx = run.block;
    run_block(ex, run, block);
  }
  regs = saved;
  ex.in_kernel = false;
}

}  // namespace mmemu
