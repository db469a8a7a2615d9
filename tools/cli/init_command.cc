// `twinsim init`: declares the options, builds a harness::InitRequest, calls RunInit and
// prints each policy's report (a table, or one JSON line) as soon as it is known, then the
// matrix and the claims' tally. Checks, defaults and the runs live in harness/init.h.
#include "tools/cli/init_command.h"

#include <fmt/format.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "core/memory_guard.h"
#include "core/parallel_layout.h"
#include "core/text.h"
#include "harness/init.h"
#include "kernels/torch/cuda_layout.h"
#include "policies/seed/policy.h"
#include "properties/init_check.h"
#include "tools/cli/args.h"
#include "tools/cli/init_text.h"
#include "tools/cli/layout_args.h"
#include "tools/cli/output.h"

namespace twinsim::cli {
namespace {

using harness::InitPolicyReport;
using policies::seed::InitDevice;

constexpr char kSeedExpected[] = "an unsigned 64-bit integer (decimal or 0x hex)";

// "a100, h100, ...": the --gpu values.
std::string GpuNames() {
  std::string names;
  for (const std::string& n : kernels::torch::CudaDeviceProfileNames()) {
    names += (names.empty() ? "" : ", ") + n;
  }
  return names;
}

class InitCommand final : public Command {
 public:
  void DeclareOptions(CLI::App& app) override {
    layout_args_.Declare(app);
    app.add_option("--policy", policy_text_,
                   "Seed policies to run, comma-separated, or 'all' (listed below)")
        ->type_name("NAME[,NAME...]|all")
        ->required();
    app.add_option("--seed", seed_text_,
                   "Root seed: unsigned 64-bit, decimal or 0x hex (default 0)")
        ->type_name("S");
    app.add_option("--init-device", init_device_text_,
                   "Where init kernels run: cpu or cuda (default: each policy's own default)")
        ->type_name("cpu|cuda");
    app.add_option("--gpu", gpu_text_,
                   "GPU model whose SM count sets PyTorch's CUDA launch layout: " + GpuNames() +
                       " (default h100)")
        ->type_name("GPU");
    app.add_option("--device-memory", device_memory_text_,
                   "Device memory per rank, a size: 80GiB, 24GB or a number of bytes (default "
                   "80GiB; with --backend sim, the cluster's GPU memory)")
        ->type_name("SIZE");
    app.add_option("--host-memory", host_memory_text_,
                   "Host memory per rank, a size: 512GiB or a number of bytes (default 256GiB)")
        ->type_name("SIZE");
    app.add_option("--check", check_text_,
                   "Properties to check, comma-separated, or 'all' (default): parity, replica, "
                   "distinct, determinism, init-fits, distribution")
        ->type_name("PROP[,PROP...]|all");
    app.add_option("--backend", backend_text_,
                   "host (default: ranks as threads, real bytes) or sim (a SimGrid model of "
                   "--cluster: adds simulated init time, memory and traffic per link class)")
        ->type_name("host|sim");
    app.add_option("--cluster", cluster_text_,
                   "With --backend sim: the cluster, PRESET[:key=value,...] (twinsim show "
                   "cluster lists them), e.g. dgx-h100:nodes=4")
        ->type_name("CLUSTER");
    app.add_flag("--timing-only", timing_only_,
                 "With --backend sim: simulate time, memory and traffic without bytes (for "
                 "models too large to hold; parity is checked on sampled elements of counter-stream "
                 "fills, replica, distinct and determinism are n/a)");
    app.add_option("--trace", trace_text_,
                   "With --backend sim: write a Perfetto / Chrome trace of the init run to FILE "
                   "(several policies: FILE with the policy's name before the extension)")
        ->type_name("FILE");
    app.add_option("--max-memory", max_memory_text_,
                   "Most memory this run may take, e.g. 16GiB (default: what the machine can give: "
                   "MemAvailable, the cgroup's limit, RLIMIT_AS); a run that holds real bytes and "
                   "needs more is refused before it allocates")
        ->type_name("SIZE");
    app.add_option("--dump", dump_text_,
                   "Write what every rank holds to the new folder DIR: index.json and each "
                   "shard's raw bytes (several policies: DIR/<policy>); not with --timing-only")
        ->type_name("DIR");
    app.add_flag("--json", json_, "Print one JSON object per policy and line instead of tables");
    app.footer(InitHelpFooter());
  }

