#include "kernels/error.h"

namespace mmengine {

void throw_error(const char* file, int line, const std::string& message) {
  // Keep only the path below the project root: it is what a developer looks up.
  std::string where(file);
  for (const char* top : {"/engine/", "/kernels/", "/layers/", "/data/", "/mixmatch/", "/tools/"}) {
    auto pos = where.rfind(top);
    if (pos != std::string::npos) {
      where = where.substr(pos + 1);
      break;
    }
  }
  throw Error(message + " [" + where + ":" + std::to_string(line) + "]");
}

}  // namespace mmengine
