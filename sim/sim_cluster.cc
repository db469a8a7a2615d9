#include "sim/sim_cluster.h"

#include <exception>
#include <string>
#include <unordered_map>
#include <utility>

namespace twinsim::sim {

namespace sg4 = simgrid::s4u;

SimCluster::SimCluster(const Platform* platform, std::vector<sg4::Host*> rank_gpus,
                       std::vector<sg4::Host*> rank_cpus, TraceLog* trace)
    : platform_(platform),
      rank_gpus_(std::move(rank_gpus)),
      rank_cpus_(std::move(rank_cpus)),
      trace_(trace),
      origin_s_(sg4::Engine::get_clock()),
      link_bytes_(rank_gpus_.size(), LinkBytes{}) {
  // A rank's node is the index of its CPU host in platform.cpu_hosts.
  std::unordered_map<const sg4::Host*, int> node_of;
  for (size_t n = 0; n < platform_->cpu_hosts.size(); ++n) node_of[platform_->cpu_hosts[n]] = n;
  rank_storage_.reserve(rank_cpus_.size());
  for (sg4::Host* cpu : rank_cpus_) {
    auto it = node_of.find(cpu);
    rank_storage_.push_back(it == node_of.end() || platform_->storage_hosts.empty()
                                ? cpu
                                : platform_->storage_hosts[it->second]);
  }
}

double SimCluster::Now() const { return sg4::Engine::get_clock() - origin_s_; }

Status SimCluster::Record(int rank, sg4::Host* from, sg4::Host* to, uint64_t bytes) {
  auto& row = route_classes_[from];
  auto it = row.find(to);
  if (it == row.end()) {
    StatusOr<std::vector<LinkClass>> classes = RouteLinkClasses(*platform_, from, to);
    if (!classes.ok()) return classes.status();
    it = row.emplace(to, *std::move(classes)).first;
  }
  for (LinkClass c : it->second) link_bytes_[rank][static_cast<int>(c)] += bytes;
  return Status::Ok();
}

StatusOr<sg4::CommPtr> SimCluster::StartMove(int rank, sg4::Host* from, sg4::Host* to,
                                             uint64_t bytes) {
  if (from == to) return sg4::CommPtr();
  TWINSIM_RETURN_IF_ERROR(Record(rank, from, to, bytes));
  try {
    return sg4::Comm::sendto_async(from, to, bytes);
  } catch (const std::exception& e) {
    return Status::Internal("SimGrid failed to start a transfer " + from->get_name() + " -> " +
                            to->get_name() + ": " + e.what());
  }
}

Status SimCluster::MoveBytes(int rank, sg4::Host* from, sg4::Host* to, uint64_t bytes) {
  StatusOr<sg4::CommPtr> comm = StartMove(rank, from, to, bytes);
  if (!comm.ok()) return comm.status();
  if (*comm == nullptr) return Status::Ok();
  try {
    (*comm)->wait();
  } catch (const std::exception& e) {
    return Status::Internal("SimGrid failed a transfer " + from->get_name() + " -> " +
                            to->get_name() + ": " + e.what());
  }
  return Status::Ok();
}

LinkBytes SimCluster::TotalLinkBytes() const {
  LinkBytes total{};
  for (const LinkBytes& rank : link_bytes_) {
    for (int c = 0; c < kNumLinkClasses; ++c) total[c] += rank[c];
  }
  return total;
}

}  // namespace twinsim::sim
