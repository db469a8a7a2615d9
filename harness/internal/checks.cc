#include "harness/internal/checks.h"

#include "core/text.h"

namespace twinsim::harness::internal {

Status ForOptionOf(std::string_view option, const Status& status) {
  return Status::InvalidArgument(std::string(option) + ": " + std::string(status.message()));
}

Status CheckNames(std::string_view option, const std::vector<std::string>& items) {
  std::string text;
  for (size_t i = 0; i < items.size(); ++i) text += (i ? "," : "") + items[i];
  for (size_t i = 0; i < items.size(); ++i) {
    if (items[i].empty()) {
      return Status::InvalidArgument(std::string(option) +
                                     ": expected comma-separated names without empty items, got " +
                                     core::Quote(text));
    }
    if (items[i] == "all" && items.size() > 1) {
      return Status::InvalidArgument(std::string(option) + ": 'all' must stand alone, got " +
                                     core::Quote(text));
    }
    for (size_t j = 0; j < i; ++j) {
      if (items[j] == items[i]) {
        return Status::InvalidArgument(std::string(option) + ": " + core::Quote(items[i]) +
                                       " given twice");
      }
    }
  }
  return Status::Ok();
}

int64_t LearnedPositions(const core::ModelSpec& model) {
  for (const core::ParamSpec& p : model.params) {
    if (p.role == core::ParamRole::kEmbedding && p.name.find("wpe") != std::string::npos &&
        !p.shape.empty()) {
      return p.shape[0];
    }
  }
  return 0;
}

}  // namespace twinsim::harness::internal
