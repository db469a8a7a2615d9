// The options that name a model and how it is parallelized:
//   --model M [--tp T] [--pp P] [--dp D] [--dp-shard N] [--dp-replicate M] [--cp C]
//   [--mesh megatron|torchtitan] [--vpp V] [--ep E] [--etp N] [--partition layers|params]
//   [--vocab-divisible-by N]
// Every command that works on a core::ParallelLayout (`show layout`, `init`, `validate`,
// `chunks`, `place`) declares and checks them through LayoutArgs, so they accept and reject
// exactly the same command lines. A bare `--dp-shard` (no value, or the value `dp`) is
// `--dp-shard D` with D = --dp: one sharded group of every DP rank, what `chunks` and `place`'s
// old `--dp-shard` switch meant.
#ifndef TWINSIM_TOOLS_CLI_LAYOUT_ARGS_H_
#define TWINSIM_TOOLS_CLI_LAYOUT_ARGS_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "core/parallel_layout.h"
#include "core/status.h"
#include "harness/layout.h"

namespace CLI {
class App;
}  // namespace CLI

namespace twinsim::cli {

class LayoutArgs {
 public:
  // Declares the options on `app`, bound to members of this object, which must outlive the
  // parse. --model is required unless `model_required` is false; the others default as
  // core::LayoutConfig does (degrees 1, partition by layers, vocabulary padded to a multiple of
  // 128 * tp, Megatron's mesh).
  void Declare(CLI::App& app, bool model_required = true);

  // Whether --model was given.
  bool has_model() const { return !model_.empty(); }
  // --model's text as given ("" when absent).
  const std::string& model_text() const { return model_; }
  // pp * vpp as given (1 where absent or not a small positive number): the fewest layers a
  // model needs for this layout.
  int MinLayers() const;

  // Builds the model and layout from the parsed text. On a bad value returns InvalidArgument
  // whose message names the option first ("--tp: expected a positive integer, got '0'",
  // "--pp: LayoutConfig: pp * vpp = 13 * 1 ..."). A world size dp * pp * tp above `max_world`
  // is refused too ("--dp: world size ... exceeds 4,096"; dp * pp * tp * cp), followed by
  // `why` when non-empty. --dp-shard N alone means --dp N (one sharded group); a bare
  // --dp-shard means --dp-shard = --dp (1 without --dp) and is refused with --dp-replicate.
  StatusOr<core::ParallelLayout> Make(uint64_t max_world, std::string_view why = "") const;
  // As Make, for the model `model_text` instead of --model (errors still name --model).
  StatusOr<core::ParallelLayout> MakeWithModel(std::string_view model_text, uint64_t max_world,
                                               std::string_view why = "") const;
  // The parsed options as a request for harness::MakeLayout (which Make calls), the model as
  // its text. InvalidArgument for a value that is not a number in range ("--tp: expected a
  // positive integer, got '0'"); the rest is MakeLayout's to check.
  StatusOr<harness::LayoutRequest> Request() const;

 private:
  std::string model_, tp_, pp_, dp_, vpp_, ep_, etp_, vocab_divisible_by_, cp_, dp_shard_,
      dp_replicate_;
  std::string partition_ = "layers";
  std::string mesh_ = "megatron";
};

// The layout and `rank`'s place in it on one line, as `chunks` and `place` print it:
// "tp=2 pp=1 dp=8 cp=1, dp_shard=4 x dp_replicate=2 (megatron mesh); rank 5 (dp 5, pp 0,
// tp 1, cp 0)". REQUIRES: 0 <= rank < layout.world_size(). Pure.
std::string LayoutLine(const core::ParallelLayout& layout, int rank);

}  // namespace twinsim::cli

#endif  // TWINSIM_TOOLS_CLI_LAYOUT_ARGS_H_
