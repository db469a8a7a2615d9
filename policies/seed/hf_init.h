// Hugging Face's init order for GPT-2: every random draw GPT2LMHeadModel(config) makes on one
// device, in the order it makes them, and its replay on PyTorch's CPU generator.
//
// A torch-* policy that builds a Hugging Face model consumes the generator in this order, not
// once per parameter: constructors draw their defaults first and post_init draws most tensors
// again (Note [Hugging Face init order]). Which stream positions end up in which parameter
// follows from this list.
#ifndef TWINSIM_POLICIES_SEED_HF_INIT_H_
#define TWINSIM_POLICIES_SEED_HF_INIT_H_

#include <cstdint>
#include <string_view>
#include <vector>

#include "core/init_spec.h"
#include "core/model_spec.h"
#include "core/provenance.h"
#include "core/status.h"

namespace twinsim::policies::seed {

// Note [Hugging Face init order]
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// huggingface/transformers, models/gpt2/modeling_gpt2.py @0010f602 and modeling_utils.py
// @040ba146 (PreTrainedModel.post_init, init_weights, _initialize_weights):
//  1. GPT2LMHeadModel.__init__ builds GPT2Model first. Its constructors draw in registration
//     order: nn.Embedding wte and wpe reset to N(0, 1); each block's Conv1D weights
//     (attn.c_attn, attn.c_proj, mlp.c_fc, mlp.c_proj) to N(0, 0.02) (pytorch_utils.Conv1D;
//     biases torch.zeros, LayerNorms ones and zeros: no draws).
//  2. GPT2Model.__init__ ends with post_init -> init_weights -> self.apply(_initialize_weights):
//     post-order (children before parents), each module once (_is_hf_initialized). For a
//     Conv1D or Embedding, _init_weights draws N(0, initializer_range); for GPT2Attention and
//     GPT2MLP, whose named_parameters() contain "c_proj.weight", it draws that weight again
//     from N(0, initializer_range / sqrt(2 * n_layer)). So each c_proj weight is drawn three
//     times in all: constructor, as a Conv1D, as its parent's c_proj.
//  3. Back in GPT2LMHeadModel.__init__, lm_head = nn.Linear(n_embd, vocab, bias=False) draws
//     kaiming_uniform(a = sqrt(5)); then its post_init skips the already initialized
//     transformer, draws lm_head from N(0, initializer_range), and only then ties lm_head to
//     wte (tie_weights): both lm_head draws are consumed and thrown away.
// The final values equal the presets' InitSpecs (Note [GPT-2 as Hugging Face builds it]); the
// stream positions do not: wte's final values start after V*d + P*d + all constructor draws.
// kConstructorOnly is ColossalAI's Lightning GPT benchmark (hpcaitech/ColossalAI-Pytorch-
// lightning@395762e0 benchmark/gpt/model.py, no_init_weights and GPTLMModel), which replaces
// GPT2PreTrainedModel._init_weights with a no-op while building the model: constructor
// defaults stay (embeddings N(0, 1), every Conv1D N(0, 0.02) with no depth scaling), lm_head's
// kaiming draw is consumed, and the tie still makes lm_head equal wte. (transformers' own
// no_init_weights at 040ba146 also replaces torch.nn.init's functions with no-ops, which would
// leave the tensors uninitialized; that variant is not modelled.)
enum class HfInitMode : uint8_t {
  kPostInit,         // GPT2LMHeadModel(config): constructors, then post_init
  kConstructorOnly,  // built with _init_weights disabled (the Lightning benchmark)
};

// One random draw, in order: parameter `param` (index into model.params) drawn with `spec`.
struct HfDraw {
  int param = 0;
  core::InitSpec spec;
  bool post_init = false;  // false: a constructor's default
};

// The draws GPT2LMHeadModel(config) makes for `model`, a GPT-2 preset or family model
// (core/model_presets: transformer.wte/wpe, transformer.h.N.{attn,mlp}.*, lm_head).
// InvalidArgument naming the missing parameter when `model` is not shaped like one.
// Pure; O(params).
StatusOr<std::vector<HfDraw>> Gpt2HfDraws(const core::ModelSpec& model, HfInitMode mode);

// The values every parameter of `model` holds after torch.manual_seed(seed) and
// GPT2LMHeadModel(config) on the CPU (fp32, row-major, one vector per model.params entry; a
// tied parameter holds its target's values; parameters never drawn hold their constant).
// normal_ is modelled bit for bit under ATen's DEFAULT capability (kernels/torch/
// cpu_generator.h). Errors as Gpt2HfDraws; InvalidArgument above `max_elements` elements in all.
StatusOr<std::vector<std::vector<float>>> ReplayGpt2HfInitCpu(const core::ModelSpec& model,
                                                              HfInitMode mode, uint64_t seed,
                                                              int64_t max_elements = 1 << 24);

// The sources of Note [Hugging Face init order]. Pure.
core::Provenance HfInitProvenance(HfInitMode mode);

}  // namespace twinsim::policies::seed

#endif  // TWINSIM_POLICIES_SEED_HF_INIT_H_
