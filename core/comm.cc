#include "core/comm.h"

#include <algorithm>

namespace twinsim::core {

Comm::~Comm() = default;

PeerTraffic& TrafficStats::Slot(int peer) {
  // Traffic is recorded peer after peer (rings, collectives in rank order): check the end first.
  if (peers_.empty() || peers_.back().first < peer) {
    return peers_.emplace_back(peer, PeerTraffic{}).second;
  }
  auto it = std::lower_bound(peers_.begin(), peers_.end(), peer,
                             [](const Entry& e, int p) { return e.first < p; });
  if (it == peers_.end() || it->first != peer) it = peers_.insert(it, Entry{peer, PeerTraffic{}});
  return it->second;
}

void TrafficStats::RecordSent(int peer, uint64_t bytes, uint64_t messages) {
  if (bytes == 0 && messages == 0) return;
  PeerTraffic& t = Slot(peer);
  t.bytes_sent += bytes;
  t.messages_sent += messages;
  bytes_sent_ += bytes;
}

void TrafficStats::RecordReceived(int peer, uint64_t bytes, uint64_t messages) {
  if (bytes == 0 && messages == 0) return;
  PeerTraffic& t = Slot(peer);
  t.bytes_received += bytes;
  t.messages_received += messages;
  bytes_received_ += bytes;
}

PeerTraffic TrafficStats::Peer(int peer) const {
  auto it = std::lower_bound(peers_.begin(), peers_.end(), peer,
                             [](const Entry& e, int p) { return e.first < p; });
  return it != peers_.end() && it->first == peer ? it->second : PeerTraffic{};
}

}  // namespace twinsim::core
