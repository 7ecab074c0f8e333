#include "mixmatch/progress.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>

namespace mmengine {

namespace {
thread_local std::FILE* t_out = nullptr;  // nullptr: stdout
}  // namespace

std::FILE* log_output() { return t_out ? t_out : stdout; }
LogOutputScope::LogOutputScope(std::FILE* out) : saved_(t_out) { t_out = out; }
LogOutputScope::~LogOutputScope() { t_out = saved_; }

Progress::Progress(int64_t total, int64_t per_epoch, int64_t first, int64_t every)
    : total_(total), per_epoch_(per_epoch), first_(first), every_(every), out_(log_output()), tty_(::isatty(::fileno(out_))),
      start_(std::chrono::steady_clock::now()), last_step_(first) {}

double Progress::steps_per_second() const {
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  return s > 0 ? (last_step_ - first_) / s : 0.0;
}

void Progress::update(int64_t step, double loss, double lx, double lu, double acc) {
  last_step_ = step;
  const double rate = steps_per_second();
  const double eta = rate > 0 ? (total_ - step) / rate : 0;
  char acc_text[32] = "";  // no accuracy before the first evaluation
  if (std::isfinite(acc)) std::snprintf(acc_text, sizeof(acc_text), "  acc %.2f%%", acc);
  char line[256];
  std::snprintf(line, sizeof(line), "epoch %lld step %lld/%lld  loss %.4f (Lx %.4f Lu %.4f)%s  %.2f it/s  ETA %02d:%02d:%02d",
                (long long)((step - 1) / per_epoch_ + 1), (long long)step, (long long)total_, loss, lx, lu, acc_text, rate,
                int(eta / 3600), int(eta / 60) % 60, int(eta) % 60);
  if (tty_) {
    std::fprintf(out_, "\r%-120s", line);
    std::fflush(out_);
  } else if (step % every_ == 0 || step == total_) {
    std::fprintf(out_, "%s\n", line);
    std::fflush(out_);
  }
}

void Progress::message(const std::string& text) {
  if (tty_) std::fprintf(out_, "\r%-120s\r", "");
  std::fprintf(out_, "%s\n", text.c_str());
  std::fflush(out_);
}

}  // namespace mmengine
