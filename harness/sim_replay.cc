#include "harness/sim_replay.h"

#include <algorithm>
#include <cstring>
#include <simgrid/s4u/Engine.hpp>

#include "core/fill_request.h"
#include "sim/sim_run.h"

namespace twinsim::harness {

using gpu::Transfer;
using gpu::TransferClass;

StatusOr<std::vector<Transfer>> PredictTransfers(const core::Topology& topology,
                                                 std::span<const Transfer> transfers) {
  TWINSIM_RETURN_IF_ERROR(core::ValidateTopology(topology));
  std::vector<Transfer> out(transfers.begin(), transfers.end());
  if (out.empty()) return out;
  uint64_t largest = 1;
  for (const Transfer& t : out) {
    largest = std::max(largest, t.cls == TransferClass::kInitKernel
                                    ? t.elements * core::DTypeSize(t.dtype)
                                    : t.bytes);
  }
  sim::SimRunOptions options;
  options.topology = topology;
  options.world_size = 1;
  options.holds_bytes = false;
  options.device_capacity = 2 * largest;
  TWINSIM_ASSIGN_OR_RETURN(
      sim::SimRun run,
      sim::RunRanksOnSim(
          options,
          [&](int, core::Comm&, core::Device& device, std::vector<std::byte>& output) -> Status {
            TWINSIM_ASSIGN_OR_RETURN(core::Buffer a,
                                     core::AllocateOrError(device, largest, "replay"));
            TWINSIM_ASSIGN_OR_RETURN(core::Buffer b,
                                     core::AllocateOrError(device, largest, "replay"));
            std::vector<double> seconds;
            for (const Transfer& t : out) {
              const double start = simgrid::s4u::Engine::get_clock();
              const core::BufferRegion ra = core::BufferRegion::Slice(a, 0, t.bytes);
              switch (t.cls) {
                case TransferClass::kH2D:
                  TWINSIM_RETURN_IF_ERROR(device.CopyFromHost(ra, {}));
                  break;
                case TransferClass::kD2H:
                  TWINSIM_RETURN_IF_ERROR(device.CopyToHost(ra, {}));
                  break;
                case TransferClass::kD2D:
                  TWINSIM_RETURN_IF_ERROR(
                      device.Copy(core::BufferRegion::Slice(b, 0, t.bytes), ra));
                  break;
                case TransferClass::kInitKernel: {
                  core::FillRequest fill;
                  fill.transform.prim = core::Primitive::kNormal;
                  fill.transform.p[1] = 1.0f;
                  fill.dtype = t.dtype;
                  fill.end = t.elements;
                  TWINSIM_RETURN_IF_ERROR(
                      device.Fill(core::BufferRegion::Slice(a, 0, fill.bytes()), fill));
                  break;
                }
              }
              seconds.push_back(simgrid::s4u::Engine::get_clock() - start);
            }
            output.resize(seconds.size() * sizeof(double));
            std::memcpy(output.data(), seconds.data(), output.size());
            return Status::Ok();
          }));
  TWINSIM_RETURN_IF_ERROR(run.ranks.at(0).status);
  const std::vector<std::byte>& bytes = run.ranks[0].output;
  if (bytes.size() != out.size() * sizeof(double)) {
    return Status::Internal("sim replay: the simulation returned a truncated result");
  }
  for (size_t i = 0; i < out.size(); ++i) {
    std::memcpy(&out[i].seconds, bytes.data() + i * sizeof(double), sizeof(double));
  }
  return out;
}

}  // namespace twinsim::harness
