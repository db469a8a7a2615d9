// Output: a command's standard output, built in a large buffer and written in blocks.
//
// Commands may print hundreds of millions of values, so formatting is done by hand into one
// buffer (no iostream, no per-value write call). Hex floats match glibc's printf("%a") of the
// value widened to double, which is the format twinsim prints every float in.
#ifndef TWINSIM_TOOLS_CLI_OUTPUT_H_
#define TWINSIM_TOOLS_CLI_OUTPUT_H_

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace twinsim::cli {

// Appends printf("%a", static_cast<double>(value)) as glibc writes it: "0x1.8p-3", "-0x1p+0",
// "0x0p+0", "0x1.fffffep+127", "inf", "-nan". Float subnormals come out normalized, as
// doubles. Pure and thread-safe; avoids snprintf in the per-value loop.
void AppendHexFloat(float value, std::string& out);

// Appends `text` as a JSON string literal (quoted and escaped): core::AppendJsonString.
// REQUIRES: `text` is valid UTF-8 (callers validate user text first; see IsValidUtf8).
void AppendJsonString(std::string_view text, std::string& out);

// True if `text` is valid UTF-8 and so can be written into JSON unchanged.
bool IsValidUtf8(std::string_view text);

class Output {
 public:
  static constexpr size_t kDefaultBlockBytes = size_t{1} << 20;

  // Writes to `file`, which must outlive this object (not owned), whenever about
  // `block_bytes` have been buffered. Not thread-safe.
  explicit Output(std::FILE* file, size_t block_bytes = kDefaultBlockBytes);
  Output(const Output&) = delete;
  Output& operator=(const Output&) = delete;
  // Does not write what is still buffered: call Finish().
  ~Output() = default;

  void Append(std::string_view text) {
    buffer_.append(text);
    MaybeWrite();
  }
  void Append(char c) {
    buffer_.push_back(c);
    MaybeWrite();
  }
  void AppendHexFloat(float value) {
    cli::AppendHexFloat(value, buffer_);
    MaybeWrite();
  }
  void AppendUnsigned(uint64_t value);
  void AppendJsonString(std::string_view text) {
    cli::AppendJsonString(text, buffer_);
    MaybeWrite();
  }

  // False once a write has failed; later output is discarded, so long-running commands may
  // stop early.
  bool ok() const { return error_ == 0; }

  // Writes out (and flushes) everything buffered. Returns Unavailable naming the
  // system error if any write failed.
  Status Finish();

 private:
  void MaybeWrite() {
    if (buffer_.size() >= block_bytes_) WriteBuffer();
  }
  void WriteBuffer();

  std::FILE* file_;
  size_t block_bytes_;
  std::string buffer_;
  int error_ = 0;  // errno of the first failed write
};

// A table with a header row, columns two blanks apart, left-aligned unless marked in `right`;
// trailing blanks of each line are dropped. Every command's text tables.
void PrintTable(Output& out, const std::vector<std::string>& header,
                const std::vector<std::vector<std::string>>& rows, const std::vector<bool>& right);

}  // namespace twinsim::cli

#endif  // TWINSIM_TOOLS_CLI_OUTPUT_H_
