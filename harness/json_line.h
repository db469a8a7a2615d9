// One line of compact JSON from an nlohmann::ordered_json, written the way twinsim's
// hand-written JSON writers always wrote it: doubles as fmt's shortest "{}" (2.0 is "2"),
// integers in full, strings escaped by core::AppendJsonString. A report's to_json and this
// writer together give the bytes a command prints with --json, so a command need not format
// JSON by hand.
#ifndef TWINSIM_HARNESS_JSON_LINE_H_
#define TWINSIM_HARNESS_JSON_LINE_H_

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace twinsim::harness {

// `j` as one line of compact JSON (no spaces, keys in insertion order, no newline). Non-finite
// doubles and binary values are written as null. REQUIRES: strings are valid UTF-8. Pure.
std::string CompactJson(const nlohmann::ordered_json& j);
// The same, appended to `out`.
void AppendCompactJson(const nlohmann::ordered_json& j, std::string& out);

// Field visitors, so that one function template lists a report's fields once,
//   template <typename Io, typename R> void Fields(Io& io, R& r) { io("name", r.name); ... }
// and serves to_json (JsonFieldWriter, keys in the listed order) and from_json
// (JsonFieldReader: nlohmann's exceptions on a missing key or a wrong type).
// An empty std::optional is written as null, and null read back as empty.
struct JsonFieldWriter {
  nlohmann::ordered_json& j;
  template <typename T>
  void operator()(const char* key, const T& value) const {
    j[key] = value;
  }
  template <typename T>
  void operator()(const char* key, const std::optional<T>& value) const {
    j[key] = value ? nlohmann::ordered_json(*value) : nlohmann::ordered_json(nullptr);
  }
};
struct JsonFieldReader {
  const nlohmann::ordered_json& j;
  template <typename T>
  void operator()(const char* key, T& value) const {
    j.at(key).get_to(value);
  }
  template <typename T>
  void operator()(const char* key, std::optional<T>& value) const {
    if (j.at(key).is_null()) {
      value.reset();
    } else {
      value = j.at(key).get<T>();
    }
  }
};

// Defines to_json and from_json of `Type` (in the enclosing namespace, where nlohmann finds
// them) from `Fields(io, r)`, the one function that lists its fields.
#define TWINSIM_JSON_FROM_FIELDS(Type, Fields)                                    \
  void to_json(nlohmann::ordered_json& j, const Type& r) {                        \
    j = nlohmann::ordered_json::object();                                        \
    ::twinsim::harness::JsonFieldWriter io{j};                                    \
    Fields(io, r);                                                                \
  }                                                                               \
  void from_json(const nlohmann::ordered_json& j, Type& r) {                      \
    ::twinsim::harness::JsonFieldReader io{j};                                    \
    Fields(io, r);                                                                \
  }

}  // namespace twinsim::harness

#endif  // TWINSIM_HARNESS_JSON_LINE_H_
