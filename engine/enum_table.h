// One table per enum: every value of a word-valued setting is listed once, with its name (the
// flag value, the config.json / metrics word) and a short help text; parsing, naming, the
// choices an error lists and a --help line are all read from that table, so they cannot
// disagree. Tables are constexpr arrays in the header that owns the enum:
//   inline constexpr EnumEntry<BnMode> kBnModes[] = {{BnMode::Interleave, "interleave", "..."}, ...};
//   enum_parse(kBnModes, "--bn-mode", word)  // throws "--bn-mode: expected interleave, separate or single, got 'x'"
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>

#include "kernels/error.h"

namespace mmengine {

template <typename E>
struct EnumEntry {
  E value;
  const char* name;
  const char* help;
};

// "a, b or c": the names, for errors and short help lines.
template <typename E, size_t N>
std::string enum_choices(const EnumEntry<E> (&table)[N]) {
  std::string s;
  for (size_t i = 0; i < N; ++i) s += std::string(i == 0 ? "" : i + 1 == N ? " or " : ", ") + table[i].name;
  return s;
}

// "a (what a does), b (what b does) or c (...)": the --help line of the flag.
template <typename E, size_t N>
std::string enum_help(const EnumEntry<E> (&table)[N]) {
  std::string s;
  for (size_t i = 0; i < N; ++i)
    s += std::string(i == 0 ? "" : i + 1 == N ? " or " : ", ") + table[i].name + " (" + table[i].help + ")";
  return s;
}

template <typename E, size_t N>
const char* enum_name(const EnumEntry<E> (&table)[N], E value) {
  for (const auto& e : table)
    if (e.value == value) return e.name;
  MM_FAIL("internal error: a value missing from its enum table");
}

// The bit of `value` in the masks of enum_parse_mask (values below 32).
template <typename E>
constexpr uint32_t enum_bit(E value) {
  return 1u << static_cast<unsigned>(value);
}

// A comma-separated list of names, or "all", as a mask with enum_bit(value) set for each named
// value (empty items are skipped; the values must be below 32); an unknown name is an error
// naming `what` and the choices.
template <typename E, size_t N>
uint32_t enum_parse_mask(const EnumEntry<E> (&table)[N], const char* what, const std::string& list) {
  uint32_t mask = 0;
  for (size_t begin = 0; begin <= list.size();) {
    const size_t end = std::min(list.find(',', begin), list.size());
    const std::string name = list.substr(begin, end - begin);
    bool known = name.empty();
    for (const auto& e : table)
      if (name == "all" || name == e.name) {
        mask |= enum_bit(e.value);
        known = true;
      }
    MM_CHECK(known, what, ": unknown '", name, "' (expected a comma-separated list of ", enum_choices(table),
             ", or all)");
    begin = end + 1;
  }
  return mask;
}

// The value named `word`; otherwise an error naming `what` (the flag or config key) and the choices.
template <typename E, size_t N>
E enum_parse(const EnumEntry<E> (&table)[N], const char* what, const std::string& word) {
  for (const auto& e : table)
    if (word == e.name) return e.value;
  MM_FAIL(what, ": expected ", enum_choices(table), ", got '", word, "'");
}

}  // namespace mmengine
