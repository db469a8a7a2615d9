// libFuzzer target for calibration files (core/topology_presets.h CalibrationFromJson, what
// `twinsim calibrate` writes and `--calibration FILE` reads): any bytes give a calibration or
// one error line; an accepted one survives CalibrationToJson unchanged and applies to a
// preset cluster.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/topology_presets.h"
#include "tests/fuzz/spec_fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  twinsim::StatusOr<twinsim::core::Calibration> calibration =
      twinsim::core::CalibrationFromJson(text);
  if (!calibration.ok()) {
    twinsim::fuzz::ExpectOneLineError(calibration.status());
    return 0;
  }
  twinsim::StatusOr<twinsim::core::Calibration> again =
      twinsim::core::CalibrationFromJson(twinsim::core::CalibrationToJson(*calibration));
  if (!again.ok() || !(*again == *calibration)) __builtin_trap();
  twinsim::StatusOr<twinsim::core::Topology> topology = twinsim::core::MakeTopology("dgx-h100");
  if (!topology.ok()) __builtin_trap();
  const twinsim::Status applied = twinsim::core::ApplyCalibration(*calibration, *topology);
  if (!applied.ok()) twinsim::fuzz::ExpectOneLineError(applied);
  return 0;
}
