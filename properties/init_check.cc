#include "properties/init_check.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <thread>
#include <tuple>

#include "core/byte_codec.h"
#include "core/host_comm.h"
#include "core/host_device.h"
#include "core/host_memory.h"
#include "fmt/format.h"
#include "kernels/device_fill.h"
#include "kernels/dtype.h"
#include "sim/platform.h"
#include "sim/sim_device.h"
#include "sim/sim_run.h"
#include <simgrid/s4u/Engine.hpp>

namespace twinsim::properties {
namespace {

using policies::seed::DrawSpan;
using policies::seed::StreamKind;

// Pauses pseudo-randomly before device calls, so ranks interleave differently from run to run.
class JitterDevice final : public core::DeviceWrapper {
 public:
  JitterDevice(core::Device* target, uint64_t salt) : DeviceWrapper(target), state_(salt) {}
  StatusOr<core::Allocation> Allocate(uint64_t bytes, std::string_view tag) override {
    Pause();
    return DeviceWrapper::Allocate(bytes, tag);
  }
  Status CopyFromHost(const core::BufferRegion& dst, std::span<const std::byte> src) override {
    Pause();
    return DeviceWrapper::CopyFromHost(dst, src);
  }
  Status Fill(const core::BufferRegion& dst, const core::FillRequest& request) override {
    Pause();
    return DeviceWrapper::Fill(dst, request);
  }

