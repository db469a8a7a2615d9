// WalkStep's order of calls on a hand-built step: moves before an op, the op, moves after it;
// early stop; a log out of op order.
#include "policies/placement/step_walk.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "fmt/format.h"

namespace twinsim::placement {
namespace {

class Recorder final : public StepHandler {
 public:
  Status Move(size_t index, const Transfer& move) override {
    calls.push_back(fmt::format("move {} (op {}{})", index, move.op, move.after_op ? ", after" : ""));
    return Status::Ok();
  }
  Status Op(int op, bool on_cpu) override {
    calls.push_back(fmt::format("op {}{}", op, on_cpu ? " on cpu" : ""));
    return Status::Ok();
  }
  bool Done() const override { return stop_after > 0 && static_cast<int>(calls.size()) >= stop_after; }

  std::vector<std::string> calls;
  int stop_after = 0;
};

Transfer At(int op, bool after) {
  Transfer t;
  t.op = op;
  t.after_op = after;
  return t;
}

struct Step {
  Workload workload;
  PlacementResult result;
};

Step ThreeOps() {
  Step s;
  s.workload.ops.resize(3);
  s.result.transfers = {At(0, false), At(0, true), At(2, false), At(2, false), At(2, true)};
  s.result.op_on_cpu = {false, false, true};
  return s;
}

TEST(WalkStepTest, MovesBeforeTheOpThenTheOpThenMovesAfterIt) {
  const Step s = ThreeOps();
  Recorder r;
  ASSERT_TRUE(WalkStep(s.workload, s.result, r).ok());
  EXPECT_EQ(r.calls, (std::vector<std::string>{"move 0 (op 0)", "op 0", "move 1 (op 0, after)",
                                               "op 1", "move 2 (op 2)", "move 3 (op 2)",
                                               "op 2 on cpu", "move 4 (op 2, after)"}));
}

TEST(WalkStepTest, StopsWhenTheHandlerIsDoneOrAtTheLastOp) {
  const Step s = ThreeOps();
  Recorder done;
  done.stop_after = 3;
  ASSERT_TRUE(WalkStep(s.workload, s.result, done).ok());
  EXPECT_EQ(done.calls.size(), 3u);
  Recorder first;
  ASSERT_TRUE(WalkStep(s.workload, s.result, first, /*last_op=*/0).ok());
  EXPECT_EQ(first.calls, (std::vector<std::string>{"move 0 (op 0)", "op 0", "move 1 (op 0, after)"}));
}

TEST(WalkStepTest, ALogOutOfOpOrderIsInvalid) {
  Step s = ThreeOps();
  s.result.transfers = {At(2, false), At(0, false)};
  Recorder r;
  const Status st = WalkStep(s.workload, s.result, r);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("move 1 (op 0) was not visited"), std::string::npos) << st.message();
}

TEST(WalkStepTest, AHandlerErrorEndsTheWalk) {
  const Step s = ThreeOps();
  StepFunctions fail([](size_t, const Transfer&) { return Status::Ok(); },
                     [](int op, bool) {
                       return op == 1 ? Status::Internal("op 1 broke") : Status::Ok();
                     });
  EXPECT_EQ(WalkStep(s.workload, s.result, fail).message(), "op 1 broke");
}

}  // namespace
}  // namespace twinsim::placement
