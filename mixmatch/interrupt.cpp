#include "mixmatch/interrupt.h"

#include <atomic>
#include <mutex>

namespace mmengine {

namespace {
// Written by the handler, read by every run's thread: a lock-free atomic (async-signal-safe).
std::atomic<int> g_signal{0};
static_assert(std::atomic<int>::is_always_lock_free, "the signal handler needs a lock-free atomic");
extern "C" void record_signal(int sig) { g_signal = sig; }

std::mutex g_mu;  // guards the nesting depth and the saved handlers
int g_depth = 0;
struct sigaction g_old_int, g_old_term;
}  // namespace

InterruptScope::InterruptScope() {
  std::lock_guard<std::mutex> lock(g_mu);
  if (g_depth++ > 0) return;  // an outer scope has the handlers
  g_signal = 0;
  struct sigaction sa {};
  sa.sa_handler = record_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESETHAND | SA_RESTART;  // one-shot: a second Ctrl-C kills at once
  sigaction(SIGINT, &sa, &g_old_int);
  sigaction(SIGTERM, &sa, &g_old_term);
  // A signal the parent set to be ignored (nohup, a background job of a script) stays ignored.
  if (g_old_int.sa_handler == SIG_IGN) sigaction(SIGINT, &g_old_int, nullptr);
  if (g_old_term.sa_handler == SIG_IGN) sigaction(SIGTERM, &g_old_term, nullptr);
}

InterruptScope::~InterruptScope() {
  std::lock_guard<std::mutex> lock(g_mu);
  if (--g_depth > 0) return;
  sigaction(SIGINT, &g_old_int, nullptr);
  sigaction(SIGTERM, &g_old_term, nullptr);
}

int InterruptScope::signal() const { return g_signal; }

}  // namespace mmengine
