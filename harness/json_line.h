// One line of compact JSON from an nlohmann::ordered_json, written the way twinsim's
// hand-written JSON writers always wrote it: doubles as fmt's shortest "{}" (2.0 is "2"),
// integers in full, strings escaped by core::AppendJsonString. A report's to_json and this
// writer together give the bytes a command prints with --json, so a command need not format
// JSON by hand.
#ifndef TWINSIM_HARNESS_JSON_LINE_H_
#define TWINSIM_HARNESS_JSON_LINE_H_

#include <nlohmann/json.hpp>
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
struct JsonFieldWriter {
  nlohmann::ordered_json& j;
  template <typename T>
  void operator()(const char* key, const T& value) const {
    j[key] = value;
  }
};
struct JsonFieldReader {
  const nlohmann::ordered_json& j;
  template <typename T>
  void operator()(const char* key, T& value) const {
    j.at(key).get_to(value);
  }
};

}  // namespace twinsim::harness

#endif  // TWINSIM_HARNESS_JSON_LINE_H_
