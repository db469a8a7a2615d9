// SimCluster: what the ranks of one simulated run share — the SimGrid platform, the clock
// origin, the traffic per link class and the trace — and the one place where bytes are moved
// between SimGrid hosts (MoveBytes), so every transfer is timed and counted the same way.
//
// SimDevice (copies over PCIe) and SimComm (messages, collectives) both move bytes through it.
#ifndef TWINSIM_SIM_SIM_CLUSTER_H_
#define TWINSIM_SIM_SIM_CLUSTER_H_

#include <array>
#include <cstdint>
#include <simgrid/s4u.hpp>
#include <unordered_map>
#include <vector>

#include "core/status.h"
#include "sim/platform.h"
#include "sim/trace.h"

namespace twinsim::sim {

// Bytes per link class, indexed by static_cast<int>(LinkClass). See Note [Link traffic].
using LinkBytes = std::array<uint64_t, kNumLinkClasses>;

// Note [Link traffic]
// -------------------
// Besides the logical traffic of core/comm.h (what each rank delivers to each other rank), the
// sim backend reports what crossed the hardware: for every simulated transfer of B bytes, B is
// added to each link class the route crosses (once per class, however many links of that
// class it holds: an NVLink route crosses two NVLink ports and counts B once under "nvlink").
// It is charged to the rank on whose behalf the bytes moved: the sender of a message, the
// rank whose device a host copy serves, the sending rank of each ring step of a collective
// (Note [Collective timing] in sim_comm.cc). So "nvlink" reads "bytes that moved over NVLink".

// Thread safety: not synchronized; used from the SimGrid actors of one engine, which run one at
// a time.
class SimCluster {
 public:
  // `rank_gpus[r]` is rank r's GPU host, `rank_cpus[r]` the CPU host of its node.
  // REQUIRES: platform and trace outlive this object; both vectors have world_size entries.
  // The clock origin is the engine's clock now (SimGrid does not reset it between engines).
  SimCluster(const Platform* platform, std::vector<simgrid::s4u::Host*> rank_gpus,
             std::vector<simgrid::s4u::Host*> rank_cpus, TraceLog* trace);

  int world_size() const { return static_cast<int>(rank_gpus_.size()); }
  const Platform& platform() const { return *platform_; }
  simgrid::s4u::Host* gpu(int rank) const { return rank_gpus_[rank]; }
  simgrid::s4u::Host* cpu(int rank) const { return rank_cpus_[rank]; }
  // The checkpoint storage host of rank's node (Platform::storage_hosts).
  simgrid::s4u::Host* storage(int rank) const { return rank_storage_[rank]; }
  TraceLog& trace() { return *trace_; }

  // Simulated seconds since the run began.
  double Now() const;

  // Moves `bytes` from `from` to `to` for `rank` and returns when they have arrived (SimGrid's
  // host-to-host Comm on the platform's route; nothing to wait for when from == to). Records
  // the link traffic (Note [Link traffic]). REQUIRES: called from an actor of this engine.
  // Internal when SimGrid cannot route or fails the transfer.
  Status MoveBytes(int rank, simgrid::s4u::Host* from, simgrid::s4u::Host* to, uint64_t bytes);

  // Starts the same transfer and returns it (null when from == to: nothing to wait for), for
  // several transfers that share the links at once. The traffic is recorded at once.
  StatusOr<simgrid::s4u::CommPtr> StartMove(int rank, simgrid::s4u::Host* from,
                                            simgrid::s4u::Host* to, uint64_t bytes);

  // What was charged to `rank`, and the sum over all ranks.
  const LinkBytes& link_bytes(int rank) const { return link_bytes_[rank]; }
  LinkBytes TotalLinkBytes() const;

 private:
  Status Record(int rank, simgrid::s4u::Host* from, simgrid::s4u::Host* to, uint64_t bytes);

  const Platform* platform_;
  std::vector<simgrid::s4u::Host*> rank_gpus_;
  std::vector<simgrid::s4u::Host*> rank_cpus_;
  std::vector<simgrid::s4u::Host*> rank_storage_;
  TraceLog* trace_;
  double origin_s_;
  std::vector<LinkBytes> link_bytes_;
  // Link classes of the routes used so far, by (from, to).
  std::unordered_map<const simgrid::s4u::Host*,
                     std::unordered_map<const simgrid::s4u::Host*, std::vector<LinkClass>>>
      route_classes_;
};

}  // namespace twinsim::sim

#endif  // TWINSIM_SIM_SIM_CLUSTER_H_
