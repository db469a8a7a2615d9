// libFuzzer target for model files (core/model_file.h ModelSpecFromJsonText): the twinsim
// parameter list that tools/dump-params writes, and whatever else a JSON file may hold. Any
// bytes give a model or one error line; a model passed ValidateModelSpec, so its parameter
// count is non-negative and every parameter has a name and a shape of positive dimensions.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/model_file.h"
#include "tests/fuzz/spec_fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  twinsim::StatusOr<twinsim::core::ModelSpec> model =
      twinsim::core::ModelSpecFromJsonText(text, "fuzz.json");
  if (!model.ok()) {
    twinsim::fuzz::ExpectOneLineError(model.status());
    return 0;
  }
  if (model->params.empty() || model->NumParams() < 0) __builtin_trap();
  for (const auto& p : model->params) {
    if (p.name.empty() || p.Numel() < 1) __builtin_trap();
  }
  return 0;
}
