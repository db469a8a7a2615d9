// JSON string literals for everything twinsim writes as JSON by hand: the CLI's reports
// (tools/cli/output.h) and the sim's Perfetto traces (sim/trace.h). One escaper, so both
// agree on every byte.
#ifndef TWINSIM_CORE_JSON_H_
#define TWINSIM_CORE_JSON_H_

#include <string>
#include <string_view>

namespace twinsim::core {

// Appends `text` as a JSON string literal: quoted, with '"', '\\', '\n', '\t' and '\r' escaped
// as such and every other control character below 0x20 as \u00XX. Bytes >= 0x20 are copied
// unchanged, so valid UTF-8 stays valid (callers validate user text first). Pure.
void AppendJsonString(std::string_view text, std::string& out);
// The same, as a new string.
std::string JsonString(std::string_view text);
// Whether `text` is well-formed UTF-8 (no overlong forms, surrogates or code points past
// U+10FFFF): what AppendJsonString requires of its input. Pure.
bool IsValidUtf8(std::string_view text);

}  // namespace twinsim::core

#endif  // TWINSIM_CORE_JSON_H_
