// The report of a sweep, written from its case records (scenarios/sweep.h): results.jsonl
// (one record per case), results.csv (one row per case and policy, stable columns),
// summary.md (the tables a reviewer wants) and index.html (the same, self-contained, with
// gnuplot plots inline as SVG: init time vs PP size per seed policy, the OOM frontier per
// placement policy, peak GPU memory, PCIe bytes per step and simulated step time vs batch,
// GPU memory op by op over a step for cases run with --timeline), plus plots/*.svg. Every
// file is a pure function of the records: no times, no absolute paths.
#ifndef TWINSIM_REPORTS_SWEEP_REPORT_H_
#define TWINSIM_REPORTS_SWEEP_REPORT_H_

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/status.h"

namespace twinsim::reports {

struct SweepReportInput {
  std::string title;        // the scenario's name
  std::string description;  // its description, may be empty
  // Case records (Note [Case records] in scenarios/sweep.cc), in report order.
  std::vector<nlohmann::ordered_json> cases;
  // The gnuplot to draw with; when it cannot run, the report says so instead of plotting.
  std::string gnuplot = "gnuplot";
};

// The stable columns of results.csv, in order.
const std::vector<std::string>& CsvColumns();

// Writes the report files into `out_dir` (which must exist), each atomically. Returns the
// number of plots drawn, or Unavailable naming the file that could not be written.
StatusOr<int> WriteSweepReport(const SweepReportInput& input, const std::string& out_dir);

}  // namespace twinsim::reports

#endif  // TWINSIM_REPORTS_SWEEP_REPORT_H_