 private:
  void Pause() {
    state_ = state_ * 6364136223846793005ull + 1442695040888963407ull;
    const uint64_t r = state_ >> 59;  // 0..31
    if (r < 16) std::this_thread::yield();
  }
  uint64_t state_;
};

std::string BlockText(const core::Block2D& b) {
  if (b.cols == 1) return fmt::format("[{}:{}]", b.row_begin, b.row_end);
  return fmt::format("[{}:{}, {}:{}]", b.row_begin, b.row_end, b.col_begin, b.col_end);
}

std::string ElementText(const core::Block2D& b, uint64_t row, uint64_t col) {
  if (b.cols == 1) return fmt::format("[{}]", row);
  return fmt::format("[{}, {}]", row, col);
}

std::string ValueText(float v) {
  uint32_t bits;
  std::memcpy(&bits, &v, 4);
  return fmt::format("{:.9g} (0x{:08x})", v, bits);
}

std::string PositionsText(const DrawSpan& d) {
  switch (d.stream.kind) {
    case StreamKind::kTorchCpu:
      return fmt::format("words [{}, {})", d.begin, d.end);
    case StreamKind::kTorchCuda:
      return fmt::format("offsets [{}, {})", d.begin, d.end);
    case StreamKind::kCounter:
      return "its own element indices";
  }
  return "";
}

const char* ShortKind(StreamKind kind) {
  switch (kind) {
    case StreamKind::kTorchCpu:
      return "CPU";
    case StreamKind::kTorchCuda:
      return "CUDA";
    case StreamKind::kCounter:
      return "counter";
  }
  return "";
}

// Why two ranks' draws collide, from how their coordinates differ.
std::string Why(const core::ParallelLayout& layout, int a, int b, StreamKind kind) {
  if (a == b) {
    return fmt::format("two tensors on one rank drew overlapping positions of the same {} stream",
                       ShortKind(kind));
  }
  const core::ParallelCoords ca = layout.RankCoords(a), cb = layout.RankCoords(b);
  std::vector<std::string> parts;
  if (ca.tp != cb.tp) parts.push_back(fmt::format("tp_rank {} and tp_rank {}", ca.tp, cb.tp));
  if (ca.pp != cb.pp) parts.push_back(fmt::format("pp_rank {} and pp_rank {}", ca.pp, cb.pp));
  if (ca.dp != cb.dp) parts.push_back(fmt::format("dp_rank {} and dp_rank {}", ca.dp, cb.dp));
  if (ca.cp != cb.cp) parts.push_back(fmt::format("cp_rank {} and cp_rank {}", ca.cp, cb.cp));
  std::string who;
  for (size_t i = 0; i < parts.size(); ++i) who += (i ? ", " : "") + parts[i];
  std::string experts;
  if (layout.config().ep > 1 && ca.ep != cb.ep) {
    // Note [Experts over EP] in policies/seed/common.h.
    experts = fmt::format(" (ep_rank {} and ep_rank {}: each builds only its own experts)", ca.ep,
                          cb.ep);
  }
  return fmt::format("{} drew from the same {} stream{}", who, ShortKind(kind), experts);
}

float Element(core::DType dtype, std::span<const std::byte> bytes, uint64_t i) {
  return kernels::LoadAsFloat(dtype, bytes.data(), i);
}

}  // namespace

std::string DescribeRank(const core::ParallelLayout& layout, int rank) {
  const core::ParallelCoords c = layout.RankCoords(rank);
  return fmt::format("rank {} (dp {}, pp {}, tp {})", rank, c.dp, c.pp, c.tp);
}

std::string_view VerdictName(Verdict verdict) {
  switch (verdict) {
    case Verdict::kHolds:
      return "holds";
    case Verdict::kFails:
      return "fails";
    case Verdict::kNotApplicable:
      return "n/a";
  }
  return "?";
}

const RankOutcome* InitRun::FirstOom() const {
  for (const RankOutcome& r : ranks) {
    if (r.oom) return &r;
  }
  return nullptr;
}

Status InitRun::status() const {
  std::vector<Status> statuses;
  for (const RankOutcome& r : ranks) statuses.push_back(r.status);
  Status combined = core::CombineRankStatuses(statuses);
  if (combined.ok()) return combined;
  // Ranks left waiting on a rank that stopped for lack of memory fail with Unavailable.
  if (FirstOom() != nullptr) {
    bool only_waiting = true;
    for (const RankOutcome& r : ranks) {
      if (!r.status.ok() && r.status.code() != StatusCode::kUnavailable) only_waiting = false;
    }
    if (only_waiting) return Status::Ok();
  }
  return Status(combined.code(), fmt::format("policy {}: {}", policy, combined.message()));
}

namespace {

// Compares shard i's `bytes` with the same shard of `other` (InitRunOptions::compare_with) and
// records the first difference in `out`.
void CompareShard(const core::ParallelLayout& layout, const RankOutcome* other, size_t i,
                  std::span<const std::byte> bytes, RankOutcome& out) {
  out.bytes_compared += bytes.size();
  const std::vector<std::byte> none;
  const std::vector<std::byte>& theirs =
      other != nullptr && i < other->bytes.size() ? other->bytes[i] : none;
  if (out.difference ||
      (bytes.size() == theirs.size() &&
       (bytes.empty() || std::memcmp(bytes.data(), theirs.data(), bytes.size()) == 0))) {
    return;
  }
  const uint64_t esz = core::DTypeSize(layout.model().params[out.owned[i].param].dtype);
  uint64_t e = 0;
  while ((e + 1) * esz <= std::min(bytes.size(), theirs.size()) &&
         std::memcmp(bytes.data() + e * esz, theirs.data() + e * esz, esz) == 0) {
    ++e;
  }
  ShardDifference d;
  d.shard = i;
  d.element = e;
  if ((e + 1) * esz <= bytes.size()) {
    d.mine.assign(bytes.begin() + e * esz, bytes.begin() + (e + 1) * esz);
  }
  if ((e + 1) * esz <= theirs.size()) {
    d.theirs.assign(theirs.begin() + e * esz, theirs.begin() + (e + 1) * esz);
  }
  out.difference = std::move(d);
}

const RankOutcome* CompareTarget(const InitRunOptions& options, int rank) {
  return options.compare_with != nullptr &&
                 static_cast<size_t>(rank) < options.compare_with->ranks.size()
             ? &options.compare_with->ranks[rank]
             : nullptr;
}

// One rank of RunInit on either backend: runs the policy and fills `out` (the shards' bytes
// when the device holds them; compared instead of kept when `compare_here`).
// How the harness reads a shard back after init, outside the policy's work: on the sim, without
// simulated time or traffic (the reading is the harness's, not the framework's).
using ReadBack = std::function<StatusOr<std::vector<std::byte>>(const core::Buffer&)>;
// How the harness reads a shard's sampled elements on a device without bytes (Note [Sampled
// fills] in sim/sim_device.h), as elements of the given size (a sample that is not one whole
// element, not possible from a Fill, is left out), no time.
using ReadSamples = std::function<ShardSamples(const core::Buffer&, uint64_t element_size)>;

Status InitOneRank(const SeedPolicy& policy, const core::ParallelLayout& layout,
                   const InitRunOptions& options, int rank, core::Comm& comm,
                   core::Device& base_device, bool compare_here, RankOutcome& out,
                   const ReadBack& read_back = nullptr,
                   const std::function<void()>& after_init = nullptr,
                   const ReadSamples& read_samples = nullptr) {
  out.rank = rank;
  out.coords = layout.RankCoords(rank);
  JitterDevice jitter(&base_device, options.perturb_salt * 0x9e3779b97f4a7c15ull + rank);
  core::Device& device = options.perturb ? static_cast<core::Device&>(jitter) : base_device;
  core::HostMemory host(core::HostMemoryOptions{fmt::format("host:{}", rank),
                                                options.host_capacity, options.host_capacity});
  policies::seed::InitContext ctx;
  ctx.layout = &layout;
  ctx.rank = rank;
  ctx.seed = options.seed;
  ctx.init_device = options.init_device;
  ctx.gpu = options.gpu;
  ctx.device = &device;
  ctx.comm = &comm;
  ctx.host = &host;
  StatusOr<policies::seed::RankInit> init = policy.InitRank(ctx);
  if (after_init) after_init();
  out.owned = layout.OwnedBy(rank);
  out.blocks.reserve(out.owned.size());
  for (const core::OwnedShard& o : out.owned) {
    const auto& shape = layout.model().params[o.param].shape;
    out.blocks.push_back(o.shard.AsPaddedBlock2D(shape).value_or(core::Block2D{}));
  }
  out.peak_device_bytes = device.Stats().peak;
  out.peak_host_bytes = host.TotalStats().peak;
  out.bytes_sent = comm.traffic().bytes_sent();
  out.holds_bytes = base_device.Info().holds_bytes;
  if (!init.ok()) return init.status();
  out.draws = std::move(init->draws);
  out.oom = init->oom;
  out.oom_during = init->oom_during;
  out.bytes.resize(out.owned.size());
  if (!out.holds_bytes && read_samples) out.samples.resize(out.owned.size());
  const RankOutcome* other = CompareTarget(options, rank);
  out.compared = compare_here && options.compare_with != nullptr;
  std::vector<std::byte> scratch;  // reused across shards when comparing
  auto* host_device = dynamic_cast<core::HostDevice*>(&base_device);
  for (size_t i = 0; i < init->buffers.size(); ++i) {
    const core::Buffer& b = init->buffers[i];
    if (b.is_null()) continue;
    if (!out.oom && out.holds_bytes) {
      if (read_back) {
        TWINSIM_ASSIGN_OR_RETURN(out.bytes[i], read_back(b));
        if (out.compared) {
          CompareShard(layout, other, i, out.bytes[i], out);
          out.bytes[i] = {};
        }
        TWINSIM_RETURN_IF_ERROR(base_device.Free(b));
        continue;
      }
      if (!out.compared && host_device != nullptr) {
        // The shard's bytes move out of the device: no second copy of the model.
        TWINSIM_ASSIGN_OR_RETURN(out.bytes[i], host_device->TakeBytes(b));
        continue;
      }
      std::vector<std::byte>& dst = out.compared ? scratch : out.bytes[i];
      dst.resize(b.bytes);
      TWINSIM_RETURN_IF_ERROR(base_device.CopyToHost(core::BufferRegion::Whole(b), dst));
      if (out.compared) CompareShard(layout, other, i, dst, out);
    } else if (!out.oom && read_samples && i < out.samples.size()) {
      // No bytes: keep the shard's sampled elements instead (Note [Sampled parity]).
      const uint64_t esz = core::DTypeSize(layout.model().params[out.owned[i].param].dtype);
      out.samples[i] = read_samples(b, esz);
    }
    TWINSIM_RETURN_IF_ERROR(base_device.Free(b));
  }
  return Status::Ok();
}

// ---- RankOutcome through the forked simulation's pipe ----

using core::ByteReader;
using core::ByteWriter;

void WriteBlock(ByteWriter& w, const core::Block2D& b) {
  for (uint64_t v : {b.rows, b.cols, b.row_begin, b.row_end, b.col_begin, b.col_end}) w.U64(v);
}

core::Block2D ReadBlock(ByteReader& r) {
  core::Block2D b;
  for (uint64_t* v : {&b.rows, &b.cols, &b.row_begin, &b.row_end, &b.col_begin, &b.col_end}) {
    *v = r.U64();
  }
  return b;
}

// What the parent needs of a rank that ran in the simulation's child process; owned and
// blocks are recomputed from the layout.
void SerializeOutcome(const RankOutcome& o, std::vector<std::byte>& out) {
  // One allocation: 16,384 ranks each serialize ~100 shards' draws and samples.
  size_t size = 10 * 8 + o.draws.size() * 12 * 8 + o.oom_during.size();
  for (const std::vector<std::byte>& b : o.bytes) size += 8 + b.size();
  for (const ShardSamples& s : o.samples) size += 16 + s.elements.size() * 8 + s.bytes.size();
  out.reserve(out.size() + size + (o.oom ? 256 : 0));
  ByteWriter w(out);
  w.U64(o.peak_device_bytes);
  w.U64(o.peak_host_bytes);
  w.U64(o.bytes_sent);
  w.U64(o.holds_bytes ? 1 : 0);
  w.F64(o.end_time_s);
  w.U64(o.draws.size());
  for (const policies::seed::DrawSpan& d : o.draws) {
    w.U64(static_cast<uint64_t>(d.stream.kind));
    w.U64(d.stream.seed);
    w.U64(d.stream.draw);
    w.U64(d.begin);
    w.U64(d.end);
    w.U64(static_cast<uint64_t>(static_cast<int64_t>(d.param)));
    WriteBlock(w, d.block);
  }
  w.U64(o.oom.has_value() ? 1 : 0);
  if (o.oom) w.Oom(*o.oom);
  w.Str(o.oom_during);
  w.U64(o.bytes.size());
  for (const std::vector<std::byte>& b : o.bytes) w.Bytes(b);
  w.U64(o.samples.size());
  for (const ShardSamples& s : o.samples) {
    w.U64(s.elements.size());
    for (uint64_t e : s.elements) w.U64(e);
    w.Bytes(s.bytes);
  }
}

Status DeserializeOutcome(std::span<const std::byte> in, RankOutcome& o) {
  ByteReader r(in);
  o.peak_device_bytes = r.U64();
  o.peak_host_bytes = r.U64();
  o.bytes_sent = r.U64();
  o.holds_bytes = r.U64() != 0;
  o.end_time_s = r.F64();
  const uint64_t draws = r.U64();
  for (uint64_t k = 0; k < draws && r.ok(); ++k) {
    policies::seed::DrawSpan d;
    d.stream.kind = static_cast<policies::seed::StreamKind>(r.U64());
    d.stream.seed = r.U64();
    d.stream.draw = static_cast<uint32_t>(r.U64());
    d.begin = r.U64();
    d.end = r.U64();
    d.param = static_cast<int>(static_cast<int64_t>(r.U64()));
    d.block = ReadBlock(r);
    o.draws.push_back(d);
  }
  if (r.U64() != 0) o.oom = r.Oom();
  o.oom_during = r.Str();
  const uint64_t shards = r.U64();
  for (uint64_t k = 0; k < shards && r.ok(); ++k) o.bytes.push_back(r.Bytes());
  const uint64_t sampled = r.U64();
  for (uint64_t k = 0; k < sampled && r.ok(); ++k) {
    ShardSamples s;
    const uint64_t n = r.U64();
    for (uint64_t j = 0; j < n && r.ok(); ++j) s.elements.push_back(r.U64());
    s.bytes = r.Bytes();
    o.samples.push_back(std::move(s));
  }
  if (!r.ok()) return Status::Internal("a rank's result from the simulation was truncated");
  return Status::Ok();
}

StatusOr<InitRun> RunInitOnSim(const SeedPolicy& policy, const core::ParallelLayout& layout,
                               const InitRunOptions& options, InitRun run) {
  sim::SimRunOptions so;
  so.topology = options.sim.topology;
  so.world_size = layout.world_size();
  so.holds_bytes = options.sim.holds_bytes;
  so.fill = kernels::FillOnHost;
  so.device_capacity = options.device_capacity;
  so.send_mode = options.perturb ? core::SendMode::kEager : core::SendMode::kRendezvous;
  so.trace_path = options.sim.trace_path;
  so.wall_timeout = std::chrono::milliseconds(options.comm_timeout_ms);
  TWINSIM_ASSIGN_OR_RETURN(
      sim::SimRun result,
      sim::RunRanksOnSim(so, [&](int rank, core::Comm& comm, core::Device& device,
                                 std::vector<std::byte>& output) -> Status {
        RankOutcome out;
        auto* sim_device = dynamic_cast<sim::SimDevice*>(&device);
        double end_time = -1;
        const Status s = InitOneRank(
            policy, layout, options, rank, comm, device, /*compare_here=*/false, out,
            [&](const core::Buffer& b) {
              return sim_device != nullptr
                         ? sim_device->ReadRegion(core::BufferRegion::Whole(b), "read-back")
                         : StatusOr<std::vector<std::byte>>(
                               Status::Internal("the sim backend's device is not a SimDevice"));
            },
            [&] { end_time = simgrid::s4u::Engine::get_clock(); },
            [&](const core::Buffer& b, uint64_t element_size) {
              ShardSamples samples;
              if (sim_device != nullptr) {
                sim_device->AppendSampledElements(b, element_size, samples.elements,
                                                  samples.bytes);
              }
              return samples;
            });
        out.end_time_s = end_time;
        SerializeOutcome(out, output);
        return s;
      }));
  SimSummary summary;
  summary.wall_s = result.wall.total_s;
  for (int c = 0; c < sim::kNumLinkClasses; ++c) {
    summary.link_bytes.emplace_back(
        std::string(sim::LinkClassName(static_cast<sim::LinkClass>(c))), result.link_bytes[c]);
  }
  run.sim = std::move(summary);
  for (size_t r = 0; r < run.ranks.size(); ++r) {
    RankOutcome& out = run.ranks[r];
    sim::SimRankResult& rr = result.ranks[r];
    out.rank = static_cast<int>(r);
    out.coords = layout.RankCoords(out.rank);
    out.owned = layout.OwnedBy(out.rank);
    out.blocks.reserve(out.owned.size());
    for (const core::OwnedShard& o : out.owned) {
      const auto& shape = layout.model().params[o.param].shape;
      out.blocks.push_back(o.shard.AsPaddedBlock2D(shape).value_or(core::Block2D{}));
    }
    out.end_time_s = rr.end_time_s;
    out.status = rr.status;
    if (!rr.output.empty()) {
      TWINSIM_RETURN_IF_ERROR(DeserializeOutcome(rr.output, out));
      std::vector<std::byte>().swap(rr.output);  // read: 16,384 ranks need no second copy
      if (out.end_time_s < 0) out.end_time_s = rr.end_time_s;
    }
    if (options.compare_with != nullptr && out.holds_bytes && !out.oom) {
      out.compared = true;
      const RankOutcome* other = CompareTarget(options, out.rank);
      for (size_t i = 0; i < out.bytes.size(); ++i) CompareShard(layout, other, i, out.bytes[i], out);
      out.bytes.assign(out.bytes.size(), {});
    }
  }
  // The critical path: the last rank to finish the policy's init (read-back excluded).
  for (const RankOutcome& out : run.ranks) {
    summary.end_time_s = std::max(summary.end_time_s, out.end_time_s);
  }
  run.sim->end_time_s = summary.end_time_s;
  TWINSIM_RETURN_IF_ERROR(run.status());
  return run;
}

}  // namespace

StatusOr<InitRun> RunInit(const SeedPolicy& policy, const core::ParallelLayout& layout,
                          const InitRunOptions& options) {
  if (!policy.Supports(options.init_device)) {
    return Status::InvalidArgument(fmt::format("policy '{}' does not initialize on {}",
                                               policy.name(),
                                               InitDeviceName(options.init_device)));
  }
  InitRun run;
  run.policy = std::string(policy.name());
  run.options = options;
  if (std::optional<policies::seed::OfflineWork> work = policy.Offline(layout.model())) {
    run.offline = OfflineSummary{*work, -1};
    if (options.backend == Backend::kSim && !options.sim.topology.nodes.empty()) {
      const double storage = options.sim.topology.nodes[0].storage_read_bytes_per_s;
      run.offline->time_s = static_cast<double>(work->elements_initialized) / sim::kCpuFlopsPerS +
                            (storage > 0 ? static_cast<double>(work->storage_write_bytes) / storage
                                         : 0.0);
    }
  }
  const int world = layout.world_size();
  run.ranks.resize(world);
  if (options.backend == Backend::kSim) {
    return RunInitOnSim(policy, layout, options, std::move(run));
  }

  core::RunRanksOptions ro;
  ro.world_size = world;
  ro.device.capacity = options.device_capacity;
  ro.device.name = "gpu";  // each rank's device stands for its GPU: "gpu:<rank>" in OOM reports
  ro.device.fill = kernels::FillOnHost;
  ro.comm.send_mode = options.perturb ? core::SendMode::kEager : core::SendMode::kRendezvous;
  ro.comm.timeout = std::chrono::milliseconds(options.comm_timeout_ms);

  const core::RankFunction init_rank = [&](int rank, core::Comm& comm,
                                           core::Device& base_device) -> Status {
    return InitOneRank(policy, layout, options, rank, comm, base_device, /*compare_here=*/true,
                       run.ranks[rank]);
  };
  if (options.backend == Backend::kCuda && !options.cuda.run_ranks) {
    return Status::FailedPrecondition(
        "RunInit: Backend::kCuda needs InitRunOptions::cuda.run_ranks (gpu::RunRanksOnCuda)");
  }
  std::vector<Status> statuses = options.backend == Backend::kCuda
                                     ? options.cuda.run_ranks(world, init_rank)
                                     : core::RunRanks(ro, init_rank);
  statuses.resize(world, Status::Internal("the rank runner returned no status for this rank"));
  for (int r = 0; r < world; ++r) run.ranks[r].status = statuses[r];
  TWINSIM_RETURN_IF_ERROR(run.status());
  return run;
}

// ---- parity ----

PropertyResult CheckParity(const core::ParallelLayout& layout, const InitRun& run,
                           const InitRun& reference) {
  if (run.options.backend == Backend::kSim && !run.options.sim.holds_bytes) {
    return CheckSampledParity(layout, run, run.options.seed);
  }
  PropertyResult result{Property::kParity, Verdict::kHolds, ""};
  const core::ModelSpec& model = layout.model();
  // The reference's shard of each parameter (one rank holds everything).
  const RankOutcome& ref = reference.ranks.at(0);
  std::vector<int> ref_entry(model.params.size(), -1);
  for (size_t i = 0; i < ref.owned.size(); ++i) {
    if (ref.owned[i].tied_from < 0) ref_entry[ref.owned[i].param] = static_cast<int>(i);
  }
  uint64_t compared = 0;
  for (const RankOutcome& r : run.ranks) {
    for (size_t i = 0; i < r.owned.size(); ++i) {
      const int p = r.owned[i].param;
      const core::ParamSpec& spec = model.params[p];
      const int re = ref_entry[p];
      if (re < 0) continue;
      const core::Block2D& b = r.blocks[i];
      const core::Block2D& rb = ref.blocks[re];
      const uint64_t esz = core::DTypeSize(spec.dtype);
      const uint64_t width = b.col_end - b.col_begin;
      const uint64_t real_rows = std::min<uint64_t>(b.row_end, static_cast<uint64_t>(spec.shape[0]));
      for (uint64_t row = b.row_begin; row < real_rows; ++row) {
        const std::byte* mine = r.bytes[i].data() + (row - b.row_begin) * width * esz;
        const std::byte* theirs = ref.bytes[re].data() + (row * rb.cols + b.col_begin) * esz;
        compared += width;
        if (std::memcmp(mine, theirs, width * esz) == 0) continue;
        uint64_t c = 0;
        while (std::memcmp(mine + c * esz, theirs + c * esz, esz) == 0) ++c;
        const uint64_t col = b.col_begin + c;
        const float got = Element(spec.dtype, r.bytes[i], (row - b.row_begin) * width + c);
        const float want = Element(spec.dtype, ref.bytes[re], row * rb.cols + col);
        // Which draws produced the two values.
        std::string how;
        for (const DrawSpan& d : r.draws) {
          if (d.param == p && row >= d.block.row_begin && row < d.block.row_end &&
              col >= d.block.col_begin && col < d.block.col_end) {
            how = fmt::format("; the rank drew it from {} ({})", DescribeStream(d.stream),
                              PositionsText(d));
          }
        }
        for (const DrawSpan& d : ref.draws) {
          if (d.param == p) {
            how += fmt::format(", one device from {} ({})", DescribeStream(d.stream),
                               PositionsText(d));
          }
        }
        if (r.owned[i].tied_from >= 0) {
          how += fmt::format("; this is the copy tied to '{}'", model.params[r.owned[i].tied_from].name);
        }
        result.verdict = Verdict::kFails;
        result.detail = fmt::format(
            "param '{}' element {} on {} is {} but single-device init gives {}{}", spec.name,
            ElementText(b, row, col), DescribeRank(layout, r.rank), ValueText(got),
            ValueText(want), how);
        return result;
      }
    }
  }
  result.detail = fmt::format("{} elements equal single-device init", compared);
  return result;
}

PropertyResult CheckSampledParity(const core::ParallelLayout& layout, const InitRun& run,
                                  uint64_t reference_seed) {
  PropertyResult result{Property::kParity, Verdict::kHolds, ""};
  const core::ModelSpec& model = layout.model();
  uint64_t compared = 0;
  size_t sampled_shards = 0, unsampled_shards = 0;
  std::vector<std::byte> want;
  for (const RankOutcome& r : run.ranks) {
    for (size_t i = 0; i < r.owned.size(); ++i) {
      const core::Block2D& b = r.blocks[i];
      const uint64_t width = b.col_end - b.col_begin;
      if (width == 0 || b.row_end == b.row_begin) continue;
      if (i >= r.samples.size() || r.samples[i].empty()) {
        ++unsampled_shards;
        continue;
      }
      ++sampled_shards;
      const ShardSamples& samples = r.samples[i];
      const int p = r.owned[i].param;
      const core::ParamSpec& spec = model.params[p];
      const uint64_t esz = core::DTypeSize(spec.dtype);
      const uint64_t real_rows = std::min<uint64_t>(b.row_end, static_cast<uint64_t>(spec.shape[0]));
      for (size_t k = 0; k < samples.size(); ++k) {
        const uint64_t e = samples.elements[k];
        const uint64_t row = b.row_begin + e / width;
        const uint64_t col = b.col_begin + e % width;
        if (row >= real_rows) continue;  // padding: not part of the parameter
        // Note [Sampled parity]: single-device init's value is the stream's element there.
        const uint64_t index = row * b.cols + col;
        StatusOr<core::FillRequest> request = kernels::MakeFillRequest(
            reference_seed, spec.name, spec.init, spec.dtype, index, index + 1);
        want.assign(esz, std::byte{0});
        Status filled = request.ok() ? kernels::FillOnHost(*request, want) : request.status();
        if (!filled.ok()) {
          return {Property::kParity, Verdict::kNotApplicable,
                  fmt::format("not checked: no counter-stream reference for param '{}': {}",
                              spec.name, filled.message())};
        }
        ++compared;
        const std::span<const std::byte> got(samples.bytes.data() + k * esz, esz);
        if (std::memcmp(got.data(), want.data(), esz) == 0) continue;
        std::string how;
        for (const DrawSpan& d : r.draws) {
          if (d.param == p && row >= d.block.row_begin && row < d.block.row_end &&
              col >= d.block.col_begin && col < d.block.col_end) {
            how = fmt::format("; the rank drew it from {} ({})", DescribeStream(d.stream),
                              PositionsText(d));
          }
        }
        if (r.owned[i].tied_from >= 0) {
          how += fmt::format("; this is the copy tied to '{}'",
                             model.params[r.owned[i].tied_from].name);
        }
        result.verdict = Verdict::kFails;
        result.detail = fmt::format(
            "param '{}' element {} on {} is {} but single-device init gives {} (sampled element "
            "{} of the shard; timing-only run, reference computed from the counter stream){}",
            spec.name, ElementText(b, row, col), DescribeRank(layout, r.rank),
            ValueText(Element(spec.dtype, got, 0)), ValueText(Element(spec.dtype, want, 0)), e,
            how);
        return result;
      }
    }
  }
  if (sampled_shards == 0) {
    result.verdict = Verdict::kNotApplicable;
    result.detail =
        "not checked: timing-only: only counter-stream fills are sampled, and this run made none "
        "(check parity in data mode or on the host backend)";
    return result;
  }
  result.detail = fmt::format(
      "{} sampled elements of {} shards equal single-device init (timing-only: counter-stream "
      "fills sampled, reference computed directly){}",
      compared, sampled_shards,
      unsampled_shards == 0
          ? std::string()
          : fmt::format("; {} shards without samples not checked", unsampled_shards));
  return result;
}

// ---- replica ----

PropertyResult CheckReplica(const core::ParallelLayout& layout, const InitRun& run) {
  PropertyResult result{Property::kReplica, Verdict::kHolds, ""};
  const core::ModelSpec& model = layout.model();
  // First holder of each (pp, tp, param, stage, tied_from, block).
  using Key = std::tuple<int, int, int, int, int, uint64_t, uint64_t, uint64_t, uint64_t>;
  std::map<Key, std::pair<int, int>> first;  // -> (rank, entry)
  uint64_t compared = 0;
  for (const RankOutcome& r : run.ranks) {
    for (size_t i = 0; i < r.owned.size(); ++i) {
      const core::OwnedShard& o = r.owned[i];
      const core::Block2D& b = r.blocks[i];
      // Ranks that differ only in dp. With etp < tp an expert shard also repeats over tp
      // positions (Note [Expert parallelism]); those copies are not compared here.
      const Key key{r.coords.pp, r.coords.tp, o.param, o.stage, o.tied_from,
                    b.row_begin,  b.row_end,  b.col_begin, b.col_end};
      auto [it, inserted] = first.try_emplace(key, r.rank, static_cast<int>(i));
      if (inserted) continue;
      const RankOutcome& other = run.ranks[it->second.first];
      const std::vector<std::byte>& theirs = other.bytes[it->second.second];
      compared += r.bytes[i].size();
      if (r.bytes[i] == theirs) continue;
      const core::ParamSpec& spec = model.params[o.param];
      const uint64_t esz = core::DTypeSize(spec.dtype);
      uint64_t e = 0;
      while (std::memcmp(r.bytes[i].data() + e * esz, theirs.data() + e * esz, esz) == 0) ++e;
      const uint64_t width = b.col_end - b.col_begin;
      result.verdict = Verdict::kFails;
      result.detail = fmt::format(
          "param '{}' {}: {} holds {} at element {} but its DP replica {} holds {}", spec.name,
          BlockText(b), DescribeRank(layout, r.rank), ValueText(Element(spec.dtype, r.bytes[i], e)),
          ElementText(b, b.row_begin + e / width, b.col_begin + e % width),
          DescribeRank(layout, other.rank), ValueText(Element(spec.dtype, theirs, e)));
      return result;
    }
  }
  result.detail = fmt::format("{} bytes of DP replicas compared", compared);
  return result;
}

// ---- distinct ----

PropertyResult CheckDistinct(const core::ParallelLayout& layout, const InitRun& run) {
  PropertyResult result{Property::kDistinct, Verdict::kHolds, ""};
  const core::ModelSpec& model = layout.model();
  struct Tagged {
    const DrawSpan* span;
    int rank;
  };
  auto same_elements = [](const DrawSpan& a, const DrawSpan& b) {
    return a.param == b.param && a.block == b.block;
  };
  std::map<policies::seed::StreamId, std::vector<Tagged>> by_stream;
  size_t total = 0;
  for (const RankOutcome& r : run.ranks) {
    for (const DrawSpan& d : r.draws) {
      by_stream[d.stream].push_back({&d, r.rank});
      ++total;
    }
  }
  auto report = [&](const Tagged& a, const Tagged& b, const std::string& where) {
    const DrawSpan& x = *a.span;
    const DrawSpan& y = *b.span;
    result.verdict = Verdict::kFails;
    result.detail = fmt::format(
        "'{}' {} on {} and '{}' {} on {} both drew {} of {}: {}", model.params[x.param].name,
        BlockText(x.block), DescribeRank(layout, a.rank), model.params[y.param].name,
        BlockText(y.block), DescribeRank(layout, b.rank), where, DescribeStream(x.stream),
        Why(layout, a.rank, b.rank, x.stream.kind));
  };
  for (auto& [stream, spans] : by_stream) {
    if (stream.kind == StreamKind::kCounter) {
      // Positions are logical element indices of each span's own parameter.
      for (size_t i = 0; i < spans.size(); ++i) {
        for (size_t j = i + 1; j < spans.size(); ++j) {
          const DrawSpan& x = *spans[i].span;
          const DrawSpan& y = *spans[j].span;
          if (same_elements(x, y)) continue;
          const bool rows = x.block.row_begin < y.block.row_end && y.block.row_begin < x.block.row_end;
          const bool cols = x.block.col_begin < y.block.col_end && y.block.col_begin < x.block.col_end;
          if (x.param != y.param || (rows && cols)) {
            report(spans[i], spans[j], "the same element indices");
            return result;
          }
        }
      }
      continue;
    }
    std::sort(spans.begin(), spans.end(), [](const Tagged& a, const Tagged& b) {
      return std::tie(a.span->begin, a.span->end, a.rank) <
             std::tie(b.span->begin, b.span->end, b.rank);
    });
    std::vector<Tagged> active;  // spans whose end is past the current begin
    for (const Tagged& t : spans) {
      std::erase_if(active, [&](const Tagged& a) { return a.span->end <= t.span->begin; });
      // Of the overlapping draws, report the pair whose ranks differ in the fewest coordinates.
      const Tagged* best = nullptr;
      int best_score = 0;
      for (const Tagged& a : active) {
        if (same_elements(*a.span, *t.span)) continue;
        const core::ParallelCoords ca = layout.RankCoords(a.rank), ct = layout.RankCoords(t.rank);
        const int score = (ca.dp != ct.dp) + (ca.pp != ct.pp) + (ca.tp != ct.tp);
        if (best == nullptr || score < best_score) best = &a, best_score = score;
      }
      if (best != nullptr) {
        const uint64_t lo = std::max(best->span->begin, t.span->begin);
        const uint64_t hi = std::min(best->span->end, t.span->end);
        const std::string unit = stream.kind == StreamKind::kTorchCpu ? "words" : "offsets";
        const bool in_order = best->rank <= t.rank;
        report(in_order ? *best : t, in_order ? t : *best, fmt::format("{} [{}, {})", unit, lo, hi));
        return result;
      }
      bool duplicate = false;
      for (const Tagged& a : active) duplicate |= same_elements(*a.span, *t.span) &&
                                                  a.span->begin == t.span->begin &&
                                                  a.span->end == t.span->end;
      if (!duplicate) active.push_back(t);
    }
  }
  result.detail = fmt::format("{} {} over {} {}, no position drawn twice", total,
                              total == 1 ? "draw" : "draws", by_stream.size(),
                              by_stream.size() == 1 ? "stream" : "streams");
  return result;
}

// ---- determinism ----

PropertyResult CheckDeterminism(const core::ParallelLayout& layout, const InitRun& first,
                                const InitRun& second) {
  PropertyResult result{Property::kDeterminism, Verdict::kHolds, ""};
  const core::ModelSpec& model = layout.model();
  auto fail = [&](const RankOutcome& a, size_t i, uint64_t e, std::span<const std::byte> mine,
                  std::span<const std::byte> theirs) {
    const core::ParamSpec& spec = model.params[a.owned[i].param];
    const core::Block2D& blk = a.blocks[i];
    const uint64_t width = blk.col_end - blk.col_begin;
    auto text = [&](std::span<const std::byte> v) {
      return v.empty() ? std::string("-") : ValueText(Element(spec.dtype, v, 0));
    };
    result.verdict = Verdict::kFails;
    result.detail = fmt::format(
        "param '{}' element {} on {}: {} in one run, {} in a rerun with eager sends and "
        "perturbed timing",
        spec.name,
        width == 0 ? std::to_string(e)
                   : ElementText(blk, blk.row_begin + e / width, blk.col_begin + e % width),
        DescribeRank(layout, a.rank), text(theirs), text(mine));
  };
  uint64_t bytes = 0;
  for (size_t r = 0; r < first.ranks.size(); ++r) {
    const RankOutcome& a = first.ranks[r];
    const RankOutcome& b = second.ranks[r];
    if (b.compared) {
      bytes += b.bytes_compared;
      if (b.difference) {
        const ShardDifference& d = *b.difference;
        fail(a, d.shard, d.element, d.mine, d.theirs);
        return result;
      }
      continue;
    }
    for (size_t i = 0; i < a.owned.size(); ++i) {
      bytes += a.bytes[i].size();
      if (a.bytes[i] == b.bytes[i]) continue;
      const uint64_t esz = core::DTypeSize(model.params[a.owned[i].param].dtype);
      const size_t common = std::min(a.bytes[i].size(), b.bytes[i].size());
      uint64_t e = 0;
      while ((e + 1) * esz <= common &&
             std::memcmp(a.bytes[i].data() + e * esz, b.bytes[i].data() + e * esz, esz) == 0) {
        ++e;
      }
      auto at = [&](const std::vector<std::byte>& v) {
        return (e + 1) * esz <= v.size() ? std::span<const std::byte>(v.data() + e * esz, esz)
                                         : std::span<const std::byte>();
      };
      fail(a, i, e, at(b.bytes[i]), at(a.bytes[i]));
      return result;
    }
  }
  result.detail = fmt::format("{} bytes identical across two runs with different timing", bytes);
  return result;
}

// ---- init-fits ----

PropertyResult CheckInitFits(const core::ParallelLayout& layout, const InitRun& run) {
  PropertyResult result{Property::kInitFits, Verdict::kHolds, ""};
  if (const RankOutcome* oom = run.FirstOom()) {
    result.verdict = Verdict::kFails;
    result.detail = fmt::format("{} ran out of memory allocating {}: {}",
                                DescribeRank(layout, oom->rank), oom->oom_during,
                                oom->oom->ToString());
    return result;
  }
  uint64_t device = 0, host = 0;
  for (const RankOutcome& r : run.ranks) {
    device = std::max(device, r.peak_device_bytes);
    host = std::max(host, r.peak_host_bytes);
  }
  result.detail = fmt::format("peak {} of {} device, {} of {} host per rank",
                              core::FormatByteSize(device),
                              core::FormatByteSize(run.options.device_capacity),
                              core::FormatByteSize(host),
                              core::FormatByteSize(run.options.host_capacity));
  return result;
}

// ---- all together ----

bool PolicyCheck::BrokeClaim() const {
  for (const Row& row : rows) {
    if (row.claimed && row.result.verdict == Verdict::kFails) return true;
  }
  return false;
}

StatusOr<PolicyCheck> CheckPolicy(const SeedPolicy& policy, const core::ParallelLayout& given,
                                  const InitRunOptions& options,
                                  const std::vector<Property>& properties) {
  PolicyCheck check;
  check.policy = std::string(policy.name());
  check.version = std::string(policy.version());
  check.init_device = options.init_device;
  // The policy's own layout (its framework's vocab padding: policies::seed::LayoutFor) and its
  // seed check. A layout or seed the framework's code rejects: every property n/a, with the
  // framework's reason.
  // An unsupported init device is said first (the rows below say it the same way).
  StatusOr<core::ParallelLayout> own = policies::seed::LayoutFor(policy, given);
  Status rejected = own.ok() ? policy.CheckSeed(options.seed) : own.status();
  if (!rejected.ok() || !policy.Supports(options.init_device)) {
    for (Property p : properties) {
      PolicyCheck::Row row;
      row.result = {p, Verdict::kNotApplicable,
                    policy.Supports(options.init_device)
                        ? "not checked: " + rejected.message()
                        : fmt::format("{} does not initialize on {}", policy.name(),
                                      InitDeviceName(options.init_device))};
      check.rows.push_back(row);
    }
    return check;
  }
  const core::ParallelLayout& layout = *own;
  auto row_for = [&](Property p) {
    PolicyCheck::Row row;
    row.result.property = p;
    if (const policies::seed::Claim* claim = policy.FindClaim(p)) {
      row.claimed = claim->AppliesTo(layout, options.init_device);
      row.claim_condition = claim->condition;
    }
    return row;
  };
  if (!policy.Supports(options.init_device)) {
    for (Property p : properties) {
      PolicyCheck::Row row = row_for(p);
      row.claimed = false;
      row.result.detail =
          fmt::format("{} does not initialize on {}", policy.name(), InitDeviceName(options.init_device));
      check.rows.push_back(row);
    }
    return check;
  }
  TWINSIM_ASSIGN_OR_RETURN(check.run, RunInit(policy, layout, options));
  const RankOutcome* oom = check.run.FirstOom();
  for (Property p : properties) {
    PolicyCheck::Row row = row_for(p);
    const bool timing_only =
        options.backend == Backend::kSim && !options.sim.holds_bytes;
    if (p == Property::kInitFits) {
      row.result = CheckInitFits(layout, check.run);
    } else if (timing_only && p != Property::kParity) {
      row.result = {p, Verdict::kNotApplicable,
                    "not checked: a timing-only simulation holds no bytes (check it in data "
                    "mode or on the host backend)"};
    } else if (oom != nullptr) {
      row.result = {p, Verdict::kNotApplicable,
                    fmt::format("not checked: init ran out of memory on {}",
                                DescribeRank(layout, oom->rank))};
    } else if (p == Property::kParity && timing_only) {
      // Note [Sampled parity]: the reference is computed per sample, not run.
      row.result = CheckSampledParity(layout, check.run, options.seed);
    } else if (p == Property::kParity) {
      core::LayoutConfig single = layout.config();
      single.dp = single.pp = single.tp = single.ep = single.vpp = single.cp = single.dp_shard = 1;
      single.etp = 0;
      TWINSIM_ASSIGN_OR_RETURN(core::ParallelLayout one,
                               core::ParallelLayout::Make(single, layout.model()));
      InitRunOptions ref_options = options;
      ref_options.perturb = false;
      ref_options.device_capacity = ref_options.host_capacity = uint64_t{1} << 40;
      TWINSIM_ASSIGN_OR_RETURN(InitRun reference, RunInit(policy, one, ref_options));
      row.result = CheckParity(layout, check.run, reference);
    } else if (p == Property::kReplica) {
      row.result = CheckReplica(layout, check.run);
    } else if (p == Property::kDistinct) {
      row.result = CheckDistinct(layout, check.run);
    } else if (p == Property::kDistribution) {
      row.result = CheckDistribution(layout, check.run);
    } else if (p == Property::kDeterminism) {
      InitRunOptions again = options;
      again.perturb = true;
      again.compare_with = &check.run;
      TWINSIM_ASSIGN_OR_RETURN(InitRun second, RunInit(policy, layout, again));
      row.result = CheckDeterminism(layout, check.run, second);
    }
    check.rows.push_back(row);
  }
  return check;
}

}  // namespace twinsim::properties
