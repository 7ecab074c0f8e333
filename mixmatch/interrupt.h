// Ctrl-C / kill for a training run. Contract: while an InterruptScope lives, the first SIGINT or
// SIGTERM only records the signal (the run finishes its step, checkpoints and says how to
// resume); the handler is one-shot, so a second signal ends the process the default way. The
// previous handlers are restored when the scope ends. A signal ignored on entry (nohup) stays
// ignored. Scopes nest across the process's threads: the outermost one installs the handler,
// clears the recorded signal and restores the handlers at its end; an inner one (a run trained on
// a thread of `mmengine ablate --concurrent-mode streams`, inside the ablation's scope) shares it,
// so one Ctrl-C stops every run at once and a run ending does not unhook the others.
#pragma once
#include <csignal>

namespace mmengine {

class InterruptScope {
 public:
  InterruptScope();
  ~InterruptScope();
  InterruptScope(const InterruptScope&) = delete;
  InterruptScope& operator=(const InterruptScope&) = delete;
  // The signal received since the outermost scope began (SIGINT or SIGTERM), or 0.
  int signal() const;
};

}  // namespace mmengine
