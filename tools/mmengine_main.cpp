// mmengine: the command-line entry point. Subcommands are defined in tools/cmd_*.cpp.
#include <cstdio>
#include <new>

#include "kernels/error.h"
#include "engine/dist.h"
#include "engine/runtime.h"
#include "tools/commands.h"

using namespace mmengine;

int main(int argc, char** argv) {
  CLI::App app{"mmengine: a C++/CUDA engine to train and study MixMatch"};
  app.require_subcommand(1);
  CommandAction action;
  add_train_command(app, action);
  add_eval_command(app, action);
  add_data_command(app, action);
  add_bench_command(app, action);
  add_bn_probe_command(app, action);
  add_ablate_command(app, action);
  add_reference_dump_command(app, action);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const std::exception& e) {  // a flag value rejected while resolving the options
    std::fprintf(stderr, "mmengine: error: %s\n", e.what());
    return 2;
  }
  try {
    return action ? action() : 2;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "mmengine: error: out of memory (a smaller --batch-size, --depth, --widen or --prefetch fits)\n");
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mmengine: error: %s\n", e.what());
    abort_other_ranks_on_error(1);  // the other ranks would wait in their next collective
    return 1;
  }
}
