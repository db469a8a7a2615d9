#include "scenarios/scenario.h"

// Note [toml++ assertions]
// toml++ 3.3.0 (Debian 12) asserts on some malformed input before reporting it as a parse
// error, e.g. "\n[\n" trips `is_bare_key_character(*cp) || ...` in parse_key() (found by
// //tests:scenario_fuzz_test, pinned in scenario_test.cc). twinsim builds keep assert()
// enabled, so those inputs would abort the sweep. With the assertions compiled out, the same
// parser reports a proper error ("expected bare key starting character ..."), which is what
// the next check in each of these places does anyway. Only toml++'s own TOML_ASSERT is turned
// off; TOML_ASSERT_ASSUME then follows it (not the optimizer's assume) outside NDEBUG.
#define TOML_ASSERT(expr) static_cast<void>(0)
#define TOML_EXCEPTIONS 0
#include <toml++/toml.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/text.h"

namespace twinsim::scenarios {
namespace {

using core::Quote;

// Note [toml++ and non-ASCII text]
// toml++ 3.3.0's is_non_ascii_horizontal_whitespace() reaches __builtin_unreachable() for
// most code points in U+00A0..U+0499 and U+2C6E..U+3067 (Cyrillic, Greek, Latin Extended, ...)
// whenever the parser asks whether such a character is whitespace: between tokens, after a
// line-ending backslash in a """ string, and while quoting the text after a syntax error
// (`x = 0"Б"`). That is undefined behaviour (found by //tests:scenario_fuzz_test under UBSan,
// pinned in scenario_test.cc). So toml++ is only ever handed ASCII: ToAscii() rewrites each
// non-ASCII character inside a string as a \u escape (a literal '...' string becomes the
// equivalent "..." string), inside a comment as '?', and rejects it anywhere else, where TOML
// does not allow it. Line numbers are unchanged; columns may shift after a rewritten string.

// Appends the code point as a TOML basic-string escape.
void AppendEscape(char32_t c, std::string& out) {
  char buffer[16];
  if (c <= 0xFFFF) {
    std::snprintf(buffer, sizeof buffer, "\\u%04X", static_cast<unsigned>(c));
  } else {
    std::snprintf(buffer, sizeof buffer, "\\U%08X", static_cast<unsigned>(c));
  }
  out += buffer;
}

// Decodes the UTF-8 sequence at text[i]; returns its length, or 0 when it is not valid UTF-8.
size_t DecodeUtf8(std::string_view text, size_t i, char32_t& c) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char lead = byte(i);
  size_t length = lead >= 0xF0 && lead <= 0xF4  ? 4
                  : lead >= 0xE0 && lead < 0xF0 ? 3
                  : lead >= 0xC2 && lead < 0xE0 ? 2
                                                : 0;
  if (length == 0 || i + length > text.size()) return 0;
  c = lead & (0x7F >> length);
  for (size_t k = 1; k < length; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
    c = (c << 6) | (byte(i + k) & 0x3F);
  }
  const char32_t min = length == 2 ? 0x80 : length == 3 ? 0x800 : 0x10000;
  if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return 0;
  return length;
}

StatusOr<std::string> ToAscii(std::string_view text, const std::string& path) {
  enum class State { kNormal, kComment, kBasic, kLiteral, kMultiBasic, kMultiLiteral };
  State state = State::kNormal;
  int line = 1;
  size_t line_start = 0;
  std::string out;
  out.reserve(text.size());
  const auto bad = [&](size_t at, std::string_view what) {
    return Status::InvalidArgument(path + ":" + std::to_string(line) + ":" +
                                   std::to_string(at - line_start + 1) +
                                   ": TOML syntax: " + std::string(what));
  };
  const auto starts = [&](size_t at, std::string_view s) { return text.substr(at, s.size()) == s; };
  const std::string_view kTripleQuote = "\"\"\"", kTripleApostrophe = "'''";
  size_t i = starts(0, "\xEF\xBB\xBF") ? 3 : 0;  // a UTF-8 byte order mark
  while (i < text.size()) {
    const char c = text[i];
    if (c == '\n') {
      ++line;
      line_start = i + 1;
    }
    if (static_cast<unsigned char>(c) >= 0x80) {
      char32_t code = 0;
      const size_t length = DecodeUtf8(text, i, code);
      if (length == 0) return bad(i, "invalid UTF-8");
      switch (state) {
        case State::kNormal:
          return bad(i, "non-ASCII character outside a string or comment");
        case State::kComment:
          out += '?';
          break;
        default:
          AppendEscape(code, out);
      }
      i += length;
      continue;
    }
    switch (state) {
      case State::kNormal:
        if (c == '#') {
          state = State::kComment;
        } else if (starts(i, kTripleQuote)) {
          state = State::kMultiBasic;
          out += kTripleQuote;
          i += 3;
          continue;
        } else if (c == '"') {
          state = State::kBasic;
        } else if (starts(i, kTripleApostrophe)) {
          state = State::kMultiLiteral;
          out += kTripleQuote;
          i += 3;
          continue;
        } else if (c == '\'') {
          state = State::kLiteral;
          out += '"';
          ++i;
          continue;
        }
        break;
      case State::kComment:
        if (c == '\n') state = State::kNormal;
        break;
      case State::kBasic:
      case State::kMultiBasic:
        if (c == '\\' && i + 1 < text.size()) {
          if (static_cast<unsigned char>(text[i + 1]) >= 0x80) {
            return bad(i, "invalid escape: a backslash before a non-ASCII character");
          }
          // The escaped character, or the first whitespace after a line-ending backslash.
          out += c;
          out += text[i + 1];
          if (text[i + 1] == '\n') {
            ++line;
            line_start = i + 2;
          }
          i += 2;
          continue;
        }
        if (state == State::kBasic && (c == '"' || c == '\n')) {
          state = State::kNormal;
        } else if (state == State::kMultiBasic && starts(i, kTripleQuote)) {
          size_t quotes = 3;  // """"" ends with up to two quotes of content
          while (i + quotes < text.size() && text[i + quotes] == '"' && quotes < 5) ++quotes;
          out += std::string(quotes, '"');
          i += quotes;
          state = State::kNormal;
          continue;
        }
        break;
      case State::kLiteral:
      case State::kMultiLiteral:
        // Rewritten as a basic string: what a basic string would read as special is escaped.
        if (state == State::kLiteral && (c == '\'' || c == '\n')) {
          out += c == '\'' ? '"' : c;
          state = State::kNormal;
          ++i;
          continue;
        }
        if (state == State::kMultiLiteral && starts(i, kTripleApostrophe)) {
          size_t quotes = 3;
          while (i + quotes < text.size() && text[i + quotes] == '\'' && quotes < 5) ++quotes;
          out += std::string(quotes - 3, '\'');
          out += kTripleQuote;
          i += quotes;
          state = State::kNormal;
          continue;
        }
        if (c == '\\' || c == '"') out += '\\';
        break;
    }
    out += c;
    ++i;
  }
  return out;
}

constexpr std::string_view kTopLevelKeys[] = {"name", "description", "case_timeout", "models",
                                              "clusters"};


// The alias tables ([models], [clusters]) and the option key each applies to.
constexpr std::pair<std::string_view, std::string_view> kAliasTables[] = {{"models", "model"},
                                                                          {"clusters", "cluster"}};

// An integer or float node as the file wrote it (near enough for a message).
std::string NumberText(const toml::node& node) {
  if (node.is_integer()) return std::to_string(*node.value<int64_t>());
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%g", *node.value<double>());
  return buffer;
}

std::string TypeName(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "a list";
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a float";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::date:
    case toml::node_type::time:
    case toml::node_type::date_time:
      return "a date/time";
    default:
      return "nothing";
  }
}

