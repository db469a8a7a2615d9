// Request checks every harness/ request shares: an error re-addressed to the option it came
// from, the command line's list rules, and the model facts the checks need. Internal to
// harness/ (harness/internal/BUILD): the commands see only the requests' Validate().
#ifndef TWINSIM_HARNESS_INTERNAL_CHECKS_H_
#define TWINSIM_HARNESS_INTERNAL_CHECKS_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/model_spec.h"
#include "core/status.h"

namespace twinsim::harness::internal {

// InvalidArgument "<option>: <status's message>".
Status ForOptionOf(std::string_view option, const Status& status);

// The command line's list rules for `items`, the comma-separated names an option was given:
// no empty item, no item twice, and "all" only alone. The message quotes the whole list.
Status CheckNames(std::string_view option, const std::vector<std::string>& items);

// Rows of the model's learned position embedding (GPT-2's wpe); 0 when it has none.
int64_t LearnedPositions(const core::ModelSpec& model);

}  // namespace twinsim::harness::internal

#endif  // TWINSIM_HARNESS_INTERNAL_CHECKS_H_