  Status Validate() override {
    harness::InitRequest& q = request_;
    if (backend_text_ == "host") {
      q.backend = harness::InitBackend::kHost;
    } else if (backend_text_ == "sim") {
      q.backend = harness::InitBackend::kSim;
    } else {
      return Status::InvalidArgument("--backend: expected host or sim, got " +
                                     Quote(backend_text_));
    }
    q.cluster = cluster_text_;
    q.timing_only = timing_only_;
    q.trace_path = trace_text_;
    TWINSIM_ASSIGN_OR_RETURN(q.layout, layout_args_.Request());
    q.policies = SplitList(policy_text_);
    q.dump_dir = dump_text_;
    if (!max_memory_text_.empty()) {
      TWINSIM_ASSIGN_OR_RETURN(q.max_memory,
                               ParseByteSizeWithUnit("--max-memory", max_memory_text_));
    }
    if (!seed_text_.empty()) {
      TWINSIM_ASSIGN_OR_RETURN(q.seed, ParseUint64("--seed", seed_text_, kSeedExpected));
    }
    if (!init_device_text_.empty()) {
      StatusOr<InitDevice> device = policies::seed::ParseInitDevice(init_device_text_);
      if (!device.ok()) return ForOption("--init-device", device.status());
      q.init_device = *device;
    }
    q.gpu = gpu_text_;
    for (auto [option, text, field] :
         {std::tuple{"--device-memory", &device_memory_text_, &q.device_memory},
          std::tuple{"--host-memory", &host_memory_text_, &q.host_memory}}) {
      if (text->empty()) continue;
      // The same size syntax as place's --gpu-memory and every other size option.
      TWINSIM_ASSIGN_OR_RETURN(*field, ParseByteSizeWithUnit(option, *text));
    }
    q.checks = SplitList(check_text_);
    TWINSIM_ASSIGN_OR_RETURN(prepared_, harness::PrepareInit(q));
    return Status::Ok();
  }

  Status Execute(Output& out) override {
    const bool progress = DiagnosticsIsTerminal();
    harness::InitObserver observer;
    if (progress) {
      observer.before_policy = [](std::string_view policy, size_t index, size_t count) {
        std::fprintf(DiagnosticsStream(), "twinsim init: checking %.*s (%zu/%zu)...\n",
                     static_cast<int>(policy.size()), policy.data(), index + 1, count);
      };
    }
    observer.after_policy = [&](const InitPolicyReport& r) {
      if (!r.dump_dir.empty()) {
        std::fprintf(DiagnosticsStream(), "twinsim init: %s: shards written to %s\n",
                     r.policy.c_str(),
                     r.dump_dir.c_str());
      }
      if (json_) {
        out.Append(harness::InitJsonLine(r) + "\n");
      } else {
        PrintInitPolicyText(out, layout(), r);
      }
      // Each policy's result appears as soon as it is known.
      return out.Finish();
    };
    TWINSIM_ASSIGN_OR_RETURN(harness::InitReport report, harness::RunInit(*prepared_, observer));
    if (!json_ && report.policies.size() > 1) {
      PrintInitMatrix(out, prepared_->properties, report);
    }
    if (!json_) out.Append(InitTallyLine(report));
    const std::vector<std::string> broken = report.BrokenClaims();
    if (!broken.empty()) {
      std::string list;
      for (const std::string& b : broken) list += (list.empty() ? "" : ", ") + b;
      return Status::FailedPrecondition(fmt::format("{} claimed {} broken: {}", broken.size(),
                                                    broken.size() == 1 ? "property" : "properties",
                                                    list));
    }
    return Status::Ok();
  }

 private:
  const core::ParallelLayout& layout() const { return *prepared_->layout; }

  LayoutArgs layout_args_;
  std::string policy_text_, seed_text_, init_device_text_, device_memory_text_, host_memory_text_;
  std::string gpu_text_ = "h100";
  std::string check_text_ = "all";
  std::string backend_text_ = "host", cluster_text_, trace_text_;
  std::string dump_text_;
  std::string max_memory_text_;
  bool timing_only_ = false;
  bool json_ = false;

  harness::InitRequest request_;
  std::optional<harness::PreparedInit> prepared_;
};

}  // namespace

CommandGroup InitCommandGroup() {
  CommandGroup group;
  group.name = "init";
  group.summary = "run framework seed policies on a parallel layout and check their init";
  group.commands = {
      {"",
       "check parity, replica, distinct, determinism and init-fits of seed policies "
       "(torch, Megatron, ColossalAI, DTensor, counter) on a layout",
       [] { return std::make_unique<InitCommand>(); }},
  };
  return group;
}

}  // namespace twinsim::cli
