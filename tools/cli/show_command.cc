// `twinsim show model|layout|cluster|policy`: declares the options, builds the request of
// harness/show.h, runs it and prints the report (tools/cli/show_text.h, or one JSON line with
// --json). With no name, each lists what it knows.
#include "tools/cli/show_command.h"

#include <CLI/CLI.hpp>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "core/model_spec.h"
#include "harness/json_line.h"
#include "harness/layout.h"
#include "harness/show.h"
#include "tools/cli/args.h"
#include "tools/cli/layout_args.h"
#include "tools/cli/show_text.h"

namespace twinsim::cli {
namespace {

// Picks the text from a positional argument or its option (not both).
StatusOr<std::optional<std::string>> PickPositionalOrOption(std::string_view option,
                                                             const std::string& positional,
                                                             const std::string& named,
                                                             bool positional_given,
                                                             bool named_given) {
  if (positional_given && named_given) {
    return Status::InvalidArgument(std::string(option) + ": given both as an argument (" +
                                   Quote(positional) + ") and as " + std::string(option) + " (" +
                                   Quote(named) + "); give one");
  }
  if (positional_given) return std::optional<std::string>(positional);
  if (named_given) return std::optional<std::string>(named);
  return std::optional<std::string>();
}

// Prints `report` as one JSON line, or as text with `print`.
template <typename Report, typename Print>
Status PrintReport(Output& out, bool json, const StatusOr<Report>& report, Print print) {
  if (!report.ok()) return report.status();
  if (json) {
    nlohmann::ordered_json j = *report;
    out.Append(harness::CompactJson(j) + "\n");
  } else {
    print(out, *report);
  }
  return Status::Ok();
}

// ---------------------------------------------------------------------------------------------
// show model

class ShowModelCommand final : public Command {
 public:
  void DeclareOptions(CLI::App& app) override {
    positional_ = app.add_option("model", model_pos_, "Model: a preset or FAMILY[:key=value,...]")
                      ->type_name("MODEL");
    named_ = app.add_option("--model", model_opt_, "The same as the MODEL argument")
                 ->type_name("MODEL");
    app.add_flag("--summary", request_.summary, "Print only the header and per-role totals");
    app.add_flag("--json", json_, "Print one JSON object instead of the table");
    app.footer(
        "Prints a model's parameters in registration order: name, shape, dtype, init rule,\n"
        "tensor-parallel split, role (embedding, layer N, final_norm, head) and the parameter\n"
        "it is tied to. With no MODEL, lists the presets and families. Examples:\n"
        "  twinsim show model gpt2-small\n"
        "  twinsim show model 'gpt2:n_layer=2,n_embd=128,n_head=4' --summary\n"
        "  twinsim show model llama3-405b --summary --json");
  }

  Status Validate() override {
    TWINSIM_ASSIGN_OR_RETURN(
        std::optional<std::string> text,
        PickPositionalOrOption("--model", model_pos_, model_opt_, positional_->count() > 0,
                               named_->count() > 0));
    if (!text) return Status::Ok();
    request_.model = std::move(*text);
    list_ = false;
    return request_.Validate();
  }

  Status Execute(Output& out) override {
    if (list_) return PrintReport(out, json_, harness::ListModels(), PrintModelList);
    return PrintReport(out, json_, harness::RunShowModel(request_), PrintShowModel);
  }

 private:
  CLI::Option* positional_ = nullptr;
  CLI::Option* named_ = nullptr;
  std::string model_pos_, model_opt_;
  bool json_ = false;
  bool list_ = true;
  harness::ShowModelRequest request_;
};

// ---------------------------------------------------------------------------------------------
// show layout

class ShowLayoutCommand final : public Command {
 public:
  void DeclareOptions(CLI::App& app) override {
    layout_args_.Declare(app);
    app.add_flag("--json", json_, "Print one JSON object instead of the tables");
    app.footer(
        "Prints how Megatron-style parallelism places a model on dp * pp * tp * cp ranks: the\n"
        "world size, each pipeline stage (model chunk) with its pipeline rank, virtual stage,\n"
        "block range and parameter count (tied copies included), and for each rank its\n"
        "coordinates, the stages it holds, and the number of shards and elements it owns (a\n"
        "replicated tensor counts whole on every TP rank) and keeps once --dp-shard splits\n"
        "parameters (torch.chunk on dim 0 over the shard group). The table lists the first 64\n"
        "ranks; --json lists them all. Examples:\n"
        "  twinsim show layout --model gpt2-small --tp 4 --pp 3 --dp 2\n"
        "  twinsim show layout --model llama3-8b --tp 2 --dp-shard 4 --dp-replicate 2 --cp 2 \\\n"
        "      --mesh torchtitan");
  }

