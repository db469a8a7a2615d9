#include "tools/cli/calibrate_command.h"

#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>
#include <string>

#include "core/topology_presets.h"
#include "gpu/calibrate.h"
#include "gpu/cuda_device.h"
#include "tools/cli/args.h"

namespace twinsim::cli {
namespace {

class CalibrateCommand final : public Command {
 public:
  void DeclareOptions(CLI::App& app) override {
    app.add_option("--out", out_path_, "Write the calibration file (JSON) to FILE")
        ->type_name("FILE");
    app.add_option("--gpu-index", ordinal_text_, "Which GPU to measure (default 0)")
        ->type_name("N");
    app.add_option("--bytes", bytes_text_,
                   "Bytes per timed transfer (default 268435456, 256 MiB; at least 1 MiB)")
        ->type_name("BYTES");
    app.add_option("--reps", reps_text_, "Timed repetitions per figure, best kept (default 5)")
        ->type_name("N");
    app.add_flag("--json", json_, "Print the calibration as JSON instead of a table");
    app.footer(
        "Measures, on one GPU, with CUDA events: host-to-device and device-to-host copies from\n"
        "pinned and from pageable memory, device-to-device copy (HBM), the fp32 normal init\n"
        "kernel of kernels/fill_cuda, and a 4 KiB pinned copy's latency. The file feeds\n"
        "`twinsim validate --calibration FILE`, which applies it to the sim's cluster preset\n"
        "(core::ApplyCalibration). Exit status 1 where no GPU is usable, saying why.\n"
        "\n"
        "Example:\n"
        "  twinsim calibrate --out calibration.json");
  }

  Status Validate() override {
    if (!ordinal_text_.empty()) {
      TWINSIM_ASSIGN_OR_RETURN(
          uint64_t o, ParseUint64AtMost("--gpu-index", ordinal_text_, 1023, "a GPU index"));
      options_.ordinal = static_cast<int>(o);
    }
    if (!bytes_text_.empty()) {
      TWINSIM_ASSIGN_OR_RETURN(options_.bytes,
                               ParseUint64("--bytes", bytes_text_, "a number of bytes"));
      if (options_.bytes < (uint64_t{1} << 20)) {
        return Status::InvalidArgument("--bytes: at least 1048576 (1 MiB), got " + bytes_text_);
      }
    }
    if (!reps_text_.empty()) {
      TWINSIM_ASSIGN_OR_RETURN(uint64_t reps,
                               ParseUint64AtMost("--reps", reps_text_, 1000, "a repetition count"));
      if (reps == 0) return Status::InvalidArgument("--reps: at least 1, got 0");
      options_.reps = static_cast<int>(reps);
    }
    return Status::Ok();
  }

  Status Execute(Output& out) override {
    if (gpu::CudaDeviceCount() == 0) {
      return Status::Unavailable("no CUDA device to calibrate: " + gpu::CudaUnavailableReason());
    }
    TWINSIM_ASSIGN_OR_RETURN(core::Calibration c, gpu::MeasureCalibration(options_));
    const std::string json = core::CalibrationToJson(c);
    if (!out_path_.empty()) {
      std::FILE* f = std::fopen(out_path_.c_str(), "w");
      if (f == nullptr) return Status::Unavailable("--out: cannot write " + out_path_);
      const bool ok = std::fwrite(json.data(), 1, json.size(), f) == json.size();
      if (std::fclose(f) != 0 || !ok)
        return Status::Unavailable("--out: cannot write " + out_path_);
    }
    if (json_) {
      out.Append(json);
      return Status::Ok();
    }
    out.Append(fmt::format("{} (driver {}), {}\n", c.device, c.driver, c.date));
    const double gb = 1e9;
    out.Append(fmt::format("  h2d pinned      {:8.2f} GB/s\n", c.h2d_pinned_bytes_per_s / gb));
    out.Append(fmt::format("  d2h pinned      {:8.2f} GB/s\n", c.d2h_pinned_bytes_per_s / gb));
    out.Append(fmt::format("  h2d pageable    {:8.2f} GB/s\n", c.h2d_pageable_bytes_per_s / gb));
    out.Append(fmt::format("  d2h pageable    {:8.2f} GB/s\n", c.d2h_pageable_bytes_per_s / gb));
    out.Append(fmt::format("  d2d copy        {:8.2f} GB/s (HBM {:.2f} GB/s read + write)\n",
                           c.d2d_copy_bytes_per_s / gb, 2 * c.d2d_copy_bytes_per_s / gb));
    out.Append(fmt::format("  init kernel     {:8.2f} G elements/s (fp32 normal)\n",
                           c.init_elements_per_s / gb));
    out.Append(fmt::format("  4 KiB latency   {:8.2f} us\n", c.copy_latency_s * 1e6));
    if (!out_path_.empty()) out.Append("written to " + out_path_ + "\n");
    return Status::Ok();
  }

 private:
  std::string out_path_, ordinal_text_, bytes_text_, reps_text_;
  bool json_ = false;
  gpu::CalibrateOptions options_;
};

}  // namespace

CommandGroup CalibrateCommandGroup() {
  CommandGroup group;
  group.name = "calibrate";
  group.summary = "measure the GPU (PCIe, HBM, init kernel) and write a calibration file";
  group.commands = {
      {"", "measure the GPU and write the calibration file the sim's presets load",
       [] { return std::make_unique<CalibrateCommand>(); }},
  };
  return group;
}

}  // namespace twinsim::cli
