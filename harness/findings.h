// RunFindings: the known weaknesses of real frameworks that twinsim reproduces, each with the
// upstream issue or code it concerns, the twinsim command that shows it, and the counterexample
// the property machinery (properties/) finds. `twinsim findings` prints the report; the test
// target //tests:findings_test runs it, so a model change that loses a finding fails a test.
//
// The findings are a registry (Note [Findings registry]): one entry per finding, in findings.cc.
#ifndef TWINSIM_HARNESS_FINDINGS_H_
#define TWINSIM_HARNESS_FINDINGS_H_

#include <functional>
#include <string>
#include <vector>

#include "core/status.h"

namespace twinsim::harness {

// What one reproduction produced.
struct Reproduction {
  bool reproduced = false;     // the weakness showed as expected
  std::string counterexample;  // the shrunk case and the check's explanation, or the figures
};

// Note [Findings registry]
// ~~~~~~~~~~~~~~~~~~~~~~~~
// A finding is data plus one function: `reproduce` builds the smallest case that shows the
// weakness (the one RapidCheck shrinks to in //properties:seed_policy_properties_test, pinned,
// or a fixed scenario for cost findings), runs the library (properties::CheckPolicy or the
// timing-only sim) and says whether the weakness showed. A finding must stay cheap (well under
// a second on the host backend), deterministic, and must not depend on another finding. To add
// one, append an entry to the list in findings.cc; `twinsim findings`, its JSON and
// //tests:findings_test pick it up.
struct Finding {
  std::string id;         // "dtensor-layout-dependence": stable, for --only and JSON
  std::string framework;  // "PyTorch DTensor"
  std::string title;      // what goes wrong, one line
  std::string upstream;   // the issue, PR or file it concerns ("pytorch/pytorch#168058")
  std::string command;    // a twinsim command line that reproduces it
  std::string expected;   // what reproducing means, one line ("parity fails at tp 2")
  std::function<StatusOr<Reproduction>()> reproduce;
};

// The registry, in a stable order.
const std::vector<Finding>& Findings();

struct FindingsRequest {
  std::vector<std::string> only;  // finding ids; empty: every finding
};

struct FindingResult {
  std::string id, framework, title, upstream, command, expected;
  bool reproduced = false;
  std::string counterexample;
  std::string error;  // set when the reproduction could not run (then reproduced is false)
  double wall_s = 0;  // wall-clock time of the reproduction
};

struct FindingsReport {
  std::vector<FindingResult> findings;
  // Every finding reproduced as expected.
  bool AllReproduced() const;
  // One JSON object: {"all_reproduced": bool, "findings": [{id, framework, title, upstream,
  // command, expected, reproduced, counterexample, error, wall_s}, ...]}.
  std::string ToJson() const;
};

// Runs the requested findings in registry order. InvalidArgument naming the known ids when an
// id of request.only is unknown. A reproduction that fails to run is recorded in its result's
// `error`, not returned. Thread-compatible.
StatusOr<FindingsReport> RunFindings(const FindingsRequest& request);

}  // namespace twinsim::harness

#endif  // TWINSIM_HARNESS_FINDINGS_H_
