#include "tools/cli/findings_command.h"

#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "harness/findings.h"
#include "tools/cli/args.h"

namespace twinsim::cli {
namespace {

std::string Footer() {
  std::string text =
      "Runs every finding (or those named by --only) and prints, for each, the framework, the\n"
      "upstream issue or code, the twinsim command that reproduces it and the counterexample.\n"
      "Exit status 0 when every finding reproduces as expected, 1 otherwise. Findings:\n";
  for (const harness::Finding& f : harness::Findings()) text += "  " + f.id + "\n";
  text += "Examples:\n  twinsim findings\n  twinsim findings --only shard-local-fan --json";
  return text;
}

class FindingsCommand final : public Command {
 public:
  void DeclareOptions(CLI::App& app) override {
    app.add_option("--only", only_text_, "Run only these findings (ids, comma-separated)")
        ->type_name("ID[,ID...]");
    app.add_flag("--json", json_, "Print one JSON object instead of the text");
    app.footer(Footer());
  }

  Status Validate() override {
    if (only_text_.empty()) return Status::Ok();
    request_.only = SplitList(only_text_);
    TWINSIM_RETURN_IF_ERROR(CheckList("--only", only_text_, request_.only));
    std::vector<std::string> known;
    for (const harness::Finding& f : harness::Findings()) known.push_back(f.id);
    for (const std::string& id : request_.only) {
      if (std::find(known.begin(), known.end(), id) == known.end()) {
        StatusOr<harness::FindingsReport> probe = harness::RunFindings({{id}});
        return ForOption("--only", probe.status());
      }
    }
    return Status::Ok();
  }

  Status Execute(Output& out) override {
    TWINSIM_ASSIGN_OR_RETURN(harness::FindingsReport report, harness::RunFindings(request_));
    int missed = 0;
    for (const harness::FindingResult& f : report.findings) missed += !f.reproduced;
    if (json_) {
      out.Append(report.ToJson() + "\n");
    } else {
      for (const harness::FindingResult& f : report.findings) {
        out.Append(fmt::format("{} {}: {}\n", f.reproduced ? "REPRODUCED" : "NOT REPRODUCED", f.id,
                               f.title));
        out.Append(fmt::format("  framework       {}\n", f.framework));
        out.Append(fmt::format("  upstream        {}\n", f.upstream));
        out.Append(fmt::format("  reproduce with  {}\n", f.command));
        out.Append(fmt::format("  expected        {}\n", f.expected));
        if (!f.error.empty()) out.Append(fmt::format("  error           {}\n", f.error));
        std::string text = f.counterexample;
        for (size_t at = text.find('\n'); at != std::string::npos; at = text.find('\n', at + 17)) {
          text.replace(at, 1, "\n                  ");
        }
        out.Append(fmt::format("  counterexample  {}\n  ({:.2f} s)\n\n", text, f.wall_s));
      }
      out.Append(fmt::format("{} of {} findings reproduced\n", report.findings.size() - missed,
                             report.findings.size()));
    }
    if (missed > 0) {
      return Status::Internal(fmt::format("{} finding{} did not reproduce as expected", missed,
                                          missed == 1 ? "" : "s"));
    }
    return Status::Ok();
  }

 private:
  std::string only_text_;
  bool json_ = false;
  harness::FindingsRequest request_;
};

}  // namespace

CommandGroup FindingsCommandGroup() {
  CommandGroup group;
  group.name = "findings";
  group.summary = "reproduce the known weaknesses of real frameworks that twinsim can show";
  group.commands = {
      {"", "reproduce every known framework weakness, with its upstream issue and counterexample",
       [] { return std::make_unique<FindingsCommand>(); }},
  };
  return group;
}

}  // namespace twinsim::cli