  Status Validate() override {
    // The model's errors come first, as LayoutArgs::Make gives them.
    TWINSIM_ASSIGN_OR_RETURN(core::ModelSpec model,
                             harness::LoadModel(layout_args_.model_text()));
    TWINSIM_ASSIGN_OR_RETURN(request_.layout, layout_args_.Request());
    request_.layout.model_spec = std::move(model);
    if (!json_) request_.max_ranks = kShowTextMaxRanks;
    return request_.Validate();
  }

  Status Execute(Output& out) override {
    return PrintReport(out, json_, harness::RunShowLayout(request_), PrintShowLayout);
  }

 private:
  LayoutArgs layout_args_;
  bool json_ = false;
  harness::ShowLayoutRequest request_;
};

// ---------------------------------------------------------------------------------------------
// show cluster

class ShowClusterCommand final : public Command {
 public:
  void DeclareOptions(CLI::App& app) override {
    positional_ = app.add_option("cluster", cluster_pos_, "Cluster: PRESET[:key=value,...]")
                      ->type_name("PRESET");
    named_ = app.add_option("--cluster", cluster_opt_, "The same as the PRESET argument")
                 ->type_name("PRESET");
    app.add_flag("--json", json_, "Print one JSON object instead of the text");
    app.footer(
        "Prints a cluster preset's hardware: nodes, GPUs per node, GPU model, memory and HBM\n"
        "bandwidth, NVLink, PCIe, NICs, fabric and host memory (node 0; preset nodes are\n"
        "identical). Keys: nodes, gpus_per_node, gpu_memory_gb, host_memory_gb,\n"
        "pinned_memory_gb, nic_gbps, fabric_latency_ns, storage_read_gb_per_s. With no PRESET,\n"
        "lists the presets.\n"
        "Example:\n"
        "  twinsim show cluster dgx-h100:nodes=2048");
  }

  Status Validate() override {
    TWINSIM_ASSIGN_OR_RETURN(
        std::optional<std::string> text,
        PickPositionalOrOption("--cluster", cluster_pos_, cluster_opt_, positional_->count() > 0,
                               named_->count() > 0));
    if (!text) return Status::Ok();
    request_.cluster = std::move(*text);
    list_ = false;
    return request_.Validate();
  }

  Status Execute(Output& out) override {
    if (list_) return PrintReport(out, json_, harness::ListClusters(), PrintClusterList);
    return PrintReport(out, json_, harness::RunShowCluster(request_), PrintShowCluster);
  }

 private:
  CLI::Option* positional_ = nullptr;
  CLI::Option* named_ = nullptr;
  std::string cluster_pos_, cluster_opt_;
  bool json_ = false;
  bool list_ = true;
  harness::ShowClusterRequest request_;
};

// ---------------------------------------------------------------------------------------------
// show policy

class ShowPolicyCommand final : public Command {
 public:
  void DeclareOptions(CLI::App& app) override {
    app.add_option("policy", request_.name, "A seed policy (init --policy) or a placement policy "
                                            "(place --policy)")
        ->type_name("NAME");
    app.add_flag("--json", json_, "Print one JSON object instead of the text");
    app.footer(
        "Prints what a policy models: for a seed policy its models() line, version, init\n"
        "devices, the properties it claims (with their conditions) and those it does not; for\n"
        "seed and placement policies alike, its provenance: the upstream repository, release,\n"
        "file, lines and function it follows, and where the framework's code and its documents\n"
        "disagree. With no NAME, lists the policies. Examples:\n"
        "  twinsim show policy megatron\n"
        "  twinsim show policy static --json");
  }

  Status Validate() override {
    if (request_.name.empty()) return Status::Ok();
    return request_.Validate();
  }

  Status Execute(Output& out) override {
    if (request_.name.empty()) {
      return PrintReport(out, json_, harness::ListPolicies(), PrintPolicyList);
    }
    return PrintReport(out, json_, harness::RunShowPolicy(request_), PrintShowPolicy);
  }

 private:
  bool json_ = false;
  harness::ShowPolicyRequest request_;
};

}  // namespace

CommandGroup ShowCommandGroup() {
  CommandGroup group;
  group.name = "show";
  group.summary = "print models, parallel layouts and cluster presets as twinsim sees them";
  group.commands = {
      {"model", "a model's parameters: names, shapes, dtypes, inits, TP splits, ties",
       [] { return std::make_unique<ShowModelCommand>(); }},
      {"layout", "how dp x pp x tp parallelism places a model's parameters on ranks",
       [] { return std::make_unique<ShowLayoutCommand>(); }},
      {"cluster", "a cluster preset's nodes, GPUs, links and memory",
       [] { return std::make_unique<ShowClusterCommand>(); }},
      {"policy", "a seed or placement policy: what it models, its claims and upstream source",
       [] { return std::make_unique<ShowPolicyCommand>(); }},
  };
  return group;
}

}  // namespace twinsim::cli
