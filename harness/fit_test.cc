#include "harness/fit.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/model_presets.h"
#include "core/parallel_layout.h"
#include "harness/place.h"

namespace twinsim::harness {
namespace {

// A 4-layer, 8-head GPT-2 on 4 GPUs of 2 GiB: small enough that the batches stay under the cap.
constexpr char kModel[] = "gpt2:n_layer=4,n_embd=512,n_head=8";
constexpr char kCluster[] = "v100-32g:gpus_per_node=4,gpu_memory_gb=2";

FitRequest SmallFit() {
  FitRequest r;
  r.model = kModel;
  r.cluster = kCluster;
  r.gpus = 4;
  r.seq = 512;
  r.policies = {"zero1", "zero3", "fsdp2"};
  return r;
}

// The step of `row` at `batch` with recompute mode `mode` ("none", "selective", "full"),
// placed by RunPlace directly.
bool PlaceFits(const FitRow& row, const std::string& mode, int64_t batch) {
  core::LayoutConfig c;
  c.tp = row.tp;
  c.pp = row.pp;
  c.dp = row.dp;
  c.dp_shard = row.dp_shard;
  PlaceRequest p;
  p.cluster = row.cluster;
  p.layout = core::ParallelLayout::Make(c, core::MakeModel(row.model).value()).value();
  p.backend = PlaceBackend::kAccounting;
  p.step.seq_len = row.seq;
  p.step.micro_batch_size = batch;
  p.step.num_microbatches = row.pp;
  p.step.sequence_parallel = row.tp > 1;
  p.step.recompute = mode == "full";
  p.step.selective_recompute = mode == "selective";
  p.policies = {row.policy};
  if (row.offload == "fsdp2-cpu-offload") p.policies = {"fsdp2-cpu-offload"};
  p.zero.offload_optimizer = row.offload.find("offload_optimizer") != std::string::npos;
  p.zero.offload_param = row.offload.find("offload_param") != std::string::npos;
  StatusOr<PlaceReport> report = RunPlace(p);
  return report.ok() && report->policies[0].fits;
}

TEST(FitTest, TheReportedBatchFitsAndOneMoreDoesNot) {
  StatusOr<FitReport> report = RunFit(SmallFit());
  ASSERT_TRUE(report.ok()) << report.status().message();
  // tp in {1, 2, 4} (divides 8 heads, <= 4 per node) x pp in {1, 2, 4} with tp pp | 4.
  EXPECT_EQ(report->layouts, 6);
  ASSERT_EQ(report->rows.size(), 18u);
  int checked = 0;
  for (const FitRow& row : report->rows) {
    SCOPED_TRACE(nlohmann::ordered_json(row).dump());
    EXPECT_EQ(row.tp * row.pp * row.dp, 4);
    EXPECT_EQ(row.dp_shard, row.dp);
    const std::vector<std::pair<std::string, int64_t>> modes = {
        {"none", row.max_batch_none},
        {"selective", row.max_batch_selective},
        {"full", row.max_batch_full}};
    for (const auto& [mode, batch] : modes) {
      // Recomputation keeps no more than storing: each mode's batch is at least the previous.
      if (batch > 0) {
        EXPECT_TRUE(PlaceFits(row, mode, batch)) << mode;
        ++checked;
      }
      if (batch < kFitDefaultMaxBatch) {
        EXPECT_FALSE(PlaceFits(row, mode, batch + 1)) << mode;
      }
    }
    EXPECT_LE(row.max_batch_none, row.max_batch_selective);
    EXPECT_LE(row.max_batch_selective, row.max_batch_full);
    EXPECT_EQ(row.fits, row.max_batch_full > 0);
    if (row.fits) {
      EXPECT_LE(row.peak_gpu_bytes, row.gpu_memory);
      EXPECT_EQ(row.peak_breakdown.total(), row.peak_gpu_bytes);
      EXPECT_EQ(row.best_batch, row.max_batch_full);
    }
  }
  EXPECT_GT(checked, 0);
}

// Sharding more: with the same tp and pp, zero3's per-rank model states shrink as dp grows,
// and the activations of a micro-batch do not change, so more GPUs never lower its batch.
TEST(FitTest, MoreDataParallelGpusNeverLowerZero3sBatch) {
  int64_t last = 0;
  for (int64_t gpus : {1, 2, 4}) {
    FitRequest r = SmallFit();
    r.gpus = gpus;
    r.tp = 1;
    r.pp = 1;
    r.policies = {"zero3"};
    StatusOr<FitReport> report = RunFit(r);
    ASSERT_TRUE(report.ok()) << report.status().message();
    ASSERT_EQ(report->rows.size(), 1u);
    EXPECT_GE(report->rows[0].max_batch_none, last) << gpus << " GPUs";
    last = report->rows[0].max_batch_none;
  }
  EXPECT_GT(last, 0);
}

TEST(FitTest, OffloadIsReportedWhenOnlyItFits) {
  // 24 layers of width 1024 (~300M params, ~5 GiB of model states unsharded) on one 2 GiB GPU.
  FitRequest r;
  r.model = "gpt2:n_layer=24,n_embd=1024,n_head=16";
  r.cluster = "v100-32g:gpus_per_node=1,gpu_memory_gb=2";
  r.gpus = 1;
  r.seq = 256;
  r.policies = {"zero1", "zero3"};
  StatusOr<FitReport> report = RunFit(r);
  ASSERT_TRUE(report.ok()) << report.status().message();
  ASSERT_EQ(report->rows.size(), 2u);
  // zero3 fits only with its optimizer states and its parameters on the host.
  EXPECT_TRUE(report->rows[1].needs_offload);
  EXPECT_EQ(report->rows[1].offload, "offload_optimizer+offload_param");
  FitRow without = report->rows[1];
  without.offload.clear();
  EXPECT_FALSE(PlaceFits(without, "full", 1));
  for (const FitRow& row : report->rows) {
    SCOPED_TRACE(nlohmann::ordered_json(row).dump());
    if (!row.needs_offload) continue;
    EXPECT_TRUE(row.fits);
    EXPECT_FALSE(row.offload.empty());
    EXPECT_TRUE(PlaceFits(row, "full", 1));
  }
}

TEST(FitTest, BadRequestsNameTheirOption) {
  FitRequest gpus = SmallFit();
  gpus.gpus = 0;
  EXPECT_EQ(gpus.Validate().message(), "--gpus: expected a positive integer, got '0'");
  FitRequest many = SmallFit();
  many.gpus = 8;
  EXPECT_EQ(many.Validate().message(),
            "--gpus: the cluster 'v100-32g:gpus_per_node=4,gpu_memory_gb=2' has 4 GPUs, got '8'");
  FitRequest policy = SmallFit();
  policy.policies = {"zero4"};
  EXPECT_EQ(policy.Validate().message().substr(0, 34), "--policy: unknown policy 'zero4'; ");
  FitRequest seq = SmallFit();
  seq.seq = -1;
  EXPECT_EQ(seq.Validate().message(), "--seq: expected a positive integer, got '-1'");
  FitRequest tp = SmallFit();
  tp.tp = 3;
  EXPECT_EQ(tp.Validate().message().substr(0, 21), "--gpus: no layout of ");
  FitRequest model = SmallFit();
  model.model = "gpt2:n_layer=0";
  EXPECT_EQ(model.Validate().message().substr(0, 8), "--model:");
  FitRequest cluster = SmallFit();
  cluster.cluster = "dgx-h1000";
  EXPECT_EQ(cluster.Validate().message().substr(0, 10), "--cluster:");
  for (const FitRequest& r : {gpus, many, policy, seq, tp, model, cluster}) {
    EXPECT_EQ(r.Validate().message().find('\n'), std::string::npos);
    EXPECT_EQ(r.Validate().code(), StatusCode::kInvalidArgument);
    EXPECT_FALSE(RunFit(r).ok());
  }
  EXPECT_TRUE(SmallFit().Validate().ok());
}

TEST(FitTest, RowsRoundTripThroughJson) {
  FitRow row;
  row.model = kModel;
  row.cluster = kCluster;
  row.gpus = 4;
  row.seq = 512;
  row.tp = 2;
  row.dp = 2;
  row.dp_shard = 2;
  row.policy = "zero3";
  row.fits = true;
  row.max_batch_selective = 3;
  row.max_batch_full = 7;
  row.needs_recompute = true;
  row.needs_offload = true;
  row.offload = "offload_optimizer";
  row.best_recompute = "full";
  row.best_batch = 7;
  row.gpu_memory = 1 << 30;
  row.peak_gpu_bytes = 12345;
  row.peak_breakdown.params = 12345;
  row.peak_breakdown.op = "layer 0 fwd";
  row.peak_breakdown.op_index = 3;
  const nlohmann::ordered_json j = row;
  const FitRow back = j.get<FitRow>();
  EXPECT_EQ(nlohmann::ordered_json(back).dump(), j.dump());
  EXPECT_EQ(j.at("max_batch").dump(), "{\"none\":0,\"selective\":3,\"full\":7}");
  EXPECT_EQ(j.begin().key(), "model");
}

TEST(FitTest, RowsComeInLayoutThenPolicyOrder) {
  StatusOr<FitReport> a = RunFit(SmallFit());
  StatusOr<FitReport> b = RunFit(SmallFit());
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_EQ(a->rows.size(), b->rows.size());
  for (size_t i = 0; i < a->rows.size(); ++i) {
    EXPECT_EQ(nlohmann::ordered_json(a->rows[i]).dump(), nlohmann::ordered_json(b->rows[i]).dump());
  }
  EXPECT_EQ(a->rows[0].tp, 1);
  EXPECT_EQ(a->rows[0].pp, 1);
  EXPECT_EQ(a->rows[0].policy, "zero1");
  EXPECT_EQ(a->rows[1].policy, "zero3");
  EXPECT_EQ(a->rows[2].policy, "fsdp2");
  EXPECT_EQ(a->rows.back().tp, 4);
}

}  // namespace
}  // namespace twinsim::harness
