#include "harness/json_line.h"

#include <fmt/format.h>

#include <cmath>
#include <cstdint>
#include <string>

#include "core/json.h"

namespace twinsim::harness {

void AppendCompactJson(const nlohmann::ordered_json& j, std::string& out) {
  using Json = nlohmann::ordered_json;
  switch (j.type()) {
    case Json::value_t::boolean:
      out += j.get<bool>() ? "true" : "false";
      return;
    case Json::value_t::number_integer:
      out += std::to_string(j.get<int64_t>());
      return;
    case Json::value_t::number_unsigned:
      out += std::to_string(j.get<uint64_t>());
      return;
    case Json::value_t::number_float: {
      const double d = j.get<double>();
      out += std::isfinite(d) ? fmt::format("{}", d) : "null";
      return;
    }
    case Json::value_t::string:
      core::AppendJsonString(j.get_ref<const std::string&>(), out);
      return;
    case Json::value_t::array: {
      out += '[';
      bool first = true;
      for (const Json& e : j) {
        if (!first) out += ',';
        first = false;
        AppendCompactJson(e, out);
      }
      out += ']';
      return;
    }
    case Json::value_t::object: {
      out += '{';
      bool first = true;
      for (auto it = j.begin(); it != j.end(); ++it) {
        if (!first) out += ',';
        first = false;
        core::AppendJsonString(it.key(), out);
        out += ':';
        AppendCompactJson(it.value(), out);
      }
      out += '}';
      return;
    }
    default:  // null, discarded, binary
      out += "null";
      return;
  }
}

std::string CompactJson(const nlohmann::ordered_json& j) {
  std::string out;
  AppendCompactJson(j, out);
  return out;
}

}  // namespace twinsim::harness
