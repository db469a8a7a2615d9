// libFuzzer target for the size and number strings of the command line (tools/cli/args.h:
// --gpu-memory 24GB, --max-memory 16GiB, --tp 8, --shape 4,1024, --std 0.02): any bytes give
// a value or one error line that starts with the option's name.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "tests/fuzz/spec_fuzz_common.h"
#include "tools/cli/args.h"

namespace {

template <typename T>
void Check(const twinsim::StatusOr<T>& parsed) {
  if (parsed.ok()) return;
  twinsim::fuzz::ExpectOneLineError(parsed.status());
  if (parsed.status().message().rfind("--x:", 0) != 0) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  Check(twinsim::cli::ParseByteSizeWithUnit("--x", text));
  Check(twinsim::cli::ParseUint64("--x", text));
  Check(twinsim::cli::ParseFiniteDouble("--x", text));
  Check(twinsim::cli::ParseShape("--x", text, 1, 8));
  return 0;
}