// toml++'s messages quote the text they saw, raw: escape control characters so that the
// message stays on one line.
std::string OneLine(std::string_view text) {
  std::string line;
  for (const char c : text) {
    if (c == '\n') {
      line += "\\n";
    } else if (c == '\r') {
      line += "\\r";
    } else if (c == '\t') {
      line += "\\t";
    } else if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x", static_cast<unsigned char>(c));
      line += hex;
    } else {
      line += c;
    }
  }
  return line;
}

int LineOf(const toml::node& node) { return static_cast<int>(node.source().begin.line); }

uint64_t Fnv1a64(std::string_view bytes, uint64_t hash = 0xcbf29ce484222325ULL) {
  for (const char c : bytes) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 0x100000001b3ULL;
  }
  return hash;
}

// Builds the error messages of one file.
class Errors {
 public:
  explicit Errors(std::string_view path) : path_(path) {}
  Status At(int line, std::string_view key, std::string_view message) const {
    return Status::InvalidArgument(path_ + ":" + std::to_string(line) + ": " + std::string(key) +
                                   ": " + std::string(message));
  }

 private:
  std::string path_;
};

// One key of a block after conversion: the alternatives it sweeps over (one when not a list).
struct SweptKey {
  std::string key;
  std::vector<CaseOption> values;
};

