// FaultyComm: a Comm wrapper that injects faults — a dropped message, a failed call, random
// delays before every call — so tests can show that lost messages and failing ranks surface
// as clean errors, and that results do not depend on timing.
//
// Test-only (core/testing is testonly). Wraps any backend's Comm; one per rank.
#ifndef TWINSIM_CORE_TESTING_FAULTY_COMM_H_
#define TWINSIM_CORE_TESTING_FAULTY_COMM_H_

#include <chrono>
#include <cstdint>
#include <random>

#include "core/comm.h"
#include "core/status.h"

namespace twinsim::core::faults {

struct CommFaults {
  // 1-based index, among this rank's Send and SendRecv calls, of the one whose message is
  // lost: Send returns OK without sending; SendRecv performs only its receive. 0: none.
  uint64_t drop_send = 0;
  // 1-based index, among all this rank's calls, of the one that fails with Internal
  // ("injected fault") without reaching the communicator. 0: none.
  uint64_t fail_call = 0;
  // Before every call, sleep a random time in [0, max_delay] (0: never), drawn from a
  // generator seeded with (seed, rank): reproducible per rank, varied between ranks.
  std::chrono::microseconds max_delay{0};
  uint64_t seed = 0;
};

// Used by one thread at a time, like any Comm.
class FaultyComm : public CommWrapper {
 public:
  // REQUIRES: target non-null and outlives this object.
  FaultyComm(Comm* target, CommFaults faults);

  Status Send(int dst, const BufferRegion& src, int tag) override;
  Status Recv(int src, const BufferRegion& dst, int tag) override;
  Status SendRecv(int dst, const BufferRegion& send, int src, const BufferRegion& recv,
                  int tag) override;
  Status Broadcast(int root, const BufferRegion& buffer) override;
  Status AllGather(const BufferRegion& send, const BufferRegion& recv,
                   std::span<const uint64_t> counts) override;
  Status ReduceScatterSum(const BufferRegion& send, const BufferRegion& recv,
                          std::span<const uint64_t> counts) override;
  Status Barrier() override;

  uint64_t injected() const { return injected_; }

 private:
  // Sleeps, counts the call, and returns the injected failure if this is the call to fail.
  Status BeforeCall(const char* what);
  bool DropThisSend();

  const CommFaults faults_;
  std::mt19937_64 rng_;
  uint64_t calls_ = 0;
  uint64_t sends_ = 0;
  uint64_t injected_ = 0;
};

}  // namespace twinsim::core::faults

#endif  // TWINSIM_CORE_TESTING_FAULTY_COMM_H_
