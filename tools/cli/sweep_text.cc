#include "tools/cli/sweep_text.h"

#include <csignal>
#include <string>

namespace twinsim::cli {

std::string SweepHelpFooter() {
  return "A scenario file lists `twinsim init`, `place` and `chunks` runs: [[init]] blocks whose\n"
        "keys are the command's options (tp = 4 is --tp 4; flags take true/false). A list in any\n"
        "key sweeps it (cartesian product); [[init.case]] tables give explicit cases. Every case\n"
        "is checked before anything runs: a bad file gets one line naming FILE:LINE and the key,\n"
        "exit status 2, and nothing is written.\n"
        "\n"
        "Cases run --jobs at a time, with a progress line on stderr: inside this process\n"
        "through the commands' library calls, or as a child process (`twinsim <command> ...\n"
        "--json`) when the case runs the simulation (backend sim, place's default), writes a\n"
        "trace, or the sweep has a --case-timeout (a thread cannot be killed); --isolate runs\n"
        "every case as a child. A record is the same bytes either way.\n"
        "DIR/cases/<case-id>.json is written whole (with a\n"
        "checksum) as each case finishes, so --resume continues an interrupted sweep, even one\n"
        "killed with kill -9, and reruns a record found truncated or corrupted. Ctrl-C or\n"
        "SIGTERM stops the running cases, discards them and leaves DIR resumable. One sweep at a\n"
        "time writes to a DIR (DIR/.lock names the one that does). Then DIR gets results.jsonl,\n"
        "results.csv, summary.md, index.html (plots drawn by gnuplot, inline SVG) and plots/;\n"
        "traces/ holds Perfetto traces of cases with trace = true. These files are identical for\n"
        "any --jobs; wall times go to DIR/timings.jsonl.\n"
        "Exit status: 0 when every case exited 0, 1 when a case failed (an init case broke a\n"
        "claimed property, errored or timed out) or DIR could not be written (a full disk),\n"
        "2 for a bad command line or scenario file or a DIR another sweep holds; killed by\n"
        "the signal (130 for Ctrl-C) when interrupted.\n"
        "Examples:\n"
        "  twinsim sweep                      (the default scenario, into twinsim-sweep/)\n"
        "  twinsim sweep scenarios/smoke.toml --out /tmp/smoke --jobs 2\n"
        "  twinsim sweep my.toml --filter 'command=place gpu-memory=16GB' --resume";
}

std::string SweepCaseLine(const scenarios::ScenarioCase& c) {
  std::string line = c.id + "  twinsim " + c.command;
  for (const std::string& a : c.Arguments()) line += " " + a;
  if (c.trace) line += " --trace traces/" + c.id + ".json";
  return line + "\n";
}

std::string SweepInterruptedText(const scenarios::SweepTally& tally, const std::string& out_dir,
                                 bool progress_is_tty) {
  const int done = tally.ok + tally.failed + tally.errors + tally.timed_out;
  return std::string(progress_is_tty ? "\n" : "") + "twinsim sweep: interrupted by " +
         (tally.interrupted_by == SIGINT ? "SIGINT" : "SIGTERM") + ": " + std::to_string(done) +
         " of " + std::to_string(tally.total) + " cases finished and kept in " + out_dir + ", " +
         std::to_string(tally.discarded) +
         " running discarded; run the same command with --resume to finish\n";
}

std::string SweepSummaryText(const std::string& title, size_t total, int ok, size_t failed,
                             const std::string& out_dir, int plots) {
  std::string text = "twinsim sweep: " + title + ": " + std::to_string(total) + " cases, " +
                     std::to_string(ok) + " ok, " + std::to_string(failed) + " failed\n";
  text += "report: " + out_dir + "/index.html (" + std::to_string(plots) +
          " plots), summary.md, results.jsonl, results.csv\n";
  if (plots == 0) text += "no plots drawn (nothing to plot, or gnuplot missing)\n";
  return text;
}

}  // namespace twinsim::cli
