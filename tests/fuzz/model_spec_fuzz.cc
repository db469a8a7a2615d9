// libFuzzer target for model spec strings (core/model_presets.h MakeModel: "gpt2-small",
// "gpt2:n_layer=2,n_embd=64", "llama3:...", "linear:..."): any bytes give a model or one
// error line; a model has parameters, each with a name and a non-negative element count.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/model_presets.h"
#include "tests/fuzz/spec_fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  twinsim::StatusOr<twinsim::core::ModelSpec> model = twinsim::core::MakeModel(text);
  if (!model.ok()) {
    twinsim::fuzz::ExpectOneLineError(model.status());
    return 0;
  }
  if (model->params.empty()) __builtin_trap();
  for (const auto& p : model->params) {
    if (p.name.empty() || p.Numel() < 0) __builtin_trap();
  }
  return 0;
}
