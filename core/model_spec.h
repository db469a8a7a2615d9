// ModelSpec and ParamSpec: a model as twinsim sees it — every parameter with its stable name,
// shape, storage dtype, init rule and how tensor parallelism splits it — in registration order.
//
// Seed policies derive streams from names and shapes, ParallelLayout (core/parallel_layout.h)
// assigns parameters to pipeline stages and TP shards, and placement packs them into chunks, so
// presets follow the real models' names, shapes and order (Hugging Face GPT2LMHeadModel,
// Llama 3, ...). Presets and the --model syntax live in core/model_presets.h.
#ifndef TWINSIM_CORE_MODEL_SPEC_H_
#define TWINSIM_CORE_MODEL_SPEC_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/dtype.h"
#include "core/init_spec.h"
#include "core/status.h"

namespace twinsim::core {


// How Megatron-style tensor parallelism splits a parameter over the TP ranks.
enum class TpSplit : uint8_t {
  kReplicated,  // every TP rank holds the whole tensor (LayerNorm, biases of row-parallel layers)
  kColumn,      // ColumnParallelLinear: the output-feature dimension is split
  kRow,         // RowParallelLinear: the input-feature dimension is split
  kVocab,       // VocabParallelEmbedding / parallel LM head: the vocabulary dimension is split
};

// Where a parameter sits in the model, which decides its pipeline stage.
enum class ParamRole : uint8_t {
  kEmbedding,  // token / position embeddings: first stage
  kLayer,      // inside transformer block `layer`
  kFinalNorm,  // final norm: last stage
  kHead,       // LM head (possibly tied to the embedding): last stage
};

struct ParamSpec {
  std::string name;            // stable name, e.g. "transformer.h.0.attn.c_attn.weight"
  std::vector<int64_t> shape;  // as the framework stores it, row-major
  DType dtype = DType::kFp32;  // storage dtype as the framework allocates it
  InitSpec init;  // fan_in / fan_out filled in where the rule needs them
  TpSplit tp_split = TpSplit::kReplicated;
  int tp_dim = -1;  // the dimension of `shape` that TP splits; -1 when replicated
  ParamRole role = ParamRole::kLayer;
  int layer = -1;       // transformer block index for kLayer, else -1
  int expert = -1;      // MoE expert index, else -1
  std::string tied_to;  // name of the parameter this one shares storage with, or ""

  // Product of `shape` (1 for a scalar, shape {}). REQUIRES: the product fits int64_t, which
  // ValidateModelSpec checks.
  int64_t Numel() const;
};

struct ModelSpec {
  std::string name;               // "gpt2-small", "llama3-8b", "gpt2:n_layer=2,n_embd=128,..."
  int num_layers = 0;             // transformer blocks
  int num_heads = 0;              // attention heads per block; 0 when the model has none
  std::vector<ParamSpec> params;  // registration order

  // Total elements; a tied parameter (tied_to non-empty) is counted once, as
  // torch's model.parameters() counts shared storage once (GPT-2 small: 124,439,808).
  // REQUIRES: the total fits int64_t (ValidateModelSpec checks it).
  int64_t NumParams() const;
  // Index of the parameter named `name` in params, or -1. Linear in params.size().
  int Find(std::string_view name) const;
};

// Lower-case names for messages and reports: "column", "layer", ... (dtypes: DTypeName).
std::string_view TpSplitName(TpSplit split);
std::string_view ParamRoleName(ParamRole role);
// "[768, 2304]"; "[]" for a scalar.
std::string FormatShape(const std::vector<int64_t>& shape);

// Checks that `model` is self-consistent, so that layouts and policies may rely on it:
// at least one parameter; names non-empty and unique; every dimension >= 1 and every Numel,
// and NumParams, within int64_t; tp_dim == -1 exactly when replicated, else a dimension of
// the shape; layer in [0, num_layers) exactly for kLayer params, -1 otherwise; expert >= -1;
// tied_to naming another, untied parameter of the same shape and dtype; a valid init
// (ValidateInitSpec). Returns InvalidArgument naming the model, the parameter and the rule
// broken ("model 'm': param 'h.0.w': tp_dim 2 is outside shape [4, 8]"). Thread-safe; pure.
Status ValidateModelSpec(const ModelSpec& model);

}  // namespace twinsim::core

#endif  // TWINSIM_CORE_MODEL_SPEC_H_
