// Ctrl-C / kill for a training run. Contract: while an InterruptScope lives, the first SIGINT or
// SIGTERM only records the signal (the run finishes its step, checkpoints and says how to
// resume); the handler is one-shot, so a second signal ends the process the default way. The
// previous handlers are restored when the scope ends. A signal ignored on entry (nohup) stays
// ignored.
#pragma once
#include <csignal>

namespace mmengine {

class InterruptScope {
 public:
  InterruptScope();
  ~InterruptScope();
  InterruptScope(const InterruptScope&) = delete;
  InterruptScope& operator=(const InterruptScope&) = delete;
  // The signal received since the scope began (SIGINT or SIGTERM), or 0.
  int signal() const;

 private:
  struct sigaction old_int_, old_term_;
};

}  // namespace mmengine
