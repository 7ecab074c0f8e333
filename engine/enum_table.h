// One table per enum: each row names a value once; name and parse are lookups in it, so the
// spelling a flag accepts and the one config.json records cannot drift apart.
#pragma once
#include <cstddef>
#include <string>

namespace mmengine {

template <typename E>
struct EnumName {
  E value;
  const char* name;
};

template <typename E, size_t N>
const char* enum_name(const EnumName<E> (&table)[N], E value) {
  for (const auto& r : table)
    if (r.value == value) return r.name;
  return "?";
}

// False when `word` names no row.
template <typename E, size_t N>
bool enum_parse(const EnumName<E> (&table)[N], const std::string& word, E* out) {
  for (const auto& r : table)
    if (word == r.name) return (*out = r.value), true;
  return false;
}

}  // namespace mmengine
