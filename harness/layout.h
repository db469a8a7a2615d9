// The model and parallel layout of a request, typed: what --model --tp --pp --dp --dp-shard
// --dp-replicate --cp --mesh --vpp --ep --etp --partition --vocab-divisible-by give on the
// command line, and the Python module's keywords of the same names. One builder, so that the
// command line (tools/cli/layout_args.h parses the text into a LayoutRequest) and the library's
// callers accept and reject the same layouts with the same one-line messages.
#ifndef TWINSIM_HARNESS_LAYOUT_H_
#define TWINSIM_HARNESS_LAYOUT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/model_spec.h"
#include "core/parallel_layout.h"
#include "core/status.h"

namespace twinsim::harness {

// Largest parallel degree accepted before core::ParallelLayout::Make sees it.
inline constexpr int64_t kMaxLayoutDegree = 65536;
// Largest vocab_divisible_by (Megatron uses 128).
inline constexpr int64_t kMaxVocabDivisor = int64_t{1} << 20;

struct LayoutRequest {
  // REQUIRED, one of: the model's text (a preset, FAMILY[:key=value,...] or a model file
  // PATH.json, as --model takes it), or a spec already built (`model_spec` wins when set).
  std::string model;
  std::optional<core::ModelSpec> model_spec;
  // Unset: core::LayoutConfig's default (1; dp: dp_replicate x dp_shard when those are given,
  // dp_shard alone when only it is given). Set values must lie in [1, kMaxLayoutDegree].
  std::optional<int64_t> tp, pp, dp, vpp, ep, etp, cp, dp_shard, dp_replicate;
  std::optional<int64_t> vocab_divisible_by;  // in [1, kMaxVocabDivisor]; default 128
  // dp_shard = dp: one sharded group of every DP rank (a bare --dp-shard). Not with
  // dp_replicate.
  bool dp_shard_whole = false;
  std::string mesh = "megatron";   // or "torchtitan"
  std::string partition = "layers";  // or "params"
};

// The model named by `text` (core::MakeModel), errors as InvalidArgument "--model: ...".
StatusOr<core::ModelSpec> LoadModel(std::string_view text);

// Builds the layout. On a bad value returns InvalidArgument whose message names the option
// first ("--tp: expected a positive integer, got '0'", "--pp: LayoutConfig: pp * vpp = ...").
// A world dp * pp * tp * cp above `max_world` is refused ("--dp: world size ... exceeds
// 4,096"), followed by `why` when non-empty. Pure apart from reading a model file.
StatusOr<core::ParallelLayout> MakeLayout(const LayoutRequest& request, uint64_t max_world,
                                          std::string_view why = "");

}  // namespace twinsim::harness

#endif  // TWINSIM_HARNESS_LAYOUT_H_
