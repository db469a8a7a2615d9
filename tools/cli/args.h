// Typed parsing of command-line option values for the twinsim tool.
//
// Options are declared to CLI11 as plain text and converted here after parsing, so every bad
// value gets the same kind of message: "--numel: expected a non-negative integer, got '-5'".
// Each function returns InvalidArgument with such a message (the option name first) on failure;
// the dispatcher prefixes the command path and exits with status 2.
#ifndef TWINSIM_TOOLS_CLI_ARGS_H_
#define TWINSIM_TOOLS_CLI_ARGS_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace twinsim::cli {

// An unsigned 64-bit integer in decimal or, with a 0x/0X prefix, in hex. No sign, no spaces,
// no suffix. `expected` describes the value in the error message, e.g. "a non-negative
// integer" or "an unsigned 64-bit seed (decimal or 0x hex)".
StatusOr<uint64_t> ParseUint64(std::string_view option, std::string_view text,
                               std::string_view expected = "a non-negative integer");

// As ParseUint64, but the value must also be <= `max`; the message then names the range.
StatusOr<uint64_t> ParseUint64AtMost(std::string_view option, std::string_view text, uint64_t max,
                                     std::string_view expected = "a non-negative integer");

// A 32-bit word written in hex: 1 to 8 hex digits, optionally prefixed by 0x or 0X.
StatusOr<uint32_t> ParseHexWord32(std::string_view option, std::string_view text);

// Exactly `count` comma-separated 32-bit hex words ("0,0x1,deadbeef").
StatusOr<std::vector<uint32_t>> ParseHexWords32(std::string_view option, std::string_view text,
                                                size_t count);

// A finite double in the syntax strtod accepts for decimal and hex floats ("0.02", "-1e-3",
// "0x1.8p-3"). Rejects inf, nan, empty text and trailing characters.
StatusOr<double> ParseFiniteDouble(std::string_view option, std::string_view text);

// A tensor shape "D0[,D1,...]" of between `min_dims` and `max_dims` non-negative dimensions
// whose product fits in int64_t. Dimensions are decimal only.
StatusOr<std::vector<int64_t>> ParseShape(std::string_view option, std::string_view text,
                                          size_t min_dims, size_t max_dims);

// The text quoted for an error message: 'text', with control characters escaped and long
// text shortened, so that a message always stays on one line.
std::string Quote(std::string_view text);

// `status` (from parsing `option`'s value) as InvalidArgument with "OPTION: " in front.
Status ForOption(std::string_view option, const Status& status);

// The comma-separated items of `text` ("a,b,c"); empty items are kept, to be reported.
std::vector<std::string> SplitList(const std::string& text);

// Checks that `items` (from SplitList of `text`) has no empty or repeated item and that "all",
// if present, stands alone; InvalidArgument naming `option` otherwise.
Status CheckList(std::string_view option, const std::string& text,
                 const std::vector<std::string>& items);

// A byte size as every command accepts it (--gpu-memory, --max-memory, ...): a whole number
// of bytes ("1024"), or a number with a unit, no space: KB MB GB TB (10^3..10^12) or KiB MiB GiB TiB (2^10..2^40), e.g. "24GB", "32GiB",
// "1.5GiB" (a fraction must come to a whole number of bytes). At least 1 byte, at most 2^60.
// InvalidArgument naming `option` otherwise ("--gpu-memory: expected a size like 24GB or
// 32GiB, got '24 GB'").
StatusOr<uint64_t> ParseByteSizeWithUnit(std::string_view option, std::string_view text);

}  // namespace twinsim::cli

#endif  // TWINSIM_TOOLS_CLI_ARGS_H_
