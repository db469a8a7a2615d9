// The twinsim parameter list: any torch.nn.Module as a ModelSpec, written by tools/dump-params
// (or by hand) and read wherever `--model FILE.json` is accepted.
//
// A JSON object (see Note [Parameter list format] in param_list.cc for every key and default):
//   {"format": "twinsim-params", "version": 1,
//    "name": "MyNet", "num_layers": 2, "num_heads": 0,
//    "params": [
//      {"name": "layers.0.weight", "shape": [256, 128], "dtype": "fp32",
//       "init": "kaiming_uniform:a=2.23606797749979,mode=fan_in,nonlinearity=leaky_relu",
//       "tp": "column", "tp_dim": 0, "layer": 0},
//      {"name": "head.weight", "shape": [1000, 128], "tied_to": "embed.weight", ...}]}
// Parameters are in registration order (what module.named_parameters() yields, a shared tensor
// once, at its first name), since seed policies draw in that order.
#ifndef TWINSIM_CORE_PARAM_LIST_H_
#define TWINSIM_CORE_PARAM_LIST_H_

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "core/model_spec.h"
#include "core/status.h"

namespace twinsim::core {

// The value of "format" and the highest "version" this reader knows.
inline constexpr std::string_view kParamListFormat = "twinsim-params";
inline constexpr int kParamListVersion = 1;

// Builds and validates (ValidateModelSpec) the model a parameter list describes; the
// ModelSpec's name is `name`. Returns InvalidArgument with one line naming `source`, the
// parameter (index and name) and the key: "model file 'net.json': params[3] ('fc.weight'):
// \"shape\" must be an array of positive integers, got [0, 4]". Pure.
StatusOr<ModelSpec> ModelSpecFromParamList(const nlohmann::json& doc, std::string_view source,
                                           std::string name);

// The inverse, for tests and tools: a parameter list that ModelSpecFromParamList reads back
// as `model` (name aside). Pure.
nlohmann::json ParamListFromModelSpec(const ModelSpec& model);

}  // namespace twinsim::core

#endif  // TWINSIM_CORE_PARAM_LIST_H_
