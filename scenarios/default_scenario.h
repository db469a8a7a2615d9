// The default scenario (scenarios/default.toml), compiled into the twinsim binary so that
// `twinsim sweep` with no file runs it wherever the binary is.
#ifndef TWINSIM_SCENARIOS_DEFAULT_SCENARIO_H_
#define TWINSIM_SCENARIOS_DEFAULT_SCENARIO_H_

namespace twinsim::scenarios {

// The text of scenarios/default.toml, NUL-terminated.
extern const char kDefaultScenario[];

// The name it is reported under in messages ("<default>:12: ...").
inline constexpr char kDefaultScenarioPath[] = "scenarios/default.toml";

}  // namespace twinsim::scenarios

#endif  // TWINSIM_SCENARIOS_DEFAULT_SCENARIO_H_
