// Models from files: `--model PATH.json` wherever a model is accepted (MakeModel calls
// LoadModelFile for any text ending in ".json").
//
// Two formats, told apart by their content:
//   - a Hugging Face config.json (a JSON object with "model_type"): core/hf_config.h;
//   - a twinsim parameter list (a JSON object with "format": "twinsim-params"), the format
//     tools/dump-params writes from any torch.nn.Module: core/param_list.h.
// Both give a validated ModelSpec whose name is the path as given.
#ifndef TWINSIM_CORE_MODEL_FILE_H_
#define TWINSIM_CORE_MODEL_FILE_H_

#include <string>
#include <string_view>

#include "core/model_spec.h"
#include "core/status.h"

namespace twinsim::core {

// Largest model file read (a parameter list of a 10^5-parameter model is about 20 MiB).
inline constexpr int64_t kMaxModelFileBytes = int64_t{256} << 20;

// True when `text` is to be read as a model file rather than a preset name: it ends in
// ".json". Pure.
bool IsModelFilePath(std::string_view text);

// Where a relative model file is read from: `path` itself when it exists (or is absolute);
// else the same path under $BUILD_WORKSPACE_DIRECTORY (set by `bazel run`); else under the
// binary's runfiles (//:twinsim carries scenarios/models/), so the default sweep's shipped
// config is found wherever twinsim runs. `path` unchanged when none exists. Reads the file
// system and the environment.
std::string ResolveModelFilePath(std::string_view path);

// Reads `path` (resolved by ResolveModelFilePath) and builds the model it describes; the
// ModelSpec's name is `path` as given. Failures are InvalidArgument with one line
// that names the file: "model file 'x.json': no such file", "model file 'x.json': invalid JSON
// at line 3, column 7: ...", "model file 'x.json': not a Hugging Face config (no
// \"model_type\") nor a twinsim parameter list (no \"format\": \"twinsim-params\")", or what
// the format's own reader says. Thread-safe (reads the file; no other state).
StatusOr<ModelSpec> LoadModelFile(std::string_view path);

// The same on text already read; `source` names it in messages. Pure.
StatusOr<ModelSpec> ModelSpecFromJsonText(std::string_view text, std::string_view source);

}  // namespace twinsim::core

#endif  // TWINSIM_CORE_MODEL_FILE_H_
