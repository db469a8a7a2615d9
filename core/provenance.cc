#include "core/provenance.h"

#include <string>

namespace twinsim::core {

std::string FormatSourceRef(const SourceRef& ref) {
  std::string out = ref.repository;
  if (!ref.release.empty()) out += "@" + ref.release;
  if (!ref.file.empty()) out += " " + ref.file;
  if (ref.first_line > 0) {
    out += ":" + std::to_string(ref.first_line);
    if (ref.last_line > ref.first_line) out += "-" + std::to_string(ref.last_line);
  }
  if (!ref.function.empty()) out += " (" + ref.function + ")";
  return out;
}

}  // namespace twinsim::core
