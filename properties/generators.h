// RapidCheck generators for twinsim's property tests: small models of every preset family,
// the parallel layouts ParallelLayout::Make accepts for them, and root seeds.
//
// Generators build valid values directly (no RC_PRE filtering) and shrink toward the smallest
// model (one layer, narrow, small vocab) and the trivial layout tp = pp = dp = 1, so a failing
// property reports a minimal counterexample. Describe() prints one value on one line.
#ifndef TWINSIM_PROPERTIES_GENERATORS_H_
#define TWINSIM_PROPERTIES_GENERATORS_H_

#include <rapidcheck.h>

#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>

#include "core/model_spec.h"
#include "core/parallel_layout.h"

namespace twinsim::properties {

// A random small model: gpt2 (1-6 layers, n_embd = n_head * head_dim up to 96, odd widths
// included), llama3 (GQA with n_kv_heads dividing n_heads) or linear-stack (1-6 nn.Linear
// layers of width 1..96); vocab 17..300, tied and untied embeddings; or a mixture of experts
// (qwen3_moe, mixtral or deepseek_v3 from their Hugging Face presets with shrinking overrides:
// 1-3 layers, 2, 4 or 8 experts, deepseek's MLA and dense first layer). ModelSpec::name is the
// --model text that rebuilds it ("gpt2:n_layer=2,n_embd=12,..."), so a counterexample can be
// replayed with core::MakeModel. Every generated model passes core::ValidateModelSpec.
// Shrinks toward a one-layer gpt2 of the smallest sizes.
rc::Gen<core::ModelSpec> GenModel();

// A layout ParallelLayout::Make(config, model) accepts: tp in 1..8 and no larger than any
// column / row split dimension of `model`, pp * vpp <= num_layers (vpp > 1 only with pp > 1),
// dp in 1..4 with ep dividing dp and the model's expert count, both partition modes, vocab_divisible_by in {1, 2, 128}.
// REQUIRES: ValidateModelSpec(model).ok(). Shrinks toward tp = pp = dp = ep = vpp = 1,
// kByLayers, vocab_divisible_by = 1.
rc::Gen<core::LayoutConfig> GenLayout(const core::ModelSpec& model);
// As GenLayout, with the axes FSDP2 / HSDP and context parallelism add: cp (2 one time in four),
// dp_shard (a divisor of dp) and the mesh convention (Note [Sharded data parallelism] in
// core/parallel_layout.h), and for MoE models Megatron's etp (Note [Expert parallelism]).
rc::Gen<core::LayoutConfig> GenLayoutAllAxes(const core::ModelSpec& model);

// A root seed: any uint64_t, shrinking toward 0.
rc::Gen<uint64_t> GenSeed();

// The family of a generated (or preset) model: the text of ModelSpec::name before ':'.
std::string_view ModelFamily(const core::ModelSpec& model);

// One-line descriptions for counterexamples: the model's --model text with its layer and
// parameter counts; "tp=2 pp=1 vpp=1 dp=1 ep=1 partition=layers vocab_divisible_by=1".
std::string Describe(const core::ModelSpec& model);
std::string Describe(const core::LayoutConfig& config);

}  // namespace twinsim::properties

namespace twinsim::core {
// RapidCheck prints generated values through showValue (found by ADL): Describe()'s text, so a
// counterexample shows the --model text and the layout rather than "<???>".
void showValue(const ModelSpec& model, std::ostream& os);
void showValue(const LayoutConfig& config, std::ostream& os);
}  // namespace twinsim::core

#endif  // TWINSIM_PROPERTIES_GENERATORS_H_