class Parser {
 public:
  Parser(std::string_view path, const std::vector<CommandSchema>& schemas)
      : errors_(path), schemas_(schemas) {
    scenario_.path = std::string(path);
  }

  StatusOr<Scenario> Parse(std::string_view text) {
    // Note [toml++ and non-ASCII text]
    StatusOr<std::string> ascii = ToAscii(text, scenario_.path);
    if (!ascii.ok()) return ascii.status();
    toml::parse_result parsed = toml::parse(*ascii, scenario_.path);
    if (!parsed) {
      const toml::parse_error& e = parsed.error();
      return Status::InvalidArgument(scenario_.path + ":" + std::to_string(e.source().begin.line) +
                                     ":" + std::to_string(e.source().begin.column) +
                                     ": TOML syntax: " + OneLine(e.description()));
    }
    const toml::table& root = parsed.table();
    std::vector<std::string> top_keys(std::begin(kTopLevelKeys), std::end(kTopLevelKeys));
    for (const CommandSchema& schema : schemas_) top_keys.push_back(schema.command);

    // Blocks of every command, in file order.
    struct Block {
      const CommandSchema* schema;
      const toml::table* table;
    };
    std::vector<Block> blocks;
    for (auto&& [key, node] : root) {
      const std::string k(key.str());
      const int line = static_cast<int>(key.source().begin.line);
      if (k == "name" || k == "description") {
        if (!node.is_string()) {
          return errors_.At(line, k, "expected a string, got " + TypeName(node));
        }
        (k == "name" ? scenario_.name : scenario_.description) = *node.value<std::string>();
        continue;
      }
      if (k == "case_timeout") {
        const std::optional<double> seconds = node.value<double>();
        if (!(node.is_integer() || node.is_floating_point()) || !seconds ||
            !(*seconds > 0 && *seconds <= kMaxCaseTimeoutS)) {
          return errors_.At(line, k,
                            "expected seconds, a number > 0 and at most 604800 (a week), got " +
                                (node.is_integer() || node.is_floating_point()
                                     ? NumberText(node)
                                     : TypeName(node)));
        }
        scenario_.case_timeout_s = *seconds;
        continue;
      }
      if (k == "models" || k == "clusters") {
        TWINSIM_RETURN_IF_ERROR(ReadAliases(k, node, line));
        continue;
      }
      const CommandSchema* schema = FindSchema(k);
      if (schema == nullptr) {
        return errors_.At(line, k,
                          "unknown top-level key" + DidYouMean(k, top_keys) + "; expected " +
                              JoinQuoted(top_keys));
      }
      const toml::array* array = node.as_array();
      if (array == nullptr) {
        return errors_.At(
            line, k,
            "expected blocks written [[" + k + "]] (a list of tables), got " + TypeName(node));
      }
      if (array->empty()) {
        return errors_.At(line, k, "expected at least one [[" + k + "]] table, got an empty list");
      }
      for (const toml::node& element : *array) {
        if (!element.is_table()) {
          return errors_.At(
              LineOf(element), k,
              "expected each [[" + k + "]] block to be a table, got " + TypeName(element));
        }
        blocks.push_back({schema, element.as_table()});
      }
    }
    std::stable_sort(blocks.begin(), blocks.end(), [](const Block& a, const Block& b) {
      return LineOf(*a.table) < LineOf(*b.table);
    });
    if (blocks.empty()) {
      return errors_.At(1, "scenario",
                        "no cases; expected at least one block such as [[" +
                            (schemas_.empty() ? std::string("init") : schemas_[0].command) + "]]");
    }
    for (const Block& block : blocks) {
      TWINSIM_RETURN_IF_ERROR(ExpandBlock(*block.schema, *block.table));
    }
    return std::move(scenario_);
  }

