#include "policies/placement/step_walk.h"

#include <algorithm>

#include "fmt/format.h"

namespace twinsim::placement {

StepHandler::~StepHandler() = default;

Status WalkStep(const Workload& workload, const PlacementResult& result, StepHandler& handler,
                int last_op) {
  const std::vector<Transfer>& log = result.transfers;
  const int num_ops = static_cast<int>(workload.ops.size());
  const int end = last_op < num_ops ? last_op + 1 : num_ops;
  size_t next = 0;  // the log is in op order (Note [Step accounting])
  for (int op = 0; op < end; ++op) {
    for (; next < log.size() && log[next].op == op && !log[next].after_op; ++next) {
      TWINSIM_RETURN_IF_ERROR(handler.Move(next, log[next]));
      if (handler.Done()) return Status::Ok();
    }
    const bool on_cpu = op < static_cast<int>(result.op_on_cpu.size()) && result.op_on_cpu[op];
    TWINSIM_RETURN_IF_ERROR(handler.Op(op, on_cpu));
    if (handler.Done()) return Status::Ok();
    for (; next < log.size() && log[next].op == op; ++next) {
      TWINSIM_RETURN_IF_ERROR(handler.Move(next, log[next]));
      if (handler.Done()) return Status::Ok();
    }
  }
  if (end == num_ops && next != log.size()) {
    return Status::InvalidArgument(
        fmt::format("the move log is not in op order: move {} (op {}) was not visited", next,
                    log[next].op));
  }
  return Status::Ok();
}

}  // namespace twinsim::placement
