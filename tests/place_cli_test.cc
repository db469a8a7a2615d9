// End-to-end tests of `twinsim place`: runs the built tool as a child process and checks the
// placement report — help, GPT-2 small on one V100-32GB (cuda fits, cpu moves more than
// optimal, auto's ratio >= 1, text agrees with JSON, model bytes agree with `twinsim chunks`),
// OOM reports naming the op and the device, size units, layout options — and a table of bad
// command lines (exit 2, one line on stderr, no stdout).
#include <gtest/gtest.h>

#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "tests/twinsim_runner.h"

namespace twinsim {
namespace {

using nlohmann::json;

using testing::BadCase;
using testing::Describe;
using testing::ExpectRejected;
using testing::Lines;
using testing::Ok;
using testing::ReadFile;
using testing::RunResult;
using testing::TmpDir;
using testing::Twinsim;
using testing::TwinsimPath;

// One JSON object per line.
std::vector<json> OkJsonLines(std::vector<std::string> args) {
  args.push_back("--json");
  std::vector<json> objects;
  for (const std::string& line : Lines(Ok(args))) {
    json parsed = json::parse(line, nullptr, /*allow_exceptions=*/false);
    EXPECT_FALSE(parsed.is_discarded()) << Describe(args) << "\n" << line;
    objects.push_back(parsed);
  }
  return objects;
}

std::vector<std::string> Place(std::vector<std::string> extra) {
  std::vector<std::string> args = {"place", "--cluster", "v100-32g", "--model", "gpt2-small"};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

// The JSON line of the policy whose name starts with `prefix` ("auto" for "auto(0.8,0.9)").
const json& ByPolicy(const std::vector<json>& lines, const std::string& prefix) {
  for (const json& j : lines) {
    if (j["policy"].get<std::string>().rfind(prefix, 0) == 0) return j;
  }
  ADD_FAILURE() << "no policy " << prefix;
  static const json empty = json::object();
  return empty;
}

// Every report must satisfy these, whatever the policy did.
void CheckConsistent(const json& j) {
  const uint64_t gpu = j["gpu_memory"], host = j["host_memory"];
  EXPECT_LE(j["peak_gpu_bytes"].get<uint64_t>(), gpu) << j;
  EXPECT_LE(j["peak_host_bytes"].get<uint64_t>(), host) << j;
  if (!j["fits"]) {
    EXPECT_TRUE(j["step_time_s"].is_null()) << j;
  }
  if (j["fits"] && j["backend"] == "sim") {
    // The simulated step: at least its compute, and as long as the slowest rank.
    EXPECT_GT(j["step_time_s"].get<double>(), 0) << j;
    EXPECT_EQ(j["step_time_s"], j["sim"]["step_time_s"]) << j;
    EXPECT_GE(j["step_time_s"].get<double>(), j["sim"]["compute_time_s"].get<double>() * 0.999)
        << j;
  }
  if (j["fits"]) {
    EXPECT_TRUE(j["oom"].is_null()) << j;
    // All model data is somewhere at the end of the step: its peak place(s) hold it.
    EXPECT_GE(j["peak_gpu_bytes"].get<uint64_t>() + j["peak_host_bytes"].get<uint64_t>(),
              j["model_bytes"].get<uint64_t>())
        << j;
    // Optimal bounds GPU-Adam steps; Gemini's HybridAdam keeps host optimizer state off PCIe
    // and can beat it (policies/placement/placement.h Note [CPU Adam]).
    const std::string name = j["policy"];
    const bool gpu_adam =
        name == "cuda" || name == "optimal" || name.find("+gpu-adam") != std::string::npos;
    EXPECT_TRUE(j["ratio_infinite"] == true ||
                (j["ratio_to_optimal"].is_number() && (!gpu_adam || j["ratio_to_optimal"] >= 1.0)))
        << j;
  } else {
    ASSERT_TRUE(j["oom"].is_object()) << j;
    const json& oom = j["oom"];
    EXPECT_TRUE(oom["device"] == "gpu" || oom["device"] == "host") << j;
    EXPECT_EQ(oom["shortfall"].get<uint64_t>(),
              oom["requested"].get<uint64_t>() - oom["available"].get<uint64_t>());
    EXPECT_GT(oom["shortfall"].get<uint64_t>(), 0u);
    EXPECT_NE(oom["message"].get<std::string>().find(oom["op_name"].get<std::string>()),
              std::string::npos)
        << j;
    EXPECT_TRUE(j["ratio_to_optimal"].is_null());
  }
}

// "1.63 GiB (1,748,733,952 B)" or "512 B" -> the exact byte count.
uint64_t ExactBytes(const std::string& text) {
  size_t open = text.find('(');
  while (open != std::string::npos && !(open + 1 < text.size() && std::isdigit(text[open + 1]))) {
    open = text.find('(', open + 1);
  }
  std::string digits;
  for (size_t i = open == std::string::npos ? 0 : open; i < text.size(); ++i) {
    if (text[i] >= '0' && text[i] <= '9') digits += text[i];
    if (text[i] == 'B') break;
  }
  return std::stoull(digits);
}

// The text report as policy -> label -> value ("peak GPU" -> "3.01 GiB (...)").
std::map<std::string, std::map<std::string, std::string>> ParseText(const std::string& text) {
  std::map<std::string, std::map<std::string, std::string>> policies;
  std::string current;
  for (const std::string& line : Lines(text)) {
    if (line.rfind("policy ", 0) == 0) {
      current = line.substr(7);
    } else if (!current.empty() && line.rfind("  ", 0) == 0) {
      policies[current][line.substr(2, 11).substr(
          0, line.substr(2, 11).find_last_not_of(' ') + 1)] = line.substr(14);
    }
  }
  return policies;
}

// ---- help ------------------------------------------------------------------------------------

TEST(PlaceCliTest, HelpExplainsOptionsPoliciesUnitsAndExamples) {
  for (const char* flag : {"--help", "-h"}) {
    const std::string out = Ok({"place", flag});
    for (const char* word : {"--cluster",
                             "--model",
                             "--gpu-memory",
                             "--host-memory",
                             "--batch",
                             "--seq",
                             "--tp",
                             "--pp",
                             "--dp",
                             "--microbatches",
                             "--schedule",
                             "--rank",
                             "--recompute",
                             "--recompute-selective",
                             "--sequence-parallel",
                             "--dp-shard",
                             "--dp-replicate",
                             "--cp",
                             "--mesh",
                             "--chunk-search",
                             "--search-range-m",
                             "--search-interval",
                             "--min-chunk-size-m",
                             "--chunk-size",
                             "--static",
                             "--policy",
                             "--json",
                             "cuda",
                             "cpu",
                             "static",
                             "auto",
                             "optimal",
                             "KiB",
                             "GB",
                             "24GB",
                             "32GiB",
                             "divided by the GPUs per node",
                             "--backend",
                             "checksum",
                             "--max-model",
                             "--init-policy",
                             "50% of the GPU's dense fp16 peak",
                             "twinsim place --cluster v100-32g --model gpt2-small --policy all"}) {
      EXPECT_NE(out.find(word), std::string::npos) << word << "\n" << out;
    }
  }
  EXPECT_NE(Ok({"--help"}).find("place"), std::string::npos);
}

// ---- GPT-2 small on one V100-32GB ------------------------------------------------------------

// gpt2-small is 124 M parameters: 14 B each is ~1.7 GB of model data, and batch 1 x 1024
// tokens keeps ~1.2 GiB of activations: far below 32 GiB, so the library must say cuda fits
// and nothing needs to move (optimal moves 0 bytes).
TEST(PlaceCliTest, Gpt2SmallOnV100) {
  const std::vector<json> lines =
      OkJsonLines(Place({"--batch", "1", "--seq", "1024", "--policy", "all"}));
  ASSERT_EQ(lines.size(), 5u);
  for (const json& j : lines) CheckConsistent(j);
  const json& cuda = ByPolicy(lines, "cuda");
  const json& cpu = ByPolicy(lines, "cpu");
  const json& automatic = ByPolicy(lines, "auto");
  const json& optimal = ByPolicy(lines, "optimal");
  EXPECT_EQ(ByPolicy(lines, "static")["policy"], "static(1,0,0)");  // ColossalAI's defaults
  EXPECT_EQ(cuda["gpu_memory"], uint64_t{32} << 30);                // the cluster's V100
  EXPECT_EQ(cuda["host_memory"], uint64_t{192} << 30);              // 192 GiB / 1 GPU
  EXPECT_EQ(cuda["heads"], 12);
  EXPECT_EQ(cuda["bytes_per_param"], 14);
  EXPECT_TRUE(cuda["feasible"]);

  EXPECT_TRUE(cuda["fits"]);
  EXPECT_EQ(cuda["h2d_bytes"], 0);
  EXPECT_EQ(cuda["d2h_bytes"], 0);
  EXPECT_EQ(cuda["peak_host_bytes"], 0);
  // Model data plus at least one microbatch of stored activations.
  EXPECT_GE(cuda["peak_gpu_bytes"].get<uint64_t>(),
            cuda["model_bytes"].get<uint64_t>() + cuda["stage_activation_bytes"].get<uint64_t>());

  EXPECT_TRUE(optimal["fits"]);
  EXPECT_EQ(optimal["ratio_to_optimal"], 1.0);
  EXPECT_TRUE(cpu["fits"]);
  EXPECT_GT(cpu["h2d_bytes"].get<uint64_t>(), optimal["h2d_bytes"].get<uint64_t>());
  EXPECT_GT(cpu["d2h_bytes"].get<uint64_t>(), optimal["d2h_bytes"].get<uint64_t>());
  // cpu (Gemini's static(1,1,1)) loads fp16 chunks only: HybridAdam updates the optimizer
  // state (12 of 14 bytes per parameter) on the host.
  EXPECT_LT(cpu["h2d_bytes"].get<uint64_t>(), cpu["model_bytes"].get<uint64_t>());
  EXPECT_EQ(cpu["peak_host_bytes"], cpu["model_bytes"]);
  // optimal moves nothing here, so cpu's ratio is infinite.
  EXPECT_EQ(optimal["h2d_bytes"], 0);
  EXPECT_TRUE(cpu["ratio_infinite"]);
  EXPECT_TRUE(cpu["ratio_to_optimal"].is_null());

  EXPECT_TRUE(automatic["fits"]);
  // Gemini's auto keeps fp32 and Adam state on the host (gpu_margin_mem_ratio 0): its fp16
  // chunks go home with their gradients every step, even where everything would fit.
  EXPECT_GT(automatic["h2d_bytes"].get<uint64_t>(), optimal["h2d_bytes"].get<uint64_t>());
  EXPECT_LT(automatic["h2d_bytes"].get<uint64_t>(), automatic["model_bytes"].get<uint64_t>());

  // The model data is what `twinsim chunks` packs for the same rank.
  const std::string chunks = Ok({"chunks", "--model", "gpt2-small", "--json"});
  const json c = json::parse(chunks, nullptr, false);
  ASSERT_FALSE(c.is_discarded());
  // Less Adam m and v of the padding (8 B per padding element): they cover valid elements only.
  EXPECT_EQ(cuda["model_bytes"].get<uint64_t>(),
            c["rank_bytes"]["total"].get<uint64_t>() - 8 * c["padding"].get<uint64_t>());
  EXPECT_EQ(cuda["chunk_size"], c["chunk_size"]);
  EXPECT_EQ(cuda["num_chunks"], c["chunks"].size());
}

TEST(PlaceCliTest, TextAgreesWithJson) {
  for (const std::vector<std::string>& args :
       {Place({"--policy", "all"}),
        std::vector<std::string>{"place", "--cluster", "v100-32g", "--model", "gpt2-xl", "--batch",
                                 "8", "--policy", "all"}}) {
    std::vector<json> lines = OkJsonLines(args);
    const std::string text = Ok(args);
    const auto blocks = ParseText(text);
    ASSERT_EQ(blocks.size(), lines.size()) << text;
    for (const json& j : lines) {
      CheckConsistent(j);
      const std::string policy = j["policy"];
      ASSERT_EQ(blocks.count(policy), 1u) << policy << "\n" << text;
      const auto& b = blocks.at(policy);
      EXPECT_EQ(b.at("step time").find(" simulated (1 rank, slowest; compute alone ") !=
                    std::string::npos,
                j["fits"].get<bool>())
          << policy << ": " << b.at("step time");
      EXPECT_EQ(ExactBytes(b.at("peak GPU")), j["peak_gpu_bytes"].get<uint64_t>()) << policy;
      EXPECT_EQ(ExactBytes(b.at("peak host")), j["peak_host_bytes"].get<uint64_t>()) << policy;
      const std::string& pcie = b.at("PCIe/step");
      const size_t d2h = pcie.find("D2H ");
      ASSERT_NE(d2h, std::string::npos) << pcie;
      EXPECT_EQ(ExactBytes(pcie.substr(4, d2h - 4)), j["h2d_bytes"].get<uint64_t>()) << pcie;
      EXPECT_EQ(ExactBytes(pcie.substr(d2h + 4)), j["d2h_bytes"].get<uint64_t>()) << pcie;
      const std::string& result = b.at("result");
      if (j["fits"]) {
        EXPECT_EQ(result, "fits");
      } else {
        const json& oom = j["oom"];
        EXPECT_EQ(result.rfind("OOM on " + oom["device"].get<std::string>() + " at ", 0), 0u)
            << result;
        EXPECT_NE(result.find(oom["op_name"].get<std::string>()), std::string::npos) << result;
        EXPECT_EQ(ExactBytes(result.substr(result.find(" at "))), oom["shortfall"]) << result;
        EXPECT_EQ(b.at("H2D/optimal"), "n/a (did not fit)");
      }
      if (j["fits"] && j["ratio_infinite"]) {
        EXPECT_EQ(b.at("H2D/optimal"), "inf (optimal moves nothing)");
      } else if (j["fits"]) {
        EXPECT_NEAR(std::stod(b.at("H2D/optimal")), j["ratio_to_optimal"].get<double>(), 5e-4);
      }
    }
  }
}

// ---- OOM -------------------------------------------------------------------------------------

// gpt2-xl (1.56 B parameters, ~20 GiB of model data) with batch 8 x 1024 tokens keeps ~1.4 GiB
// of activations per layer, 48 layers: far beyond 32 GiB, so cuda runs out in a forward layer.
// An OOM is a result: exit 0.
TEST(PlaceCliTest, OomNamesTheOpAndTheDevice) {
  const std::vector<std::string> args = {"place",   "--cluster", "v100-32g", "--model", "gpt2-xl",
                                         "--batch", "8",         "--policy", "cuda"};
  const std::vector<json> lines = OkJsonLines(args);
  ASSERT_EQ(lines.size(), 1u);
  const json& j = lines[0];
  CheckConsistent(j);
  EXPECT_FALSE(j["fits"]);
  EXPECT_FALSE(j["feasible"]);
  EXPECT_EQ(j["oom"]["device"], "gpu");
  EXPECT_EQ(j["oom"]["op_name"].get<std::string>().rfind("fwd layer ", 0), 0u) << j;
  EXPECT_GE(j["oom"]["op"].get<int>(), 1);
  const std::string text = Ok(args);
  EXPECT_NE(text.find("result      OOM on gpu at op " + std::to_string(j["oom"]["op"].get<int>()) +
                      " '" + j["oom"]["op_name"].get<std::string>() + "'"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("feasible      no"), std::string::npos) << text;
}

// cpu keeps all 1.63 GiB of model data on the host: 1 GB of host memory cannot hold it.
TEST(PlaceCliTest, HostOomAtTheInitialPlacement) {
  const std::vector<json> lines = OkJsonLines(Place({"--host-memory", "1GB", "--policy", "cpu"}));
  ASSERT_EQ(lines.size(), 1u);
  const json& j = lines[0];
  CheckConsistent(j);
  EXPECT_EQ(j["host_memory"], 1000000000);
  EXPECT_FALSE(j["fits"]);
  EXPECT_EQ(j["oom"]["device"], "host");
  EXPECT_EQ(j["oom"]["op"], -1);
  EXPECT_EQ(j["oom"]["op_name"], "initial placement");
  const std::string text = Ok(Place({"--host-memory", "1GB", "--policy", "cpu"}));
  EXPECT_NE(text.find("result      OOM on host at initial placement: "), std::string::npos) << text;
}

// ---- sizes and options -----------------------------------------------------------------------

TEST(PlaceCliTest, SizesTakeDecimalAndBinaryUnits) {
  const std::vector<std::pair<std::string, uint64_t>> sizes = {
      {"24GB", 24000000000},
      {"32GiB", uint64_t{32} << 30},
      {"512GiB", uint64_t{512} << 30},
      {"1.5GiB", uint64_t{3} << 29},
      {"2TB", 2000000000000},
      {"1TiB", uint64_t{1} << 40},
      {"750MB", 750000000},
      {"640KiB", 640 * 1024},
      {"123456789", 123456789},
      {"4096B", 4096},
  };
  for (const auto& [text, bytes] : sizes) {
    const std::vector<json> lines =
        OkJsonLines(Place({"--gpu-memory", text, "--host-memory", text, "--policy", "optimal"}));
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_EQ(lines[0]["gpu_memory"], bytes) << text;
    EXPECT_EQ(lines[0]["host_memory"], bytes) << text;
  }
}

TEST(PlaceCliTest, LayoutScheduleAndShardingOptions) {
  // dgx-a100-80g: 8 GPUs of 80 GiB, 2 TiB of host memory per node -> 256 GiB per GPU.
  const std::vector<std::string> base = {"place",       "--cluster", "dgx-a100-80g", "--model",
                                         "gpt2-medium", "--policy",  "cuda"};
  auto with = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = base;
    args.insert(args.end(), extra.begin(), extra.end());
    const std::vector<json> lines = OkJsonLines(args);
    EXPECT_EQ(lines.size(), 1u) << Describe(args);
    CheckConsistent(lines.at(0));
    return lines.at(0);
  };
  const json one = with({});
  EXPECT_EQ(one["gpu_memory"], uint64_t{80} << 30);
  EXPECT_EQ(one["host_memory"], uint64_t{2048} << 30 >> 3);
  EXPECT_EQ(one["heads"], 16);

  // pp 2, 4 microbatches: 1F1B's first stage holds min(4, 2) microbatches, GPipe all 4; the
  // last stage (rank 1) holds 1 under 1F1B.
  const json f0 = with({"--pp", "2", "--microbatches", "4"});
  const json g0 = with({"--pp", "2", "--microbatches", "4", "--schedule", "gpipe"});
  const json f1 = with({"--pp", "2", "--microbatches", "4", "--rank", "1"});
  EXPECT_EQ(f0["held_microbatches"], 2);
  EXPECT_EQ(g0["held_microbatches"], 4);
  EXPECT_EQ(f1["held_microbatches"], 1);
  EXPECT_EQ(f0["stage"], 0);
  EXPECT_EQ(f1["stage"], 1);
  EXPECT_EQ(f0["bytes_per_param"], 16);  // gradient accumulation over microbatches
  EXPECT_GT(g0["peak_gpu_bytes"].get<uint64_t>(), f0["peak_gpu_bytes"].get<uint64_t>());

  // Recomputation keeps only each layer's input.
  const json r = with({"--recompute"});
  EXPECT_LT(r["stage_activation_bytes"].get<uint64_t>(),
            one["stage_activation_bytes"].get<uint64_t>());
  EXPECT_LT(r["peak_gpu_bytes"].get<uint64_t>(), one["peak_gpu_bytes"].get<uint64_t>());

  // DP sharding over 4 ranks keeps a quarter of the model data per rank.
  const json s = with({"--dp", "4", "--dp-shard"});
  EXPECT_EQ(s["dp_shards"], 4);
  const json c =
      json::parse(Ok({"chunks", "--model", "gpt2-medium", "--dp", "4", "--dp-shard", "--json"}),
                  nullptr, false);
  ASSERT_FALSE(c.is_discarded());
  EXPECT_EQ(s["model_bytes"], c["rank_bytes"]["total"]);
  EXPECT_EQ(s["chunk_size"], c["chunk_size"]);
  EXPECT_LT(s["model_bytes"].get<uint64_t>(), one["model_bytes"].get<uint64_t>());

  // place takes the search options of `chunks`, and --chunk-size fixes the size.
  const json searched = with({"--search-interval", "1024", "--min-chunk-size-m", "8"});
  const json cs = json::parse(Ok({"chunks", "--model", "gpt2-medium", "--search-interval", "1024",
                                  "--min-chunk-size-m", "8", "--json"}),
                              nullptr, false);
  EXPECT_EQ(searched["chunk_size"], cs["chunk_size"]);
  // Adam m and v cover valid elements only: 8 B less per padding element.
  EXPECT_EQ(searched["model_bytes"].get<uint64_t>(),
            cs["rank_bytes"]["total"].get<uint64_t>() - 8 * cs["padding"].get<uint64_t>());
  EXPECT_EQ(with({"--chunk-size", "16777216"})["chunk_size"], 16777216);

  // --static sets the static policy's fractions; the name says which.
  std::vector<std::string> st = {"place",    "--cluster", "v100-32g", "--model", "gpt2-small",
                                 "--policy", "static",    "--static", "1,1,0"};
  const std::vector<json> sl = OkJsonLines(st);
  ASSERT_EQ(sl.size(), 1u);
  EXPECT_EQ(sl[0]["policy"], "static(1,1,0)");
  EXPECT_GT(sl[0]["h2d_bytes"].get<uint64_t>(), 0u);  // offloaded optimizer state moves
}

// --dp-shard N --dp-replicate M --cp C --mesh, as `chunks` and `init` take them: chunks are
// sharded over the shard group (N ranks), replicas hold the same shards, and cp ranks keep
// the activations of seq / C tokens.
TEST(PlaceCliTest, ShardGroupReplicasAndContextParallelism) {
  const std::vector<std::string> base = {"place",   "--cluster",   "dgx-a100-80g",
                                         "--model", "gpt2-medium", "--policy",
                                         "cuda",    "--backend",   "accounting"};
  auto with = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = base;
    args.insert(args.end(), extra.begin(), extra.end());
    const std::vector<json> lines = OkJsonLines(args);
    EXPECT_EQ(lines.size(), 1u) << Describe(args);
    CheckConsistent(lines.at(0));
    return lines.at(0);
  };
  // --dp 8 --dp-shard 4: a quarter of every chunk per rank (the chunks `chunks` prints), two
  // replicas; rank 5 (shard 1 of replica 1) keeps what rank 1 keeps.
  const json q = with({"--dp", "8", "--dp-shard", "4"});
  EXPECT_EQ(q["dp_shards"], 4);
  EXPECT_EQ(q["dp_shard"], 4);
  EXPECT_EQ(q["dp_replicate"], 2);
  EXPECT_EQ(q["cp"], 1);
  EXPECT_EQ(q["mesh"], "megatron");
  const json c = json::parse(
      Ok({"chunks", "--model", "gpt2-medium", "--dp", "8", "--dp-shard", "4", "--json"}), nullptr,
      false);
  ASSERT_FALSE(c.is_discarded());
  EXPECT_EQ(q["chunk_size"], c["chunk_size"]);
  EXPECT_EQ(q["model_bytes"], c["rank_bytes"]["total"]);
  EXPECT_EQ(with({"--dp", "8", "--dp-shard", "4", "--rank", "5"})["model_bytes"],
            with({"--dp", "8", "--dp-shard", "4", "--rank", "1"})["model_bytes"]);
  EXPECT_EQ(with({"--dp-replicate", "2", "--dp-shard", "4"})["model_bytes"], q["model_bytes"]);
  const json whole = with({"--dp", "8"});
  const json eighth = with({"--dp", "8", "--dp-shard", "8"});
  EXPECT_EQ(whole["dp_shards"], 1);
  EXPECT_EQ(eighth["dp_shards"], 8);
  EXPECT_LT(eighth["model_bytes"].get<uint64_t>(), q["model_bytes"].get<uint64_t>());
  EXPECT_LT(q["model_bytes"].get<uint64_t>(), whole["model_bytes"].get<uint64_t>());
  // The old switch: a bare --dp-shard is --dp-shard = --dp.
  const json bare = with({"--dp", "8", "--dp-shard"});
  EXPECT_EQ(bare["dp_shard"], 8);
  EXPECT_EQ(bare["model_bytes"], eighth["model_bytes"]);

  // --cp 2: the activations of 512 of 1024 tokens, i.e. those of --seq 512; the parameters
  // (replicated over cp, Megatron) are unchanged.
  const json cp = with({"--cp", "2", "--seq", "1024"});
  const json half = with({"--seq", "512"});
  const json full = with({"--seq", "1024"});
  EXPECT_EQ(cp["cp"], 2);
  EXPECT_EQ(cp["seq"], 1024);
  EXPECT_EQ(cp["layer_activation_bytes"], half["layer_activation_bytes"]);
  EXPECT_EQ(cp["stage_activation_bytes"], half["stage_activation_bytes"]);
  EXPECT_LT(cp["layer_activation_bytes"].get<uint64_t>(),
            full["layer_activation_bytes"].get<uint64_t>());
  EXPECT_LT(cp["peak_gpu_bytes"].get<uint64_t>(), full["peak_gpu_bytes"].get<uint64_t>());
  EXPECT_EQ(cp["model_bytes"], full["model_bytes"]);
  // torchtitan's mesh shards over dp_shard x cp.
  EXPECT_EQ(
      with({"--dp", "2", "--dp-shard", "2", "--cp", "2", "--mesh", "torchtitan"})["dp_shards"], 4);

  // The text report names the axes.
  const std::string text =
      Ok({"place", "--cluster", "dgx-a100-80g", "--model", "gpt2-medium", "--policy", "cuda",
          "--backend", "accounting", "--dp", "4", "--dp-shard", "2", "--cp", "2", "--rank", "3"});
  EXPECT_NE(text.find("layout        tp=1 pp=1 dp=4 cp=2, dp_shard=2 x dp_replicate=2 (megatron "
                      "mesh); rank 3 (dp 1, pp 0, tp 0, cp 1), stage 0 of 1\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("sharded over the 2 ranks of the shard group (2 replicas hold the same "
                      "shards)"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("(its 512 of 1024 tokens: cp 2)"), std::string::npos) << text;

  // On the simulated cluster (HSDP: gathers over the shard group, then replicas all-reduce).
  const std::vector<json> sim =
      OkJsonLines({"place", "--cluster", "dgx-a100-80g", "--model", "gpt2-medium", "--dp", "8",
                   "--dp-shard", "4", "--policy", "cuda"});
  ASSERT_EQ(sim.size(), 1u);
  EXPECT_EQ(sim[0]["sim"]["ranks"], 8);
  EXPECT_GT(sim[0]["sim"]["link_bytes"]["nvlink"].get<uint64_t>(), 0u);
}

// ---- errors ----------------------------------------------------------------------------------

TEST(PlaceCliTest, BadInvocationsExitTwoWithOneLineAndNoOutput) {
  const std::vector<BadCase> cases = {
      {{"place", "--model", "gpt2-small", "--policy", "all"}, "twinsim place: --cluster: missing"},
      {{"place", "--cluster", "v100-32g", "--model", "gpt2-small"},
       "twinsim place: --policy: missing"},
      {Place({"--policy", "all", "--gpu-memory", "24 GB"}),
       "twinsim place: --gpu-memory: expected a size like 24GB or 32GiB, got '24 GB'"},
      {Place({"--policy", "all", "--gpu-memory", "24gb"}),
       "--gpu-memory: expected a size like 24GB or 32GiB, got '24gb'"},
      {Place({"--policy", "all", "--host-memory", "-1GB"}),
       "--host-memory: expected a size like 24GB or 32GiB, got '-1GB'"},
      {Place({"--policy", "all", "--host-memory", "0"}),
       "--host-memory: expected a positive size, got '0'"},
      {Place({"--policy", "all", "--host-memory", "1.5B"}),
       "--host-memory: '1.5B' is not a whole number of bytes"},
      {Place({"--policy", "all", "--gpu-memory", "2000000TiB"}),
       "--gpu-memory: '2000000TiB' exceeds the largest size"},
      {Place({"--policy", "all", "--gpu-memory", "GB"}),
       "--gpu-memory: expected a size like 24GB or 32GiB, got 'GB'"},
      {Place({"--policy", "fast"}),
       "--policy: unknown policy 'fast'; expected cuda, cpu, static, static-documented, auto, "
       "optimal, zero1, zero2, zero3, fsdp2, fsdp2-no-reshard, fsdp2-cpu-offload, megatron-distopt or all"},
      {Place({"--policy", "fsdp2", "--recompute", "--recompute-selective"}),
       "--recompute-selective: not with --recompute (full)"},
      {Place({"--policy", "auto", "--gpu-margin-mem-ratio", "1.5"}),
       "--gpu-margin-mem-ratio: expected a ratio in [0, 1], got '1.5'"},
      {Place({"--policy", "cuda", "--gpu-margin-mem-ratio", "0.5"}),
       "--gpu-margin-mem-ratio: only with --policy auto (or all)"},
      {Place({"--policy", "auto", "--gpu-adam", "--gpu-margin-mem-ratio", "0.5"}),
       "--gpu-margin-mem-ratio: moves HybridAdam's host state to the GPU; not with --gpu-adam"},
      {Place({"--policy", "static-documented", "--gpu-adam"}),
       "--gpu-adam: not with static-documented"},
      {Place({"--policy", "all,cuda"}), "--policy: 'all' must stand alone"},
      {Place({"--policy", "cuda", "--chunk-size", "0"}),
       "twinsim place: --chunk-size: expected a positive integer, got '0'"},
      {{"place", "--cluster", "v100-32g:nodes=2", "--model", "gpt2-small", "--policy", "cuda",
        "--dp", "2", "--dp-shard", "--chunk-size", "1025"},
       "twinsim place: --chunk-size: 1025 is not a multiple of the 2 DP shards"},
      {Place({"--policy", "cuda", "--search-interval", "1"}),
       "twinsim place: --search-range-m/--search-interval: search range 33554432 in steps of 1 "
       "gives 33554433 candidates"},
      {Place({"--policy", "cuda", "--chunk-search", "x"}),
       "twinsim place: --chunk-search: expected colossalai or packed, got 'x'"},
      {Place({"--policy", "cuda,cuda"}), "--policy: 'cuda' given twice"},
      {{"place", "--cluster", "dgx-a100-80g", "--model", "gpt2-small", "--policy", "cuda", "--dp",
        "8", "--dp-shard", "3"},
       "twinsim place: --dp-shard: LayoutConfig.dp_shard = 3 does not divide dp = 8"},
      {{"place", "--cluster", "dgx-a100-80g", "--model", "gpt2-small", "--policy", "cuda",
        "--dp-shard", "--dp-replicate", "2"},
       "twinsim place: --dp-shard: give N with --dp-replicate"},
      {{"place", "--cluster", "dgx-a100-80g", "--model", "gpt2-small", "--policy", "cuda", "--cp",
        "2", "--seq", "1022"},
       "twinsim place: --seq: --cp 2 splits each sequence into 2 x cp = 4 pieces, as Megatron-LM "
       "does; expected a multiple of 4, got 1022"},
      {Place({"--policy", "cuda", "--cp", "2"}),
       "twinsim place: --cluster: v100-32g has 1 GPUs, the layout needs 2 (tp 1 x pp 1 x dp 1 x "
       "cp 2)"},
      {{"place", "--cluster", "dgx-a100-80g", "--model", "gpt2-small", "--policy", "cuda", "--dp",
        "8", "--dp-shard", "4", "--chunk-size", "1026"},
       "twinsim place: --chunk-size: 1026 is not a multiple of the 4 DP shards"},
      {Place({"--policy", "cuda,"}), "--policy: expected comma-separated names"},
      {Place({"--policy", "static", "--static", "1,0"}),
       "--static: expected three fractions SHARD,OPTIM,PARAM in [0, 1], got '1,0'"},
      {Place({"--policy", "static", "--static", "1,0,2"}),
       "--static: expected three fractions SHARD,OPTIM,PARAM in [0, 1], got '1,0,2'"},
      {Place({"--policy", "static", "--static", "1,x,0"}), "--static: expected"},
      {Place({"--policy", "cuda", "--static", "1,0,0"}),
       "--static: only with --policy static or static-documented (or all)"},
      {Place({"--policy", "all", "--schedule", "interleaved"}),
       "--schedule: expected 1f1b or gpipe, got 'interleaved'"},
      {Place({"--policy", "all", "--batch", "0"}), "--batch: expected a positive integer, got '0'"},
      {Place({"--policy", "all", "--microbatches", "x"}),
       "--microbatches: expected a positive integer"},
      {Place({"--policy", "all", "--seq", "2048"}),
       "--seq: 'gpt2-small' has 1024 positions, got 2048"},
      {{"place", "--cluster", "v100-33g", "--model", "gpt2-small", "--policy", "all"},
       "twinsim place: --cluster: "},
      {Place({"--policy", "all", "--dp", "2"}),
       "--cluster: v100-32g has 1 GPUs, the layout needs 2"},
      {Place({"--policy", "all", "--rank", "1"}),
       "--rank: expected a rank below the world size 1, got '1'"},
      {{"place", "--cluster", "v100-32g", "--model", "tiny-mlp", "--policy", "all"},
       "--model: 'tiny-mlp' is not a transformer"},
      {{"place", "--cluster", "v100-32g", "--model", "gpt2-smal", "--policy", "all"},
       "--model: unknown model 'gpt2-smal'"},
      {Place({"--policy", "all", "--heads", "7"}),
       "--heads: the hidden size 768 is not a multiple of 7 heads"},
      {{"place", "--cluster", "dgx-a100-80g", "--model", "gpt2-small", "--pp", "2", "--vpp", "2",
        "--microbatches", "3", "--policy", "all"},
       "--microbatches: the interleaved 1F1B schedule (vpp 2) needs a multiple of pp 2, got 3"},
      {{"place", "--cluster", "v100-32g", "--model", "llama3-8b", "--batch", "1048576", "--seq",
        "1048576", "--policy", "all"},
       "--batch/--seq/--microbatches: "},
      {Place({"--policy", "all", "--json", "--json"}), "--json: given 2 times"},
      {Place({"--policy", "all", "--recompute=1"}), "--recompute: takes no value"},
      {Place({"--policy", "all", "stray"}), "unexpected argument 'stray'"},
      {{"place", "--cluster", "v100-32g", "--policy", "all"},
       "--model: required (or --max-model FAMILY)"},
      {Place({"--policy", "all", "--max-model", "gpt2"}),
       "--max-model: give --model or --max-model, not both"},
      {{"place", "--cluster", "v100-32g", "--max-model", "llama3", "--policy", "all"},
       "--max-model: expected the family gpt2"},
      {{"place", "--cluster", "v100-32g", "--max-model", "gpt2:n_layer=4", "--policy", "all"},
       "--max-model: expected keys n_embd, n_head, vocab_size, n_positions (the search sets "
       "n_layer), got 'n_layer=4'"},
      {{"place", "--cluster", "v100-32g", "--max-model", "gpt2:n_embd=512", "--policy", "all"},
       "--max-model: give n_embd and n_head together"},
      {{"place", "--cluster", "v100-32g", "--max-model", "gpt2", "--backend", "host", "--policy",
        "all"},
       "--backend: --max-model searches with accounting or sim"},
      {Place({"--policy", "all", "--pinned-memory", "8GiB"}),
       "--pinned-memory: only with --pin-memory"},
      {Place({"--policy", "all", "--pin-memory", "--pinned-memory", "8 GiB"}),
       "--pinned-memory: expected a size like 24GB or 32GiB, got '8 GiB'"},
      {Place({"--policy", "all", "--allocator", "pytorch"}),
       "--allocator: expected exact or caching, got 'pytorch'"},
      {Place({"--policy", "all", "--backend", "gpu"}),
       "--backend: expected sim, host or accounting, got 'gpu'"},
      {Place({"--policy", "all", "--backend", "host", "--trace", "t.json"}),
       "--trace: only with --backend sim"},
      {{"place", "--cluster", "v100-32g", "--model", "gpt2-xl", "--backend", "host", "--policy",
        "all"},
       "--backend: host holds real bytes, at most 4.00 GiB of model data per rank; rank 0 has "},
      {Place({"--policy", "all", "--init-policy", "megatron,nope"}), "--init-policy: "},
      {Place({"--policy", "all", "--init-policy", "megatron,megatron"}),
       "--init-policy: 'megatron' given twice"},
      {{"place", "--cluster", "dgx-a100-80g:nodes=64", "--model", "gpt2-small", "--dp", "512",
        "--backend", "sim", "--policy", "cuda"},
       "--backend: sim simulates every rank, at most 256; the layout has 512"},
  };
  ASSERT_GE(cases.size(), 12u);
  for (const BadCase& c : cases) ExpectRejected(c);
}

TEST(PlaceCliTest, SimStepTimeGrowsWithPcieTrafficAndLinksCarryTheMoves) {
  const std::vector<json> lines =
      OkJsonLines({"place", "--cluster", "v100-32g", "--model", "gpt2-medium", "--policy",
                   "cuda,cpu,auto", "--gpu-memory", "8GiB"});
  const json& cuda = ByPolicy(lines, "cuda");
  const json& cpu = ByPolicy(lines, "cpu");
  for (const json& j : lines) CheckConsistent(j);
  ASSERT_TRUE(cuda["fits"]);
  ASSERT_TRUE(cpu["fits"]);
  // Nothing moves under cuda: the step is its compute. cpu moves every chunk in and out.
  EXPECT_NEAR(cuda["step_time_s"].get<double>(), cuda["sim"]["compute_time_s"].get<double>(),
              1e-6 * cuda["step_time_s"].get<double>());
  EXPECT_GT(cpu["step_time_s"].get<double>(), 2 * cuda["step_time_s"].get<double>());
  EXPECT_EQ(cpu["sim"]["link_bytes"]["pcie-gpu"].get<uint64_t>(),
            cpu["h2d_bytes"].get<uint64_t>() + cpu["d2h_bytes"].get<uint64_t>());
  EXPECT_EQ(cuda["sim"]["link_bytes"]["pcie-gpu"].get<uint64_t>(), 0u);
  // 8 DP ranks of a DGX sharing chunks: gathers and reductions cross NVLink.
  const std::vector<json> dgx =
      OkJsonLines({"place", "--cluster", "dgx-a100-80g", "--model", "gpt2-medium", "--dp", "8",
                   "--dp-shard", "--policy", "cuda"});
  ASSERT_EQ(dgx.size(), 1u);
  EXPECT_EQ(dgx[0]["sim"]["ranks"], 8);
  EXPECT_GT(dgx[0]["sim"]["link_bytes"]["nvlink"].get<uint64_t>(), 0u);
  EXPECT_GT(dgx[0]["step_time_s"].get<double>(), dgx[0]["sim"]["compute_time_s"].get<double>());
}

TEST(PlaceCliTest, HostBackendChecksumsEveryMove) {
  const std::vector<std::string> args = {"place",
                                         "--cluster",
                                         "v100-32g",
                                         "--model",
                                         "gpt2:n_layer=4,n_embd=256,n_head=4,vocab_size=1024",
                                         "--backend",
                                         "host",
                                         "--gpu-memory",
                                         "1GiB",
                                         "--policy",
                                         "cpu,auto,optimal"};
  const std::vector<json> lines = OkJsonLines(args);
  ASSERT_EQ(lines.size(), 3u);
  for (const json& j : lines) {
    CheckConsistent(j);
    EXPECT_EQ(j["backend"], "host");
    EXPECT_TRUE(j["step_time_s"].is_null());
  }
  const json& cpu = ByPolicy(lines, "cpu");
  ASSERT_TRUE(cpu["host_replay"].is_object()) << cpu;
  EXPECT_EQ(cpu["host_replay"]["bytes_moved"].get<uint64_t>(),
            cpu["h2d_bytes"].get<uint64_t>() + cpu["d2h_bytes"].get<uint64_t>());
  EXPECT_EQ(cpu["host_replay"]["intact"], true);
  EXPECT_GT(cpu["host_replay"]["checksums"].get<uint64_t>(),
            cpu["host_replay"]["moves"].get<uint64_t>());
  EXPECT_TRUE(ByPolicy(lines, "optimal")["host_replay"].is_null());
  const std::string text = Ok(args);
  EXPECT_NE(text.find(" checksums match (peak "), std::string::npos) << text;
  EXPECT_NE(text.find("host bytes  n/a (no whole-unit placement to replay: optimal is a bound"),
            std::string::npos);
}

TEST(PlaceCliTest, MaxModelFindsTheLastFittingDepth) {
  const std::vector<std::string> common = {"--cluster",     "v100-32g", "--gpu-memory", "2GiB",
                                           "--host-memory", "4GiB",     "--seq",        "256"};
  std::vector<std::string> args = {"place", "--max-model", "gpt2:n_embd=512,n_head=8", "--policy",
                                   "cuda,cpu,auto"};
  args.insert(args.end(), common.begin(), common.end());
  const std::vector<json> lines = OkJsonLines(args);
  ASSERT_EQ(lines.size(), 3u);
  int64_t cuda_params = 0, cpu_params = 0;
  for (const json& j : lines) {
    ASSERT_TRUE(j["largest"].is_string()) << j;
    const std::string largest = j["largest"];
    const std::string policy = j["policy"];
    if (policy == "cuda") cuda_params = j["params"];
    if (policy == "cpu") cpu_params = j["params"];
    // The reported model fits under its policy; one more layer does not.
    const std::string name = policy.substr(0, policy.find('('));
    std::vector<std::string> check = {"place", "--model",   largest,     "--policy",
                                      name,    "--backend", "accounting"};
    check.insert(check.end(), common.begin(), common.end());
    EXPECT_EQ(OkJsonLines(check)[0]["fits"], true) << largest;
    const size_t eq = largest.find('=') + 1, comma = largest.find(',');
    const int layers = std::stoi(largest.substr(eq, comma - eq));
    check[2] = "gpt2:n_layer=" + std::to_string(layers + 1) + largest.substr(comma);
    EXPECT_EQ(OkJsonLines(check)[0]["fits"], false) << check[2];
  }
  // Offloading everything trains a larger model than keeping everything on the GPU.
  EXPECT_GT(cpu_params, cuda_params);
  EXPECT_EQ(lines[0]["dp_shard"], 1);
  EXPECT_EQ(lines[0]["mesh"], "megatron");
  // Sharding the chunks over two ranks keeps less per rank: a larger model fits; the report
  // names the layout.
  std::vector<std::string> sharded = {"place",    "--max-model", "gpt2:n_embd=512,n_head=8",
                                      "--policy", "cuda",        "--dp",
                                      "2",        "--dp-shard",  "2"};
  sharded.insert(sharded.end(), common.begin(), common.end());
  sharded[sharded.size() - common.size() + 1] = "v100-32g:nodes=2";
  const std::vector<json> s2 = OkJsonLines(sharded);
  ASSERT_EQ(s2.size(), 1u);
  EXPECT_EQ(s2[0]["dp"], 2);
  EXPECT_EQ(s2[0]["dp_shard"], 2);
  EXPECT_EQ(s2[0]["dp_replicate"], 1);
  EXPECT_GT(s2[0]["params"].get<int64_t>(), cuda_params);
}

TEST(PlaceCliTest, InitMeetsPlacement) {
  // On a roomy V100 every seed policy's init and chunk build fit under every placement.
  const std::vector<json> roomy = OkJsonLines(
      Place({"--policy", "cuda,cpu,optimal", "--init-policy", "all", "--backend", "accounting"}));
  ASSERT_EQ(roomy.size(), 3u);
  for (const json& j : roomy) {
    ASSERT_EQ(j["init_meets_placement"].size(), 14u) << j;  // every seed policy
    for (const json& m : j["init_meets_placement"]) {
      if (j["policy"] == "optimal") {
        EXPECT_EQ(m["applicable"], false);
      } else {
        EXPECT_EQ(m["fits"], true) << m;
      }
    }
  }
  // 600 MB of GPU: the unpartitioned fp32 parameters (498 MB) and the first chunk do not fit
  // together while chunks are built, even under cpu.
  const std::vector<json> tight =
      OkJsonLines(Place({"--policy", "cpu", "--init-policy", "counter", "--gpu-memory", "600MB",
                         "--backend", "accounting"}));
  ASSERT_EQ(tight.size(), 1u);
  const json& m = tight[0]["init_meets_placement"][0];
  EXPECT_EQ(m["fits"], false) << m;
  EXPECT_NE(m["why"].get<std::string>().find("chunk build"), std::string::npos) << m;
  const std::string text = Ok(Place({"--policy", "cpu", "--init-policy", "counter", "--gpu-memory",
                                     "600MB", "--backend", "accounting"}));
  EXPECT_NE(text.find("init meets placement"), std::string::npos) << text;
  EXPECT_NE(text.find("counter under cpu: chunk build"), std::string::npos) << text;
}

TEST(PlaceCliTest, CachingAllocatorTurnsFragmentationIntoAnOom) {
  // gpt2-medium on 5 GiB: auto fits with exact accounting; through the caching allocator its
  // freed activation blocks are too small for a later op's, and the segments fill the GPU.
  const std::vector<std::string> base = {
      "place", "--cluster", "v100-32g", "--model",   "gpt2-medium", "--gpu-memory",
      "5GiB",  "--policy",  "auto",     "--backend", "accounting",  "--allocator"};
  std::vector<std::string> exact = base, caching = base;
  exact.push_back("exact");
  caching.push_back("caching");
  const json e = OkJsonLines(exact)[0], c = OkJsonLines(caching)[0];
  EXPECT_EQ(e["fits"], true) << e;
  EXPECT_EQ(e["peak_reserved_bytes"], 0);
  EXPECT_EQ(c["fits"], false) << c;
  EXPECT_NE(c["oom"]["message"].get<std::string>().find("fragmentation: "), std::string::npos) << c;
  CheckConsistent(c);
  // With room to spare both fit, and the allocator reserves at least what is allocated.
  std::vector<std::string> roomy = caching;
  roomy[6] = "9GiB";
  const json r = OkJsonLines(roomy)[0];
  EXPECT_EQ(r["fits"], true) << r;
  EXPECT_GE(r["peak_reserved_bytes"].get<uint64_t>(), r["peak_gpu_bytes"].get<uint64_t>());
  const std::string text = Ok(roomy);
  EXPECT_NE(text.find(", reserved "), std::string::npos) << text;
}

TEST(PlaceCliTest, PinnedHostMemoryCapsTheHostBudget) {
  // cpu keeps gpt2-xl's 21.8 GB of chunks on the host: fine in 192 GiB pageable memory, not in
  // 16 GiB pinned.
  const std::vector<std::string> base = {"place",   "--cluster", "v100-32g",
                                         "--model", "gpt2-xl",   "--policy",
                                         "cpu",     "--backend", "accounting"};
  const json pageable = OkJsonLines(base)[0];
  EXPECT_EQ(pageable["fits"], true) << pageable;
  std::vector<std::string> pinned = base;
  for (const char* a : {"--pin-memory", "--pinned-memory", "16GiB"}) pinned.push_back(a);
  const json p = OkJsonLines(pinned)[0];
  EXPECT_EQ(p["pin_memory"], true);
  EXPECT_EQ(p["host_memory"].get<uint64_t>(), uint64_t{16} << 30);
  EXPECT_EQ(p["fits"], false) << p;
  EXPECT_EQ(p["oom"]["device"], "host") << p;
  // The preset's own pinned limit (half of 192 GiB, per GPU) is enough.
  std::vector<std::string> preset = base;
  preset.push_back("--pin-memory");
  const json q = OkJsonLines(preset)[0];
  EXPECT_EQ(q["host_memory"].get<uint64_t>(), uint64_t{96} << 30);
  EXPECT_EQ(q["fits"], true);
  const std::string text = Ok(pinned);
  EXPECT_NE(text.find("(pinned: the smaller of 192.00 GiB pageable and 16.00 GiB pinned)"),
            std::string::npos)
      << text;
}

TEST(PlaceCliTest, TimelineShowsMemoryWhileEachOpRan) {
  const std::vector<json> lines =
      OkJsonLines(Place({"--policy", "cuda,cpu", "--timeline", "--backend", "accounting"}));
  for (const json& j : lines) {
    ASSERT_TRUE(j["timeline"].is_array()) << j;
    ASSERT_FALSE(j["timeline"].empty());
    uint64_t gpu = 0;
    for (const json& m : j["timeline"]) gpu = std::max(gpu, m["gpu_bytes"].get<uint64_t>());
    EXPECT_EQ(gpu, j["peak_gpu_bytes"].get<uint64_t>()) << j["policy"];
    EXPECT_EQ(j["timeline"][0]["op"], "fwd embed");
  }
  EXPECT_TRUE(OkJsonLines(Place({"--policy", "cuda"}))[0]["timeline"].is_null());
  const std::string text = Ok(Place({"--policy", "cuda", "--timeline"}));
  EXPECT_NE(text.find("  timeline    op, GPU and host memory while it ran"), std::string::npos);
  EXPECT_NE(text.find("bwd layer 11"), std::string::npos) << text;
}

// fsdp2 and megatron-distopt by name; selective recomputation and sequence parallelism shrink
// what a layer stores (Korthikanti et al. 2022 Table 2).
TEST(PlaceCliTest, ShardedSystemsAndActivationOptions) {
  auto peak = [](std::vector<std::string> extra) {
    extra.insert(extra.end(), {"--tp", "2", "--dp", "2", "--dp-shard", "--backend", "accounting",
                               "--policy", "fsdp2,fsdp2-cpu-offload,megatron-distopt"});
    std::vector<std::string> args = {"place", "--cluster", "dgx-a100-80g", "--model", "gpt2-small"};
    args.insert(args.end(), extra.begin(), extra.end());
    const std::vector<json> lines = OkJsonLines(args);
    EXPECT_EQ(lines.size(), 3u);
    EXPECT_EQ(lines[1]["policy"], "fsdp2-cpu-offload");
    EXPECT_GT(lines[1]["h2d_bytes"].get<uint64_t>(), 0u);
    return lines[2]["peak_gpu_bytes"].get<uint64_t>();
  };
  const uint64_t plain = peak({});
  const uint64_t selective = peak({"--recompute-selective"});
  const uint64_t both = peak({"--recompute-selective", "--sequence-parallel"});
  EXPECT_LT(selective, plain);
  EXPECT_LT(both, selective);
}

// Gemini's HybridAdam (the default) against twinsim's GPU-Adam variant (--gpu-adam).
TEST(PlaceCliTest, GpuAdamVariantMovesOptimizerStateOverPcie) {
  const std::vector<std::string> base = {"place",    "--cluster",    "v100-32g",
                                         "--model",  "gpt2-medium",  "--policy",
                                         "cpu,auto", "--gpu-memory", "6GiB"};
  std::vector<std::string> with = base;
  with.push_back("--gpu-adam");
  const std::vector<json> g = OkJsonLines(base), v = OkJsonLines(with);
  ASSERT_EQ(g.size(), 2u);
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(g[0]["policy"], "cpu");
  EXPECT_EQ(g[1]["policy"], "auto(0.8,0.9)");
  EXPECT_EQ(v[0]["policy"], "cpu+gpu-adam");
  EXPECT_EQ(v[1]["policy"], "auto(0.8,0.9)+gpu-adam");
  for (const json& j : v) CheckConsistent(j);
  ASSERT_TRUE(g[0]["fits"] == true && v[0]["fits"] == true);
  // cpu: the optimizer state (12 of 14 bytes per parameter) crosses PCIe only in the variant.
  EXPECT_LT(g[0]["h2d_bytes"].get<uint64_t>(), v[0]["h2d_bytes"].get<uint64_t>());
  EXPECT_LT(g[0]["step_time_s"].get<double>(), v[0]["step_time_s"].get<double>());
}

// ColossalAI 4f9953be zero/gemini/placement_policy.py:89: static's total sums chunk_mem per
// parameter. gpt2-xl packs 580 tensors in 30 chunks: any offload_optim_frac above ~0.05
// offloads every optimizer chunk, where the docs promise a tenth. One command shows it.
TEST(PlaceCliTest, StaticShowsWhatColossalAisCodeOffloadsBesideItsDocs) {
  const std::vector<std::string> args = {"place",   "--cluster", "v100-32g",  "--model",
                                         "gpt2-xl", "--policy",  "static",    "--static",
                                         "1,0.1,0", "--backend", "accounting"};
  const std::vector<json> lines = OkJsonLines(args);
  ASSERT_EQ(lines.size(), 1u);
  const json& plan = lines[0]["static_plan"];
  ASSERT_TRUE(plan.is_object()) << lines[0];
  EXPECT_TRUE(plan["differ"]);
  EXPECT_EQ(plan["code"]["offloaded_optim_chunks"], 30);
  EXPECT_EQ(plan["documented"]["offloaded_optim_chunks"], 3);
  EXPECT_NEAR(plan["code"]["total_chunk_mem"].get<double>() / plan["true_chunk_mem"].get<double>(),
              580.0 / 30, 0.5);
  const std::string text = Ok(args);
  EXPECT_NE(text.find("static as coded vs documented (30 chunks, 580 tensors"), std::string::npos)
      << text;
  EXPECT_NE(text.find("code   optimizer state of 30 of 30 chunks on the host"), std::string::npos)
      << text;
  EXPECT_NE(text.find("docs   optimizer state of 3 of 30 chunks on the host"), std::string::npos)
      << text;
  // static-documented runs the docs' intent; other policies carry no plan.
  const std::vector<json> both =
      OkJsonLines(Place({"--policy", "static,static-documented,cuda", "--static", "1,0.1,0",
                         "--backend", "accounting"}));
  ASSERT_EQ(both.size(), 3u);
  EXPECT_EQ(both[1]["policy"], "static-documented(1,0.1,0)");
  EXPECT_TRUE(both[1]["static_plan"].is_null());
  EXPECT_TRUE(both[2]["static_plan"].is_null());
}

TEST(PlaceCliTest, WriteFailureExitsOneWithOneLine) {
  const RunResult r = Twinsim(Place({"--policy", "all"}), "/dev/full");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(Lines(r.err).size(), 1u) << r.err;
  EXPECT_NE(r.err.find("twinsim place: writing standard output failed"), std::string::npos)
      << r.err;
}

}  // namespace
}  // namespace twinsim
