// RunValidate through the library: requests checked with the command line's one-line messages
// (no GPU asked for), a request that holds run on the GPU where there is one (refused as
// Unavailable, naming the reason, where there is none), and the reports' JSON: the keys and
// bytes `validate --json` prints, read back by from_json.
#include "harness/validate.h"

#include <gtest/gtest.h>

#include <array>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "gpu/cuda_device.h"

namespace twinsim::harness {
namespace {

using Json = nlohmann::ordered_json;

// A two-layer GPT-2 over two tensor-parallel ranks: counter's init and a placement step on it
// take well under a second.
ValidateRequest SmallRequest() {
  ValidateRequest request;
  request.layout.model = "gpt2:n_layer=2,n_embd=64,n_head=4,vocab_size=512,n_positions=128";
  request.layout.tp = 2;
  request.policies = {"counter"};
  request.placement = {"cpu"};
  request.seq = 64;
  request.gpu_memory = uint64_t{1} << 30;
  return request;
}

TEST(ValidateRequestTest, ASmallRequestHolds) {
  EXPECT_TRUE(SmallRequest().Validate().ok()) << SmallRequest().Validate().message();
  StatusOr<PreparedValidate> prepared = PrepareValidate(SmallRequest());
  ASSERT_TRUE(prepared.ok()) << prepared.status().message();
  EXPECT_EQ(prepared->layout->world_size(), 2);
  EXPECT_EQ(prepared->policies.size(), 1u);
  EXPECT_EQ(prepared->placement.size(), 1u);
  EXPECT_EQ(prepared->config.seq_len, 64);
  ASSERT_TRUE(prepared->workload.has_value());
}

TEST(ValidateRequestTest, BadRequestsNameTheirField) {
  const struct {
    std::function<void(ValidateRequest&)> change;
    std::string message;
  } cases[] = {
      {[](ValidateRequest& q) {
         q.policies.clear(), q.placement.clear(), q.seq.reset(), q.gpu_memory.reset();
       },
       "--policy: required (or --placement)"},
      {[](ValidateRequest& q) { q.policies = {"bogus"}; }, "--policy: unknown seed policy 'bogus'"},
      {[](ValidateRequest& q) {
         q.policies = {"all", "counter"};
       },
       "--policy: 'all' must stand alone, got 'all,counter'"},
      {[](ValidateRequest& q) {
         q.placement = {"cpu", "cpu"};
       },
       "--placement: 'cpu' given twice"},
      {[](ValidateRequest& q) { q.placement = {"bogus"}; },
       "--placement: unknown placement policy 'bogus'"},
      {[](ValidateRequest& q) { q.placement.clear(); }, "--gpu-memory: only with --placement"},
      {[](ValidateRequest& q) { q.seq = 0; }, "--seq: expected a positive integer, got '0'"},
      {[](ValidateRequest& q) { q.seq = 256; },
       "--seq: 'gpt2:n_layer=2,n_embd=64,n_head=4,vocab_size=512,n_positions=128' has 128 "
       "positions, got 256"},
      {[](ValidateRequest& q) { q.layout.cp = 2, q.seq = 62; },
       "--seq: --cp 2 splits each sequence into 2 x cp = 4 pieces"},
      {[](ValidateRequest& q) { q.layout.model = "tiny-mlp"; },
       "--placement: 'tiny-mlp' is not a transformer"},
      {[](ValidateRequest& q) { q.layout.tp = 128; }, "--dp: world size"},
      {[](ValidateRequest& q) { q.layout.dp = 4, q.layout.dp_shard = 3; }, "--dp-shard:"},
      {[](ValidateRequest& q) { q.calibration_path = "/nonexistent/cal.json"; },
       "--calibration: cannot read /nonexistent/cal.json"},
      {[](ValidateRequest& q) { q.cluster = "bogus"; }, "--cluster:"},
      {[](ValidateRequest& q) { q.cluster = "dgx-h100:gpus_per_node=1,nodes=1"; },
       "--cluster: dgx-h100:gpus_per_node=1,nodes=1 has 1 GPUs, the layout needs 2"},
  };
  for (const auto& c : cases) {
    ValidateRequest request = SmallRequest();
    c.change(request);
    const Status status = request.Validate();
    EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << c.message << ": " << status.message();
    EXPECT_EQ(status.message().rfind(c.message, 0), 0u) << status.message();
    // RunValidate refuses the same request with the same message before asking for a GPU.
    EXPECT_EQ(RunValidate(request).status().message(), status.message());
  }
}

TEST(RunValidateTest, RunsOnTheGpuOrSaysWhyNot) {
  StatusOr<ValidateReport> report = RunValidate(SmallRequest());
  if (gpu::CudaDeviceCount() == 0) {
    EXPECT_EQ(report.status().code(), StatusCode::kUnavailable);
    EXPECT_EQ(report.status().message().rfind("no CUDA device to validate on: ", 0), 0u)
        << report.status().message();
    GTEST_SKIP() << "no GPU: " << gpu::CudaUnavailableReason();
  }
  ASSERT_TRUE(report.ok()) << report.status().message();
  ASSERT_EQ(report->policies.size(), 1u);
  ASSERT_EQ(report->placement.size(), 1u);
  const ValidatePolicyReport& counter = report->policies[0];
  EXPECT_EQ(counter.policy, "counter");
  EXPECT_EQ(counter.world, 2);
  EXPECT_EQ(counter.cuda_eq_host, counter.params);
  EXPECT_EQ(counter.sim_eq_cuda, counter.params);
  EXPECT_TRUE(counter.ok);
  EXPECT_TRUE(report->ok());
  Json j = *report;
  EXPECT_EQ(j.get<ValidateReport>(), *report);
}

// A report with every optional part both ways: a hash missing, an OOM, an unmeasured class.
ValidateReport SampleReport() {
  ValidateReport r;
  ValidatePolicyReport p;
  p.policy = "counter";
  p.version = 3;
  p.device = "NVIDIA H100 80GB HBM3";
  p.comm = "local";
  p.world = 2;
  p.seed = 7;
  p.cluster = "dgx-h100:gpus_per_node=2,nodes=1";
  p.calibration = "cal \"x\".json";
  p.parity = {"fails", true, "'w' differs\nat 3"};
  p.init_fits = "holds";
  p.params = 2;
  p.cuda_eq_host = 2;
  p.sim_eq_cuda = 1;
  p.param_hashes = {{"w", 0x0123456789abcdefull, 0x0123456789abcdefull, std::nullopt},
                    {"b", 1, 1, 1}};
  const std::array<gpu::TransferClass, 2> classes = {gpu::TransferClass::kInitKernel,
                                                     gpu::TransferClass::kD2D};
  gpu::TransferTotals m, s;
  m[gpu::TransferClass::kInitKernel] = {4, 4096, 1024, 0.000123456789123};
  s[gpu::TransferClass::kInitKernel] = {4, 4096, 1024, 0.0001};
  p.timing = TimingRows(m, s, classes);
  p.ok = false;
  r.policies.push_back(p);
  ValidatePlacementReport q;
  q.placement = "cpu";
  q.device = p.device;
  q.cluster = p.cluster;
  q.model = "gpt2";
  q.seq = 64;
  q.gpu_memory = 1 << 20;
  q.host_memory = 1 << 30;
  q.fits = false;
  q.oom = ValidateOomReport{-1, "", "GPU", 10, 4, 6, "initial placement"};
  q.judged = true;
  q.agrees = true;
  q.replay_detail = "the device refused at the same op";
  q.timing = TimingRows({}, {}, std::array{gpu::TransferClass::kH2D});
  q.ok = true;
  r.placement.push_back(q);
  return r;
}

TEST(ValidateJsonTest, LinesAreTheCommandsBytesAndReadBack) {
  const ValidateReport r = SampleReport();
  EXPECT_EQ(ValidateJsonLine(r.policies[0]),
            "{\"policy\":\"counter\",\"version\":3,\"device\":\"NVIDIA H100 80GB HBM3\","
            "\"comm\":\"local\",\"world\":2,\"seed\":7,\"cluster\":\"dgx-h100:gpus_per_node=2,"
            "nodes=1\",\"calibration\":\"cal \\\"x\\\".json\",\"parity\":{\"verdict\":\"fails\","
            "\"claimed\":true,\"detail\":\"'w' differs\\nat 3\"},\"init_fits\":\"holds\","
            "\"invariance\":{\"params\":2,\"cuda_eq_host\":2,\"sim_eq_cuda\":1},\"params\":["
            "{\"name\":\"w\",\"cuda\":\"0123456789abcdef\",\"host\":\"0123456789abcdef\","
            "\"sim\":\"none\"},{\"name\":\"b\",\"cuda\":\"0000000000000001\",\"host\":"
            "\"0000000000000001\",\"sim\":\"0000000000000001\"}],\"timing\":[{\"class\":\"init\","
            "\"count\":4,\"bytes\":4096,\"elements\":1024,\"measured_s\":0.000123456789,"
            "\"predicted_s\":0.0001,\"error_pct\":-19.000},{\"class\":\"d2d\",\"count\":0,"
            "\"bytes\":0,\"elements\":0,\"measured_s\":0,\"predicted_s\":0,\"error_pct\":null}],"
            "\"ok\":false}");
  EXPECT_EQ(
      ValidateJsonLine(r.placement[0]),
      "{\"placement\":\"cpu\",\"device\":\"NVIDIA H100 80GB HBM3\",\"cluster\":"
      "\"dgx-h100:gpus_per_node=2,nodes=1\",\"calibration\":null,\"model\":\"gpt2\","
      "\"rank\":0,\"batch\":1,\"seq\":64,\"gpu_memory\":1048576,\"host_memory\":1073741824,"
      "\"fits\":false,\"oom\":{\"op\":-1,\"op_name\":\"\",\"device\":\"GPU\",\"requested\":10,"
      "\"available\":4,\"shortfall\":6,\"message\":\"initial placement\"},"
      "\"peak_gpu_bytes\":0,\"peak_host_bytes\":0,\"h2d_bytes\":0,\"d2h_bytes\":0,"
      "\"device_replay\":{\"judged\":true,\"agrees\":true,\"detail\":\"the device refused "
      "at the same op\"},\"timing\":[{\"class\":\"h2d\",\"count\":0,\"bytes\":0,"
      "\"elements\":0,\"measured_s\":0,\"predicted_s\":0,\"error_pct\":null}],\"ok\":true}");
  // to_json has the printed keys in the printed order; from_json reads back what it wrote.
  const Json j = r;
  EXPECT_EQ(Json::parse(ValidateJsonLine(r.placement[0])), j.at("placement").at(0));
  Json line = Json::parse(ValidateJsonLine(r.policies[0]));
  std::vector<std::string> printed, written;
  for (const auto& [key, value] : line.items()) printed.push_back(key);
  for (const auto& [key, value] : j.at("policies").at(0).items()) written.push_back(key);
  EXPECT_EQ(printed, written);
  EXPECT_EQ(j.get<ValidateReport>(), r);
  // A line read back prints the same bytes (seconds rounded to %.9g stay as printed).
  EXPECT_EQ(ValidateJsonLine(line.get<ValidatePolicyReport>()), ValidateJsonLine(r.policies[0]));
  EXPECT_EQ(r.Failures(), 1);
  EXPECT_EQ(r.Disagreements(), 0);
  EXPECT_FALSE(r.ok());
  Json bad = j;
  bad["policies"][0]["params"][0]["sim"] = "xyz";
  EXPECT_THROW(bad.get<ValidateReport>(), nlohmann::json::exception);
}

}  // namespace
}  // namespace twinsim::harness
