// `twinsim validate`: declares the options, builds a harness::ValidateRequest, calls
// RunValidate and prints each policy's report (a block of text, or one JSON line) as soon as it
// is known. Checks, defaults, the runs on the GPU, host and sim, and the comparison live in
// harness/validate.h; the text blocks in tools/cli/validate_text.h.
#include "tools/cli/validate_command.h"

#include <fmt/format.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "gpu/cuda_run.h"
#include "harness/validate.h"
#include "tools/cli/args.h"
#include "tools/cli/layout_args.h"
#include "tools/cli/output.h"
#include "tools/cli/validate_text.h"

namespace twinsim::cli {
namespace {

constexpr char kSeedExpected[] = "an unsigned 64-bit integer (decimal or 0x hex)";

constexpr char kFooter[] =
    "For each policy: init on the GPU(s) (cuda backend), on the host backend and on the sim\n"
    "backend (data mode) configured as the same device; then\n"
    "  parity       the GPU run's shards equal single-device init on the GPU\n"
    "  invariance   per parameter hash: cuda == host, and sim == cuda\n"
    "  timing       per transfer class (h2d, d2h, d2d, init kernels): the time the GPU\n"
    "               measured with CUDA events against the time the sim's device model gives\n"
    "               for the same operations replayed one by one, error in percent. The\n"
    "               harness's read-back of every shard is part of d2h on both sides.\n"
    "With --placement, for each placement policy: rank 0's training step (batch 1, --seq)\n"
    "placed under --gpu-memory / --host-memory; its GPU memory replayed on the GPU under the\n"
    "same budget (the device must fit, or refuse at the op where the accounting ran out of\n"
    "memory), and when it fits its PCIe moves timed on the GPU against the sim (h2d, d2h).\n"
    "Exit status: 0 when the bits agree everywhere, no claimed parity is broken and every\n"
    "placement's memory agrees with the device, 1 otherwise or without a usable GPU, 2 for\n"
    "a bad command line.\n"
    "\n"
    "Example:\n"
    "  twinsim calibrate --out cal.json\n"
    "  twinsim validate --model gpt2-small --policy all --backend cuda --calibration cal.json\n"
    "  twinsim validate --model gpt2-small --backend cuda --placement cpu,auto --gpu-memory "
    "4GiB";

class ValidateCommand final : public Command {
 public:
  void DeclareOptions(CLI::App& app) override {
    layout_args_.Declare(app);
    app.add_option("--policy", policy_text_,
                   "Seed policies, comma-separated, or 'all' (required unless --placement)")
        ->type_name("NAME[,NAME...]|all");
    app.add_option("--backend", backend_text_, "The backend validated against the sim: cuda")
        ->type_name("cuda")
        ->required();
    app.add_option("--seed", seed_text_, "Root seed (default 0)")->type_name("S");
    app.add_option("--calibration", calibration_path_,
                   "Calibration file from `twinsim calibrate`, applied to the sim's cluster")
        ->type_name("FILE");
    app.add_option("--cluster", cluster_text_,
                   "The sim's cluster (default: the preset of the GPU's model, with one GPU per "
                   "rank)")
        ->type_name("CLUSTER");
    app.add_option("--comm", comm_text_,
                   "auto (default: NCCL when there is a GPU per rank), local (all ranks on GPU 0) "
                   "or nccl")
        ->type_name("auto|local|nccl");
    app.add_option("--device-memory", device_memory_text_,
                   "Device memory budget per rank, a size: 40GiB or a number of bytes (default: "
                   "the GPU's free memory shared by its ranks)")
        ->type_name("SIZE");
    app.add_option("--max-memory", max_memory_text_,
                   "Most host memory this run may take, e.g. 16GiB (default: what the machine can "
                   "give: MemAvailable, the cgroup's limit, RLIMIT_AS); the host and sim backends "
                   "hold every rank's shards in real bytes, and a run that needs more is refused "
                   "before it allocates")
        ->type_name("SIZE");
    app.add_option("--placement", placement_text_,
                   "Also validate a placement step: policies cuda, cpu, static, auto, optimal, "
                   "comma-separated, or 'all'")
        ->type_name("NAME[,NAME...]|all");
    app.add_option("--gpu-memory", gpu_memory_text_,
                   "With --placement: the rank's GPU budget, a size like 4GiB (default: the sim "
                   "cluster's GPU memory)")
        ->type_name("SIZE");
    app.add_option("--host-memory", host_memory_text_,
                   "With --placement: host memory for chunks, a size (default: the node's pageable "
                   "memory per GPU)")
        ->type_name("SIZE");
    app.add_option("--seq", seq_text_, "With --placement: sequence length (default 1024)")
        ->type_name("L");
    app.add_flag("--json", json_, "Print one JSON object per policy and line");
    app.footer(kFooter);
  }

