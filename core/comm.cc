#include "core/comm.h"

namespace twinsim::core {

Comm::~Comm() = default;

uint64_t TrafficStats::bytes_sent() const {
  uint64_t total = 0;
  for (const PeerTraffic& peer : peers) total += peer.bytes_sent;
  return total;
}

uint64_t TrafficStats::bytes_received() const {
  uint64_t total = 0;
  for (const PeerTraffic& peer : peers) total += peer.bytes_received;
  return total;
}

}  // namespace twinsim::core
