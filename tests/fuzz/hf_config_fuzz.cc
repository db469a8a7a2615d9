// libFuzzer target for Hugging Face config.json files (core/hf_config.h ModelSpecFromHfConfig,
// reached the way `--model FILE.json` reaches it, through core/model_file.h): any bytes give a
// validated model or one error line. Configs are built under a 4,096-tensor limit so that an
// execution stays well under a millisecond; the shipped configs' full sizes are
// core:hf_config_test's business (a deepseek-v3 seed is refused by the limit, its mutations with
// fewer layers or experts are built).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/hf_config.h"
#include "core/model_file.h"
#include "tests/fuzz/spec_fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const nlohmann::json doc = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  twinsim::StatusOr<twinsim::core::ModelSpec> model =
      !doc.is_discarded() && doc.is_object() && doc.contains("model_type")
          ? twinsim::core::ModelSpecFromHfConfig(doc, "fuzz.json", "fuzz",
                                                 {.max_tensors = 4096})
          : twinsim::core::ModelSpecFromJsonText(text, "fuzz.json");  // parse errors, others
  if (!model.ok()) {
    twinsim::fuzz::ExpectOneLineError(model.status());
    return 0;
  }
  if (model->params.empty() || !twinsim::core::ValidateModelSpec(*model).ok()) __builtin_trap();
  if (model->NumParams() <= 0) __builtin_trap();
  return 0;
}
