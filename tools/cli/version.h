// The twinsim release: the one place its version is written. `twinsim --version` prints
// "twinsim <kVersion>"; reports and result files should take it from here too.
#ifndef TWINSIM_TOOLS_CLI_VERSION_H_
#define TWINSIM_TOOLS_CLI_VERSION_H_

#include <string_view>

namespace twinsim::cli {

inline constexpr std::string_view kProgramName = "twinsim";
inline constexpr std::string_view kVersion = "0.1.0";

}  // namespace twinsim::cli

#endif  // TWINSIM_TOOLS_CLI_VERSION_H_
