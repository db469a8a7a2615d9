// Text helpers for twinsim's error messages and its "HEAD[:key=value,...]" argument syntax
// (--dist normal:std=0.02, --model gpt2:n_layer=2, --cluster dgx-h100:nodes=4).
//
// One implementation, so every parser words the same mistake the same way.
#ifndef TWINSIM_CORE_TEXT_H_
#define TWINSIM_CORE_TEXT_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace twinsim::core {

// 'text', for naming a user's input in a message: control characters written \xNN and text
// past 80 bytes cut with "...", so that a message stays one line whatever the input.
std::string Quote(std::string_view text);
// 12345678 as "12,345,678" (and -1234 as "-1,234"): the one digit-grouping formatter of the
// command line's text output.
std::string Thousands(int64_t v);
// "a, b, c".
std::string Join(const std::vector<std::string_view>& items);
// Edit distance with adjacent transpositions, case-insensitive.
int EditDistance(std::string_view a, std::string_view b);
// " (did you mean 'x'?)" for the candidate nearest to `word` within max(2, |x| / 3) edits;
// "" when none is that close.
std::string DidYouMean(std::string_view word, const std::vector<std::string_view>& candidates);

struct KeyValue {
  std::string_view key;
  std::string_view value;
};

// Splits `rest`, the text after the ':' of `whole`, into key=value items in order. Syntax errors
// only (the caller checks keys and values), each InvalidArgument starting with `prefix`:
//   "<prefix>: expected key=value after ':'" (+ " (keys: a, b)" when `keys` is not empty)
//   "<prefix>: trailing ',' in '<whole>'"
//   "<prefix>: expected key=value, got '<item>'"
//   "<prefix>: key '<key>' given twice"
// The returned views point into `rest`. Pure; thread-safe.
StatusOr<std::vector<KeyValue>> SplitKeyValues(std::string_view rest, std::string_view prefix,
                                               std::string_view whole,
                                               const std::vector<std::string_view>& keys);

}  // namespace twinsim::core

#endif  // TWINSIM_CORE_TEXT_H_
