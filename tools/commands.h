// Each `mmengine` subcommand lives in its own tools/cmd_*.cpp and registers itself here.
#pragma once
#include <CLI/CLI.hpp>
#include <functional>
#include <string>

#include "engine/runtime.h"

namespace mmengine {

// The action a subcommand runs after parsing; returns the process exit status.
using CommandAction = std::function<int()>;

void add_reference_dump_command(CLI::App& app, CommandAction& action);
void add_data_command(CLI::App& app, CommandAction& action);
void add_train_command(CLI::App& app, CommandAction& action);
void add_eval_command(CLI::App& app, CommandAction& action);
void add_bench_command(CLI::App& app, CommandAction& action);
void add_bn_probe_command(CLI::App& app, CommandAction& action);
void add_ablate_command(CLI::App& app, CommandAction& action);


}  // namespace mmengine