 private:
  static std::string DidYouMean(std::string_view word, const std::vector<std::string>& options) {
    std::vector<std::string_view> views(options.begin(), options.end());
    return core::DidYouMean(word, views);
  }

  static std::string JoinQuoted(const std::vector<std::string>& items) {
    std::string joined;
    for (const std::string& item : items) joined += (joined.empty() ? "" : ", ") + Quote(item);
    return joined;
  }

  const CommandSchema* FindSchema(std::string_view command) const {
    for (const CommandSchema& s : schemas_) {
      if (s.command == command) return &s;
    }
    return nullptr;
  }

  // [models] / [clusters]: NAME = "text" or NAME = { preset = "...", key = value }.
  Status ReadAliases(const std::string& table_key, const toml::node& node, int line) {
    const toml::table* table = node.as_table();
    if (table == nullptr) {
      return errors_.At(line, table_key,
                        "expected a table of NAME = \"spec\" entries, got " + TypeName(node));
    }
    std::string option_key;
    for (const auto& [t, o] : kAliasTables) {
      if (t == table_key) option_key = std::string(o);
    }
    for (auto&& [name, value] : *table) {
      const std::string path = table_key + "." + std::string(name.str());
      if (value.is_string()) {
        aliases_[option_key][std::string(name.str())] = *value.value<std::string>();
        continue;
      }
      StatusOr<std::string> spec = InlineSpec(path, value);
      if (!spec.ok()) return spec.status();
      aliases_[option_key][std::string(name.str())] = *spec;
    }
    return Status::Ok();
  }

  // An inline table { preset = "dgx-h100", nodes = 2 } (or family = "gpt2", ...) as the
  // command-line text "dgx-h100:nodes=2".
  StatusOr<std::string> InlineSpec(const std::string& path, const toml::node& node) const {
    const toml::table* table = node.as_table();
    if (table == nullptr) {
      return errors_.At(
          LineOf(node), path,
          "expected a string or an inline table with 'preset' or 'family', got " + TypeName(node));
    }
    std::string head, rest;
    for (auto&& [key, value] : *table) {
      const std::string k(key.str());
      const int line = static_cast<int>(key.source().begin.line);
      if (k == "preset" || k == "family") {
        if (!value.is_string()) {
          return errors_.At(line, path + "." + k, "expected a string, got " + TypeName(value));
        }
        if (!head.empty()) {
          return errors_.At(line, path + "." + k, "expected only one of 'preset' and 'family'");
        }
        head = *value.value<std::string>();
        continue;
      }
      StatusOr<std::string> text = ScalarText(path + "." + k, value, line);
      if (!text.ok()) return text.status();
      rest += (rest.empty() ? "" : ",") + k + "=" + *text;
    }
    if (head.empty()) {
      return errors_.At(
          LineOf(node), path,
          "expected 'preset' or 'family' in the inline table, e.g. { family = \"gpt2\", "
          "n_layer = 2 } or { preset = \"dgx-h100\", nodes = 2 }");
    }
    return rest.empty() ? head : head + ":" + rest;
  }

  // A string, integer or float as command-line text.
  StatusOr<std::string> ScalarText(const std::string& path, const toml::node& node,
                                   int line) const {
    if (const auto* s = node.as_string()) return s->get();
    if (const auto* i = node.as_integer()) return std::to_string(i->get());
    if (const auto* f = node.as_floating_point()) {
      const double v = f->get();
      if (!std::isfinite(v)) {
        return errors_.At(
            line, path,
            "expected a finite number, got " + std::string(std::isnan(v) ? "nan" : "inf"));
      }
      char buffer[64];
      const auto result = std::to_chars(buffer, buffer + sizeof buffer, v);
      return std::string(buffer, result.ptr);
    }
    return errors_.At(line, path, "expected a string or a number, got " + TypeName(node));
  }

