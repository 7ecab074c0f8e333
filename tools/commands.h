// Each `mmengine` subcommand lives in its own tools/cmd_*.cpp and registers itself here.
#pragma once
#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdlib>
#include <functional>
#include <string>

#include "engine/runtime.h"

namespace mmengine {

// The action a subcommand runs after parsing; returns the process exit status.
using CommandAction = std::function<int()>;

// For uint64 flags (seeds): CLI11 would turn "-1" into 2^64 - 1 and wrap larger numbers; this
// accepts only decimal digits of a value in [0, 2^64 - 1].
inline CLI::Validator unsigned_64() {
  return CLI::Validator(
      [](std::string& s) -> std::string {
        errno = 0;
        char* end = nullptr;
        std::strtoull(s.c_str(), &end, 10);
        const bool digits = !s.empty() && s.find_first_not_of("0123456789") == std::string::npos;
        return digits && errno == 0 && *end == 0 ? "" : "expected an integer in [0, 2^64 - 1], got '" + s + "'";
      },
      "UINT64");
}

// True when `flag` is an option of cmd and was given on the command line.
inline bool given_flag(const CLI::App* cmd, const std::string& flag) {
  const CLI::Option* o = cmd->get_option_no_throw(flag);
  return o != nullptr && o->count() > 0;
}

void add_reference_dump_command(CLI::App& app, CommandAction& action);
void add_data_command(CLI::App& app, CommandAction& action);
void add_train_command(CLI::App& app, CommandAction& action);
void add_eval_command(CLI::App& app, CommandAction& action);
void add_bench_command(CLI::App& app, CommandAction& action);
void add_bn_probe_command(CLI::App& app, CommandAction& action);
void add_ablate_command(CLI::App& app, CommandAction& action);


}  // namespace mmengine
