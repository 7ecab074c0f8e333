// Each `mmengine` subcommand lives in its own tools/cmd_*.cpp and registers itself here.
#pragma once
#include <CLI/CLI.hpp>
#include <functional>
#include <string>

#include "engine/dtype.h"

namespace mmengine {

// The action a subcommand runs after parsing; returns the process exit status.
using CommandAction = std::function<int()>;

void add_reference_dump_command(CLI::App& app, CommandAction& action);
void add_data_command(CLI::App& app, CommandAction& action);

// --device auto|cpu|cuda -> a device, with a clear error when CUDA is asked for but absent.
Device resolve_device(const std::string& flag_value, const char* flag_name = "--device");

}  // namespace mmengine