  // One value of option `option` (not a list).
  StatusOr<CaseOption> OptionValue(const std::string& path, const OptionSchema& option,
                                   const toml::node& node) const {
    const int line = LineOf(node);
    if (option.flag) {
      if (!node.is_boolean()) {
        return errors_.At(
            line, path,
            "expected true or false (--" + option.key + " is a flag), got " + TypeName(node));
      }
      return CaseOption{option.key, "", true, *node.value<bool>(), line};
    }
    if (node.is_boolean()) {
      return errors_.At(
          line, path,
          "expected a value for --" + option.key + " (a string or a number), got a boolean");
    }
    std::string text;
    if (node.is_table()) {
      StatusOr<std::string> spec = InlineSpec(path, node);
      if (!spec.ok()) return spec.status();
      text = *spec;
    } else {
      StatusOr<std::string> scalar = ScalarText(path, node, line);
      if (!scalar.ok()) return scalar.status();
      text = *scalar;
      if (const auto a = aliases_.find(option.key); a != aliases_.end() && node.is_string()) {
        if (const auto found = a->second.find(text); found != a->second.end()) {
          text = found->second;
        }
      }
    }
    return CaseOption{option.key, std::move(text), false, true, line};
  }

  // Reads the keys of a block or case table into `keys` (replacing keys already there).
  Status ReadKeys(const CommandSchema& schema, const toml::table& table, const std::string& where,
                  std::vector<SweptKey>& keys, std::string& label, bool& trace, int& trace_line,
                  const toml::array** cases) {
    std::vector<std::string> known;
    for (const OptionSchema& o : schema.options) known.push_back(o.key);
    known.push_back(std::string(kLabelKey));
    if (cases != nullptr) known.push_back(std::string(kCaseKey));

    for (auto&& [key, node] : table) {
      const std::string k(key.str());
      const std::string path = where + "." + k;
      const int line = static_cast<int>(key.source().begin.line);
      if (k == kCaseKey && cases != nullptr) {
        *cases = node.as_array();
        if (*cases == nullptr || (*cases)->empty()) {
          return errors_.At(line, path,
                            "expected [[" + where +
                                ".case]] tables (a non-empty list of tables), "
                                "got " +
                                (node.is_array() ? "an empty list" : TypeName(node)));
        }
        continue;
      }
      if (k == kLabelKey) {
        if (!node.is_string()) {
          return errors_.At(line, path, "expected a string, got " + TypeName(node));
        }
        label = *node.value<std::string>();
        continue;
      }
      if (k == kJsonKey) {
        return errors_.At(line, path,
                          "set by the sweep itself (every case runs with --json); remove it");
      }
      const OptionSchema* option = nullptr;
      for (const OptionSchema& o : schema.options) {
        if (o.key == k) option = &o;
      }
      if (k == kTraceKey && option != nullptr) {
        if (!node.is_boolean()) {
          return errors_.At(line, path,
                            "expected true or false (the sweep writes the trace to "
                            "traces/<case-id>.json), got " +
                                TypeName(node));
        }
        trace = *node.value<bool>();
        trace_line = line;
        continue;
      }
      if (option == nullptr) {
        return errors_.At(line, path,
                          "unknown key" + DidYouMean(k, known) +
                              "; expected an option of twinsim " + schema.command +
                              " (see 'twinsim " + schema.command + " --help') or label" +
                              (cases != nullptr ? ", case" : ""));
      }
      SweptKey swept{k, {}};
      if (const toml::array* list = node.as_array()) {
        if (list->empty()) {
          return errors_.At(line, path, "expected at least one value, got an empty list");
        }
        for (const toml::node& element : *list) {
          if (element.is_array()) {
            return errors_.At(LineOf(element), path,
                              "expected a value in the list, got a nested list");
          }
          StatusOr<CaseOption> value = OptionValue(path, *option, element);
          if (!value.ok()) return value.status();
          for (const CaseOption& seen : swept.values) {
            if (seen.value == value->value && seen.set == value->set) {
              return errors_.At(value->line, path,
                                "the list repeats " +
                                    (option->flag ? std::string(value->set ? "true" : "false")
                                                  : Quote(value->value)) +
                                    "; expected distinct values");
            }
          }
          swept.values.push_back(std::move(*value));
        }
      } else {
        StatusOr<CaseOption> value = OptionValue(path, *option, node);
        if (!value.ok()) return value.status();
        swept.values.push_back(std::move(*value));
      }
      auto existing =
          std::find_if(keys.begin(), keys.end(), [&](const SweptKey& s) { return s.key == k; });
      if (existing != keys.end()) {
        *existing = std::move(swept);
      } else {
        keys.push_back(std::move(swept));
      }
    }
    return Status::Ok();
  }

