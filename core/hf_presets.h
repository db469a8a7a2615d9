// Model presets built from real Hugging Face config.json files (mixtral-8x7b, qwen3-30b-a3b,
// deepseek-v3), so that `--model deepseek-v3` works without a file at hand.
//
// Each preset's config text is embedded here verbatim as shipped under scenarios/models/
// (hf_config_test checks that the file and the embedded text give the same ModelSpec), and is
// built by ModelSpecFromHfConfig (core/hf_config.h). core/model_presets.h lists them with the
// other presets and routes MakeModel("deepseek-v3...") here.
#ifndef TWINSIM_CORE_HF_PRESETS_H_
#define TWINSIM_CORE_HF_PRESETS_H_

#include <string>
#include <string_view>
#include <vector>

#include "core/model_spec.h"
#include "core/status.h"

namespace twinsim::core {

struct HfPreset {
  std::string_view name;         // "deepseek-v3"
  std::string_view file;         // "scenarios/models/deepseek-v3.json", the shipped copy
  std::string_view origin;       // the Hugging Face Hub repository it reproduces
  std::string_view config_json;  // the file's text
};

// The presets, in a stable order (the order `twinsim show models` lists them).
const std::vector<HfPreset>& HfPresets();
// The preset named `name`, or nullptr.
const HfPreset* FindHfPreset(std::string_view name);

// Builds preset `preset` with top-level config keys overridden, and names the model `text`.
// `overrides` is the text after ':' of a model string ("num_hidden_layers=4,n_routed_experts=8";
// empty for none): each key must be a top-level key of the preset's config holding a number,
// boolean or null, and each value is a JSON literal of one of those kinds. On failure returns
// InvalidArgument, one line starting with the preset's name, naming the key and what was
// expected (with a did-you-mean for near misses). Thread-safe; pure.
StatusOr<ModelSpec> MakeHfPreset(const HfPreset& preset, std::string_view overrides,
                                 std::string text);

}  // namespace twinsim::core

#endif  // TWINSIM_CORE_HF_PRESETS_H_
