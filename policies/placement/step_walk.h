// One walk over a placement step: the ops of a Workload in order, with the logged moves of a
// PlacementResult around them. The sim (properties/placement_run), the host replay and the GPU
// replay (gpu/placement_replay) each give a StepHandler and share the walk, as LevelDB's
// WriteBatch::Iterate drives a WriteBatch::Handler.
#ifndef TWINSIM_POLICIES_PLACEMENT_STEP_WALK_H_
#define TWINSIM_POLICIES_PLACEMENT_STEP_WALK_H_

#include <cstddef>
#include <functional>
#include <limits>
#include <utility>

#include "core/status.h"
#include "policies/placement/placement.h"
#include "policies/placement/workload.h"

namespace twinsim::placement {

class StepHandler {
 public:
  virtual ~StepHandler();
  // Move `index` of the result's log, made before (after_op false) or after its op.
  virtual Status Move(size_t index, const Transfer& move) = 0;
  // Op `op` runs; on_cpu: where the policy runs it (Note [CPU Adam]).
  virtual Status Op(int op, bool on_cpu) = 0;
  // True once the handler wants no more calls (a replay that has met its OOM).
  virtual bool Done() const { return false; }
};

// A StepHandler from functions, for a walk that keeps its state in the caller. `done` may be
// empty (never done).
class StepFunctions final : public StepHandler {
 public:
  StepFunctions(std::function<Status(size_t, const Transfer&)> move,
                std::function<Status(int, bool)> op, std::function<bool()> done = nullptr)
      : move_(std::move(move)), op_(std::move(op)), done_(std::move(done)) {}
  Status Move(size_t index, const Transfer& move) override { return move_(index, move); }
  Status Op(int op, bool on_cpu) override { return op_(op, on_cpu); }
  bool Done() const override { return done_ && done_(); }

 private:
  std::function<Status(size_t, const Transfer&)> move_;
  std::function<Status(int, bool)> op_;
  std::function<bool()> done_;
};

// Calls, for op = 0 .. min(last_op, ops - 1): Move for each logged move of that op made before
// it, Op, then Move for each made after it. Returns the first error a handler call returns, OK
// as soon as Done() is true after a call, and InvalidArgument when a walk of every op leaves
// moves of the log unvisited (the log is not in op order, or names an op the step lacks).
Status WalkStep(const Workload& workload, const PlacementResult& result, StepHandler& handler,
                int last_op = std::numeric_limits<int>::max());

}  // namespace twinsim::placement

#endif  // TWINSIM_POLICIES_PLACEMENT_STEP_WALK_H_