  Status Validate() override {
    harness::ValidateRequest& q = request_;
    if (backend_text_ != "cuda") {
      return Status::InvalidArgument("--backend: expected cuda, got " + Quote(backend_text_));
    }
    TWINSIM_ASSIGN_OR_RETURN(q.layout, layout_args_.Request());
    if (!placement_text_.empty()) q.placement = SplitList(placement_text_);
    for (auto [option, text, field] :
         {std::tuple{"--gpu-memory", &gpu_memory_text_, &q.gpu_memory},
          std::tuple{"--host-memory", &host_memory_text_, &q.host_memory},
          std::tuple{"--seq", &seq_text_, &q.seq}}) {
      if (text->empty()) continue;
      if (placement_text_.empty()) {
        // Refused by the request as "only with --placement", whatever the value says.
        *field = 1;
        continue;
      }
      if (std::string_view(option) == "--seq") {
        TWINSIM_ASSIGN_OR_RETURN(*field, ParseUint64AtMost(option, *text, harness::kValidateMaxSeq,
                                                           "a positive integer"));
      } else {
        TWINSIM_ASSIGN_OR_RETURN(*field, ParseByteSizeWithUnit(option, *text));
      }
    }
    if (!policy_text_.empty()) q.policies = SplitList(policy_text_);
    if (!max_memory_text_.empty()) {
      TWINSIM_ASSIGN_OR_RETURN(q.max_memory,
                               ParseByteSizeWithUnit("--max-memory", max_memory_text_));
    }
    if (!seed_text_.empty()) {
      TWINSIM_ASSIGN_OR_RETURN(q.seed, ParseUint64("--seed", seed_text_, kSeedExpected));
    }
    if (comm_text_ == "local") {
      q.comm = gpu::CudaCommKind::kLocal;
    } else if (comm_text_ == "nccl") {
      q.comm = gpu::CudaCommKind::kNccl;
    } else if (comm_text_ != "auto") {
      return Status::InvalidArgument("--comm: expected auto, local or nccl, got " +
                                     Quote(comm_text_));
    }
    if (!device_memory_text_.empty()) {
      TWINSIM_ASSIGN_OR_RETURN(q.device_memory,
                               ParseByteSizeWithUnit("--device-memory", device_memory_text_));
    }
    q.calibration_path = calibration_path_;
    q.cluster = cluster_text_;
    TWINSIM_ASSIGN_OR_RETURN(prepared_, harness::PrepareValidate(q));
    return Status::Ok();
  }

  Status Execute(Output& out) override {
    harness::ValidateObserver observer;
    if (isatty(STDERR_FILENO) == 1) {
      observer.before_policy = [](std::string_view policy, size_t index, size_t count) {
        std::fprintf(stderr, "twinsim validate: checking %.*s (%zu/%zu)...\n",
                     static_cast<int>(policy.size()), policy.data(), index + 1, count);
      };
    }
    // Each policy's result appears as soon as it is known.
    observer.after_policy = [&](const harness::ValidatePolicyReport& r) {
      if (json_) {
        out.Append(harness::ValidateJsonLine(r) + "\n");
      } else {
        PrintValidateText(out, r);
      }
      return out.Finish();
    };
    observer.after_placement = [&](const harness::ValidatePlacementReport& r) {
      if (json_) {
        out.Append(harness::ValidateJsonLine(r) + "\n");
      } else {
        PrintValidateText(out, r);
      }
      return out.Finish();
    };
    TWINSIM_ASSIGN_OR_RETURN(const harness::ValidateReport report,
                             harness::RunValidate(*prepared_, observer));
    const int failures = report.Failures(), disagreements = report.Disagreements();
    if (failures > 0 || disagreements > 0) {
      return Status::FailedPrecondition(fmt::format(
          "{} of {} policies disagree between backends or break a claimed parity; {} placement "
          "polic{} disagree with the device",
          failures, report.policies.size(), disagreements, disagreements == 1 ? "y" : "ies"));
    }
    return Status::Ok();
  }

 private:
  LayoutArgs layout_args_;
  std::string policy_text_, backend_text_, seed_text_, calibration_path_, cluster_text_;
  std::string comm_text_ = "auto", device_memory_text_, max_memory_text_;
  std::string placement_text_, gpu_memory_text_, host_memory_text_, seq_text_;
  bool json_ = false;
  harness::ValidateRequest request_;
  std::optional<harness::PreparedValidate> prepared_;
};

}  // namespace

CommandGroup ValidateCommandGroup() {
  CommandGroup group;
  group.name = "validate";
  group.summary = "init on the GPU vs the sim: bits per parameter, time per transfer class";
  group.commands = {
      {"", "run init on the GPU(s) and on the sim as the same device; compare bits and times",
       [] { return std::make_unique<ValidateCommand>(); }},
  };
  return group;
}

}  // namespace twinsim::cli