  Status ExpandBlock(const CommandSchema& schema, const toml::table& block) {
    std::vector<SweptKey> base;
    std::string base_label;
    bool base_trace = false;
    int base_trace_line = 0;
    const toml::array* cases = nullptr;
    TWINSIM_RETURN_IF_ERROR(ReadKeys(schema, block, schema.command, base, base_label, base_trace,
                                     base_trace_line, &cases));
    std::vector<const toml::table*> case_tables;
    if (cases != nullptr) {
      for (const toml::node& c : *cases) {
        if (!c.is_table()) {
          return errors_.At(LineOf(c), schema.command + ".case",
                            "expected a table, got " + TypeName(c));
        }
        case_tables.push_back(c.as_table());
      }
    } else {
      case_tables.push_back(nullptr);
    }
    for (const toml::table* case_table : case_tables) {
      std::vector<SweptKey> keys = base;
      std::string label = base_label;
      bool trace = base_trace;
      int trace_line = base_trace_line;
      const int line = LineOf(case_table != nullptr ? *case_table : block);
      if (case_table != nullptr) {
        TWINSIM_RETURN_IF_ERROR(ReadKeys(schema, *case_table, schema.command + ".case", keys, label,
                                         trace, trace_line, nullptr));
      }
      // Declaration order, so that the expansion does not depend on how the file orders keys.
      std::vector<const SweptKey*> ordered;
      for (const OptionSchema& o : schema.options) {
        const auto it = std::find_if(keys.begin(), keys.end(),
                                     [&](const SweptKey& s) { return s.key == o.key; });
        if (it != keys.end()) {
          ordered.push_back(&*it);
        } else if (o.required) {
          return errors_.At(line, schema.command,
                            "missing key '" + o.key + "' (--" + o.key + " is required by twinsim " +
                                schema.command + ")");
        }
      }
      int64_t count = 1;
      for (const SweptKey* k : ordered) {
        count *= static_cast<int64_t>(k->values.size());
        if (count + static_cast<int64_t>(scenario_.cases.size()) > kMaxCases) {
          return errors_.At(line, schema.command,
                            "expands to more than " + std::to_string(kMaxCases) +
                                " cases; expected fewer values in its lists");
        }
      }
      // The cartesian product, the first key varying slowest.
      std::vector<size_t> digit(ordered.size(), 0);
      for (int64_t n = 0; n < count; ++n) {
        ScenarioCase c;
        c.command = schema.command;
        c.label = label;
        c.trace = trace;
        c.trace_line = trace_line;
        c.line = line;
        c.index = static_cast<int>(scenario_.cases.size());
        for (size_t k = 0; k < ordered.size(); ++k) {
          const CaseOption& option = ordered[k]->values[digit[k]];
          if (option.set) c.options.push_back(option);
        }
        for (size_t k = ordered.size(); k-- > 0;) {
          if (++digit[k] < ordered[k]->values.size()) break;
          digit[k] = 0;
        }
        uint64_t hash = Fnv1a64(c.command);
        for (const std::string& arg : c.Arguments())
          hash = Fnv1a64(std::string(1, '\0') + arg, hash);
        if (c.trace) hash = Fnv1a64(std::string_view("\0--trace", 8), hash);
        char hex[17];
        std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(hash));
        c.id = c.command + "-" + std::string(hex, 12);
        if (const auto [seen, inserted] = ids_.emplace(c.id, c.line); !inserted) {
          return errors_.At(c.line, schema.command,
                            "a case repeats the one from line " + std::to_string(seen->second) +
                                " (same command and options); expected each case once");
        }
        scenario_.cases.push_back(std::move(c));
      }
    }
    return Status::Ok();
  }

  Errors errors_;
  const std::vector<CommandSchema>& schemas_;
  Scenario scenario_;
  std::map<std::string, std::map<std::string, std::string>> aliases_;  // option key -> name -> spec
  std::map<std::string, int> ids_;                                     // case id -> line
};

}  // namespace

