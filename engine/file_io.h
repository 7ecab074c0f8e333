// Checked file access for every reader and writer of the engine. Contract: a failure is an
// mmengine::Error whose message starts with the path and says what was expected; nothing is
// silently skipped or half-written.
#pragma once
#include <cstdint>
#include <string>

namespace mmengine {

// Throws unless `path` exists and is a regular file (not a folder, FIFO or device): "PATH: is a
// directory, expected <what>". Returns the file size in bytes.
uint64_t require_regular_file(const std::string& path, const std::string& what);
// The whole content of a regular file.
std::string read_text_file(const std::string& path, const std::string& what);
// Writes `bytes` to path via a temporary file in the same folder that is flushed to disk and
// renamed into place: readers see the old content or the new one, never a partial file.
void write_file_atomically(const std::string& path, const std::string& bytes);
// Appends `bytes` with one write; a short or failed write (a full disk) throws naming the file.
void append_to_file(const std::string& path, const std::string& bytes);

}  // namespace mmengine