std::vector<std::string> ScenarioCase::Arguments() const {
  std::vector<std::string> args;
  for (const CaseOption& o : options) {
    if (!o.set) continue;
    args.push_back("--" + o.key);
    if (!o.is_flag) args.push_back(o.value);
  }
  return args;
}

int ScenarioCase::LineOf(std::string_view key) const {
  if (key == kTraceKey && trace) return trace_line;
  for (const CaseOption& o : options) {
    if (o.key == key) return o.line;
  }
  return line;
}

StatusOr<Scenario> ParseScenario(std::string_view text, std::string_view path,
                                 const std::vector<CommandSchema>& schemas) {
  return Parser(path, schemas).Parse(text);
}

StatusOr<Scenario> LoadScenario(const std::string& path,
                                const std::vector<CommandSchema>& schemas) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound(path + ": cannot read the scenario file");
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return Status::NotFound(path + ": reading the scenario file failed");
  return ParseScenario(text.str(), path, schemas);
}

StatusOr<CaseFilter> CaseFilter::Parse(std::string_view expression) {
  CaseFilter filter;
  size_t begin = 0;
  while (begin < expression.size()) {
    if (expression[begin] == ' ') {
      ++begin;
      continue;
    }
    size_t end = expression.find(' ', begin);
    if (end == std::string_view::npos) end = expression.size();
    const std::string_view term = expression.substr(begin, end - begin);
    begin = end;
    Term t;
    size_t op = term.find_first_of("=!~");
    if (op == std::string_view::npos || op == 0) {
      return Status::InvalidArgument("--filter: expected KEY=VALUE, KEY!=VALUE or KEY~TEXT, got " +
                                     Quote(term));
    }
    t.key = std::string(term.substr(0, op));
    if (term[op] == '!') {
      if (op + 1 >= term.size() || term[op + 1] != '=') {
        return Status::InvalidArgument("--filter: expected '!=' in " + Quote(term));
      }
      t.op = Term::Op::kNotEquals;
      t.value = std::string(term.substr(op + 2));
    } else {
      t.op = term[op] == '=' ? Term::Op::kEquals : Term::Op::kContains;
      t.value = std::string(term.substr(op + 1));
    }
    filter.terms_.push_back(std::move(t));
  }
  if (filter.terms_.empty()) {
    return Status::InvalidArgument("--filter: expected at least one KEY=VALUE term, got ''");
  }
  return filter;
}

bool CaseFilter::Matches(const ScenarioCase& c) const {
  for (const Term& t : terms_) {
    std::optional<std::string> value;
    if (t.key == "command") {
      value = c.command;
    } else if (t.key == "id") {
      value = c.id;
    } else if (t.key == "label") {
      value = c.label;
    } else {
      for (const CaseOption& o : c.options) {
        if (o.key == t.key) value = o.is_flag ? "true" : o.value;
      }
    }
    const std::string v = value.value_or("");
    switch (t.op) {
      case Term::Op::kEquals:
        if (!value || v != t.value) return false;
        break;
      case Term::Op::kNotEquals:
        if (value && v == t.value) return false;
        break;
      case Term::Op::kContains:
        if (!value || v.find(t.value) == std::string::npos) return false;
        break;
    }
  }
  return true;
}

}  // namespace twinsim::scenarios
