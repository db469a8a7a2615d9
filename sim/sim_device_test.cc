// SimDevice: memory accounting and OOM reports as on every backend, data mode bytes equal to
// the fill function's, timing-only mode without bytes, and the simulated time of each call
// (Note [Device time model]) on a dgx-h100 node.
#include "sim/sim_device.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <fmt/format.h>

#include <simgrid/s4u.hpp>

#include "core/device.h"
#include "core/topology_presets.h"
#include "kernels/device_fill.h"
#include "sim/platform.h"
#include "sim/sim_run.h"

namespace twinsim::sim {
namespace {

using core::BufferRegion;

core::Topology DgxH100(const std::string& suffix = "") {
  StatusOr<core::Topology> topology = core::MakeTopology("dgx-h100" + suffix);
  EXPECT_TRUE(topology.ok()) << topology.status().message();
  return *topology;
}

SimRunOptions Options(int world, uint64_t capacity = 0) {
  SimRunOptions options;
  options.topology = DgxH100();
  options.world_size = world;
  options.device_capacity = capacity;
  options.fill = kernels::FillOnHost;
  options.wall_timeout = std::chrono::milliseconds(60'000);
  return options;
}

SimRun MustRun(const SimRunOptions& options, const SimRankFunction& fn) {
  StatusOr<SimRun> run = RunRanksOnSim(options, fn);
  EXPECT_TRUE(run.ok()) << run.status().ToString();
  if (!run.ok()) return SimRun{};
  for (size_t r = 0; r < run->ranks.size(); ++r) {
    EXPECT_TRUE(run->ranks[r].status.ok())
        << "rank " << r << ": " << run->ranks[r].status.ToString();
  }
  return *std::move(run);
}

// A double in `out`, for the parent to read.
void PutDouble(std::vector<std::byte>& out, double v) {
  const size_t at = out.size();
  out.resize(at + sizeof v);
  std::memcpy(out.data() + at, &v, sizeof v);
}
std::vector<double> Doubles(const std::vector<std::byte>& bytes) {
  std::vector<double> out(bytes.size() / sizeof(double));
  if (!out.empty()) std::memcpy(out.data(), bytes.data(), out.size() * sizeof(double));
  return out;
}

TEST(SimDeviceTest, AnAllocationThatDoesNotFitIsAnOomReportNotAnError) {
  const SimRun run = MustRun(
      Options(2, 1000),
      [](int rank, core::Comm&, core::Device& device, std::vector<std::byte>& out) -> Status {
        if (rank != 1) return Status::Ok();
        StatusOr<core::Allocation> a = device.Allocate(600, core::kTagParam);
        if (!a.ok() || !a->fits()) return Status::Internal("600 B should fit in 1000 B");
        StatusOr<core::Allocation> b = device.Allocate(300, core::kTagOptim);
        if (!b.ok() || !b->fits()) return Status::Internal("900 B should fit in 1000 B");
        if (device.WouldFit(101) || !device.WouldFit(100)) return Status::Internal("WouldFit");
        StatusOr<core::Allocation> c = device.Allocate(200, core::kTagInitTemp);
        if (!c.ok()) return c.status();
        if (c->fits()) return Status::Internal("1100 B fit in 1000 B");
        const std::string report = c->oom->ToString();
        out.assign(reinterpret_cast<const std::byte*>(report.data()),
                   reinterpret_cast<const std::byte*>(report.data()) + report.size());
        TWINSIM_RETURN_IF_ERROR(device.Free(a->buffer));
        if (device.Free(a->buffer).code() != StatusCode::kNotFound) {
          return Status::Internal("double free not refused");
        }
        StatusOr<core::Allocation> d = device.Allocate(650, core::kTagParam);
        if (!d.ok() || !d->fits()) return Status::Internal("650 B should fit after the free");
        if (device.Allocate(1, "").status().code() != StatusCode::kInvalidArgument) {
          return Status::Internal("an empty tag was accepted");
        }
        return Status::Ok();
      });
  ASSERT_EQ(run.ranks.size(), 2u);
  const core::MemoryStats& m = run.ranks[1].memory;
  EXPECT_EQ(m.capacity, 1000u);
  EXPECT_EQ(m.in_use, 950u);
  EXPECT_EQ(m.peak, 950u);
  EXPECT_EQ(m.oom_count, 1u);
  ASSERT_EQ(m.oom_events.size(), 1u);
  const core::OomReport& oom = m.oom_events[0];
  EXPECT_EQ(oom.rank, 1);
  EXPECT_EQ(oom.device, "sim:gpu1");
  EXPECT_EQ(oom.tag, "init-temp");
  EXPECT_EQ(oom.requested, 200u);
  EXPECT_EQ(oom.in_use, 900u);
  EXPECT_EQ(oom.capacity, 1000u);
  using Tags = std::vector<std::pair<std::string, uint64_t>>;
  EXPECT_EQ(oom.in_use_by_tag, (Tags{{"optim", 300}, {"param", 600}}));
  EXPECT_EQ(m.Tag("param").peak, 650u);
  EXPECT_EQ(m.Tag("param").total_allocations, 2u);
  const std::string text(reinterpret_cast<const char*>(run.ranks[1].output.data()),
                         run.ranks[1].output.size());
  EXPECT_NE(text.find("rank 1 (sim:gpu1): out of memory allocating"), std::string::npos) << text;
  // Rank 0 allocated nothing; OOM took no simulated time.
  EXPECT_EQ(run.ranks[0].memory.peak, 0u);
  EXPECT_EQ(run.ranks[1].end_time_s, 0.0);
}

TEST(SimDeviceTest, DefaultCapacityIsTheGpusMemory) {
  const SimRun run = MustRun(
      Options(1), [](int, core::Comm&, core::Device& device, std::vector<std::byte>&) -> Status {
        const core::DeviceInfo info = device.Info();
        if (info.kind != core::DeviceKind::kSim || info.rank != 0 || info.name != "sim:gpu0" ||
            !info.holds_bytes) {
          return Status::Internal("unexpected Info()");
        }
        return Status::Ok();
      });
  EXPECT_EQ(run.ranks[0].memory.capacity,
            static_cast<uint64_t>(DgxH100().nodes[0].gpus[0].memory_capacity_bytes));
}

TEST(SimDeviceTest, DataModeFillsTheSameBytesAsTheFillFunction) {
  StatusOr<core::FillRequest> request = kernels::MakeFillRequest(
      7, "layer.weight", core::InitSpec{}, core::DType::kBf16, 100, 100 + 4096);
  ASSERT_TRUE(request.ok()) << request.status().message();
  std::vector<std::byte> want(request->bytes());
  ASSERT_TRUE(kernels::FillOnHost(*request, want).ok());
  const core::FillRequest req = *request;
  const SimRun run =
      MustRun(Options(1),
              [req](int, core::Comm&, core::Device& device, std::vector<std::byte>& out) -> Status {
                TWINSIM_ASSIGN_OR_RETURN(core::Buffer b,
                                         core::AllocateOrError(device, req.bytes(), "param"));
                TWINSIM_RETURN_IF_ERROR(device.Fill(BufferRegion::Whole(b), req));
                out.resize(req.bytes());
                return device.CopyToHost(BufferRegion::Whole(b), out);
              });
  EXPECT_EQ(run.ranks[0].output, want);
}

TEST(SimDeviceTest, ArgumentsAreCheckedAsOnTheHost) {
  MustRun(
      Options(1), [](int, core::Comm&, core::Device& device, std::vector<std::byte>&) -> Status {
        TWINSIM_ASSIGN_OR_RETURN(core::Buffer b, core::AllocateOrError(device, 64, "param"));
        std::vector<std::byte> host(32);
        auto expect = [](const Status& s, StatusCode code, const char* what) -> Status {
          if (s.code() != code) return Status::Internal(std::string(what) + ": " + s.ToString());
          return Status::Ok();
        };
        TWINSIM_RETURN_IF_ERROR(expect(device.CopyFromHost(BufferRegion::Whole(b), host),
                                       StatusCode::kInvalidArgument, "size mismatch"));
        TWINSIM_RETURN_IF_ERROR(expect(device.CopyToHost(BufferRegion::Slice(b, 40, 32), host),
                                       StatusCode::kInvalidArgument, "out of bounds"));
        TWINSIM_RETURN_IF_ERROR(
            expect(device.Copy(BufferRegion::Whole(b), BufferRegion::Slice(b, 0, 8)),
                   StatusCode::kInvalidArgument, "copy sizes"));
        TWINSIM_RETURN_IF_ERROR(
            expect(device.Free(core::Buffer{}), StatusCode::kInvalidArgument, "null handle"));
        core::Buffer foreign = b;
        foreign.device_id += 1000;
        TWINSIM_RETURN_IF_ERROR(
            expect(device.Free(foreign), StatusCode::kInvalidArgument, "another device's buffer"));
        core::FillRequest bad;
        bad.begin = 10;
        bad.end = 5;
        TWINSIM_RETURN_IF_ERROR(expect(device.Fill(BufferRegion::Whole(b), bad),
                                       StatusCode::kInvalidArgument, "bad fill request"));
        return Status::Ok();
      });
}

TEST(SimDeviceTest, TimingOnlyModeKeepsAccountsAndTimeButNoBytes) {
  SimRunOptions options = Options(1);
  options.holds_bytes = false;
  options.fill = nullptr;                            // never called without bytes
  constexpr uint64_t kElements = uint64_t{1} << 30;  // 4 GiB of fp32 that nobody allocates
  const SimRun run = MustRun(
      options, [](int, core::Comm&, core::Device& device, std::vector<std::byte>& out) -> Status {
        if (device.Info().holds_bytes) return Status::Internal("holds bytes");
        TWINSIM_ASSIGN_OR_RETURN(core::Buffer b,
                                 core::AllocateOrError(device, 4 * kElements, "param"));
        core::FillRequest request;
        request.transform.prim = core::Primitive::kNormal;
        request.transform.p[1] = 0.02f;
        request.end = kElements;
        TWINSIM_RETURN_IF_ERROR(device.Fill(BufferRegion::Whole(b), request));
        std::vector<std::byte> host(8);
        if (device.CopyToHost(BufferRegion::Slice(b, 0, 8), host).code() !=
            StatusCode::kFailedPrecondition) {
          return Status::Internal("CopyToHost without bytes did not fail");
        }
        return Status::Ok();
      });
  const double throughput = DgxH100().nodes[0].gpus[0].init_elements_per_s;
  EXPECT_NEAR(run.ranks[0].end_time_s, kElements / throughput, 1e-9 * kElements / throughput);
  EXPECT_EQ(run.ranks[0].memory.peak, 4 * kElements);
}

// Note [Sampled fills]: a timing-only Fill keeps the first, the last and up to six elements
// between, equal to what data mode writes there, at no simulated time; writes the device
// cannot recompute drop the samples they cover, Copy carries them, Free forgets them.
TEST(SimDeviceTest, TimingOnlyFillsKeepASampleOfTheirElements) {
  // Rows 3..7, columns 20..49 of a [*, 100] parameter (a column-split shard): 150 elements,
  // written at byte 40 of a 400-byte buffer.
  StatusOr<core::FillRequest> request = kernels::MakeFillRequest(
      7, "layer.weight", core::InitSpec{}, core::DType::kBf16, 3 * 100 + 20, 3 * 100 + 50);
  ASSERT_TRUE(request.ok()) << request.status().message();
  core::FillRequest req = *request;
  req.rows = 5;
  req.row_stride = 100;
  std::vector<std::byte> want(req.bytes());
  ASSERT_TRUE(kernels::FillOnHost(req, want).ok());
  SimRunOptions options = Options(2);
  options.holds_bytes = false;
  constexpr uint64_t kAt = 40;
  constexpr size_t kN = kSamplesPerFill;
  const SimRun run = MustRun(options, [&](int rank, core::Comm& comm, core::Device& device,
                                          std::vector<std::byte>& out) -> Status {
    auto* sim = dynamic_cast<SimDevice*>(&device);
    if (sim == nullptr) return Status::Internal("not a SimDevice");
    TWINSIM_ASSIGN_OR_RETURN(core::Buffer b, core::AllocateOrError(device, 400, "param"));
    if (rank == 1) {
      // The peer: sends 4 bytes into rank 0's filled region (a message without payload).
      TWINSIM_RETURN_IF_ERROR(comm.Send(0, BufferRegion::Slice(b, 0, 4), 0));
      return device.Free(b);
    }
    TWINSIM_RETURN_IF_ERROR(device.Fill(BufferRegion::Slice(b, kAt, req.bytes()), req));
    const double after_fill = simgrid::s4u::Engine::get_clock();
    auto samples = sim->SampledElements(b);
    if (samples.size() != kN) {
      return Status::Internal(fmt::format("{} samples", samples.size()));
    }
    if (samples.front().first != kAt || samples.back().first != kAt + 149 * 2) {
      return Status::Internal("the first and last elements are not sampled");
    }
    for (const auto& [offset, bytes] : samples) {
      if (bytes.size() != 2 || std::memcmp(bytes.data(), want.data() + offset - kAt, 2) != 0) {
        return Status::Internal(fmt::format("sample at byte {} differs from the fill", offset));
      }
    }
    if (simgrid::s4u::Engine::get_clock() != after_fill) {
      return Status::Internal("reading samples took simulated time");
    }
    // A host copy over the first element and a kernel output over the second sample drop them.
    TWINSIM_RETURN_IF_ERROR(device.CopyFromHost(BufferRegion::Slice(b, kAt, 2), {}));
    const uint64_t second = samples[1].first;
    TWINSIM_RETURN_IF_ERROR(device.WriteKernelOutput(BufferRegion::Slice(b, second, 2), {}, 1));
    // A device copy carries the last sample to byte 0, then a message overwrites it there.
    TWINSIM_RETURN_IF_ERROR(device.Copy(BufferRegion::Slice(b, 0, 2),
                                        BufferRegion::Slice(b, samples.back().first, 2)));
    auto after = sim->SampledElements(b);
    if (after.size() != kN - 1 || after.front().first != 0 ||
        after.front().second != samples.back().second || after[1].first != samples[2].first) {
      return Status::Internal(fmt::format("{} samples after the writes", after.size()));
    }
    TWINSIM_RETURN_IF_ERROR(comm.Recv(1, BufferRegion::Slice(b, 0, 4), 0));
    if (sim->SampledElements(b).size() != kN - 2) {
      return Status::Internal("a received message left the sample it overwrote");
    }
    // A fill of three elements keeps all three; Free forgets them.
    TWINSIM_RETURN_IF_ERROR(device.Fill(BufferRegion::Slice(b, 0, 6),
                                        *kernels::MakeFillRequest(7, "bias", core::InitSpec{},
                                                                  core::DType::kBf16, 0, 3)));
    if (sim->SampledElements(b).size() != kN - 2 + 3) {
      return Status::Internal("a 3-element fill is not sampled whole");
    }
    TWINSIM_RETURN_IF_ERROR(device.Free(b));
    if (!sim->SampledElements(b).empty()) return Status::Internal("Free kept the samples");
    PutDouble(out, after_fill);
    return Status::Ok();
  });
  // The fill took its kernel time and nothing for the samples.
  const double throughput = DgxH100().nodes[0].gpus[0].init_elements_per_s;
  ASSERT_EQ(Doubles(run.ranks[0].output).size(), 1u);
  EXPECT_NEAR(Doubles(run.ranks[0].output)[0], 150 / throughput, 1e-12);
}

TEST(SimDeviceTest, TimingOnlyWithoutAFillFunctionSamplesNothing) {
  SimRunOptions options = Options(1);
  options.holds_bytes = false;
  options.fill = nullptr;
  MustRun(options, [](int, core::Comm&, core::Device& device, std::vector<std::byte>&) -> Status {
    TWINSIM_ASSIGN_OR_RETURN(core::Buffer b, core::AllocateOrError(device, 64, "param"));
    TWINSIM_ASSIGN_OR_RETURN(core::FillRequest request,
                             kernels::MakeFillRequest(1, "w", core::InitSpec{},
                                                      core::DType::kFp32, 0, 16));
    TWINSIM_RETURN_IF_ERROR(device.Fill(BufferRegion::Whole(b), request));
    if (!dynamic_cast<SimDevice&>(device).SampledElements(b).empty()) {
      return Status::Internal("sampled without a fill function");
    }
    return Status::Ok();
  });
}

// Note [Device time model], measured call by call on one rank.
TEST(SimDeviceTest, EachCallTakesTheTimeTheTopologyImplies) {
  constexpr uint64_t kBytes = 1 << 26;  // 64 MiB
  SimRunOptions options = Options(1);
  options.holds_bytes = false;
  const SimRun run = MustRun(
      options, [](int, core::Comm&, core::Device& device, std::vector<std::byte>& out) -> Status {
        namespace sg4 = simgrid::s4u;
        TWINSIM_ASSIGN_OR_RETURN(core::Buffer a, core::AllocateOrError(device, kBytes, "param"));
        TWINSIM_ASSIGN_OR_RETURN(core::Buffer b, core::AllocateOrError(device, kBytes, "param"));
        std::vector<std::byte> host(kBytes);
        double t = sg4::Engine::get_clock();
        auto lap = [&] {
          const double now = sg4::Engine::get_clock();
          PutDouble(out, now - t);
          t = now;
        };
        TWINSIM_RETURN_IF_ERROR(device.CopyFromHost(BufferRegion::Whole(a), host));
        lap();
        TWINSIM_RETURN_IF_ERROR(device.Copy(BufferRegion::Whole(b), BufferRegion::Whole(a)));
        lap();
        core::FillRequest request;
        request.end = kBytes / 4;
        TWINSIM_RETURN_IF_ERROR(device.Fill(BufferRegion::Whole(a), request));
        lap();
        TWINSIM_RETURN_IF_ERROR(device.Free(a));
        lap();
        return Status::Ok();
      });
  const std::vector<double> laps = Doubles(run.ranks[0].output);
  ASSERT_EQ(laps.size(), 4u);
  const core::Topology topology = DgxH100();
  const core::NodeSpec& node = topology.nodes[0];
  const core::GpuSpec& gpu = node.gpus[0];
  const double pcie = std::min(gpu.pcie.bandwidth_bytes_per_s,
                               node.pcie_switches[gpu.pcie_switch].uplink.bandwidth_bytes_per_s);
  const double h2d = kBytes / pcie + 2 * kPcieLinkLatencyS;
  const double d2d = 2.0 * kBytes / gpu.hbm_bandwidth_bytes_per_s;
  const double fill = (kBytes / 4) / gpu.init_elements_per_s;
  EXPECT_NEAR(laps[0], h2d, 1e-6 * h2d);
  EXPECT_NEAR(laps[1], d2d, 1e-9 * d2d);
  EXPECT_NEAR(laps[2], fill, 1e-9 * fill);
  EXPECT_EQ(laps[3], 0.0);
  // The host copy crossed the GPU's PCIe link and its switch uplink.
  EXPECT_EQ(run.link_bytes[static_cast<int>(LinkClass::kPcieGpu)], kBytes);
  EXPECT_EQ(run.link_bytes[static_cast<int>(LinkClass::kPcieUplink)], kBytes);
  EXPECT_EQ(run.link_bytes[static_cast<int>(LinkClass::kNvlink)], 0u);
}

// Note [Modelled init kernels]: bits computed elsewhere, written as the output of a kernel that
// ran on the GPU — the GPU's init time, no PCIe transfer — in both modes.
TEST(SimDeviceTest, WriteKernelOutputTakesAnInitKernelsTimeAndNoPcie) {
  constexpr uint64_t kElements = uint64_t{1} << 24;
  for (bool holds_bytes : {true, false}) {
    SCOPED_TRACE(holds_bytes ? "data mode" : "timing-only");
    SimRunOptions options = Options(1);
    options.holds_bytes = holds_bytes;
    const SimRun run = MustRun(
        options,
        [holds_bytes](int, core::Comm&, core::Device& device,
                      std::vector<std::byte>& out) -> Status {
          namespace sg4 = simgrid::s4u;
          TWINSIM_ASSIGN_OR_RETURN(core::Buffer b,
                                   core::AllocateOrError(device, 2 * kElements, "param"));
          std::vector<std::byte> bits;
          if (holds_bytes) {
            bits.resize(2 * kElements);
            for (size_t i = 0; i < bits.size(); ++i) bits[i] = static_cast<std::byte>(i * 7);
          }
          const double t0 = sg4::Engine::get_clock();
          TWINSIM_RETURN_IF_ERROR(device.WriteKernelOutput(BufferRegion::Whole(b), bits, kElements));
          PutDouble(out, sg4::Engine::get_clock() - t0);
          if (holds_bytes) {
            std::vector<std::byte> back(2 * kElements);
            TWINSIM_RETURN_IF_ERROR(device.CopyToHost(BufferRegion::Whole(b), back));
            if (back != bits) return Status::Internal("the kernel's output was not written");
          }
          return Status::Ok();
        });
    const std::vector<double> laps = Doubles(run.ranks[0].output);
    ASSERT_EQ(laps.size(), 1u);
    const double kernel = kElements / DgxH100().nodes[0].gpus[0].init_elements_per_s;
    EXPECT_NEAR(laps[0], kernel, 1e-9 * kernel);
    // holds_bytes: the data-mode check for CopyToHost moved bytes device->host afterwards.
    EXPECT_EQ(run.link_bytes[static_cast<int>(LinkClass::kPcieUplink)],
              holds_bytes ? 2 * kElements : 0u);
  }
}

TEST(SimDeviceTest, ComputeTakesTheSlowerOfMatmulAndHbmTime) {
  const core::GpuSpec gpu = DgxH100().nodes[0].gpus[0];
  constexpr double kFlops = 4e12;
  constexpr uint64_t kHbm = uint64_t{6} << 30;
  const SimRun run = MustRun(Options(1), [&](int, core::Comm&, core::Device& device,
                                             std::vector<std::byte>& out) -> Status {
    namespace sg4 = simgrid::s4u;
    const std::pair<double, uint64_t> cases[] = {{kFlops, 0}, {0.0, kHbm}, {kFlops, kHbm}};
    for (auto [flops, hbm] : cases) {
      const double t0 = sg4::Engine::get_clock();
      TWINSIM_RETURN_IF_ERROR(device.Compute(flops, hbm, "op"));
      PutDouble(out, sg4::Engine::get_clock() - t0);
    }
    if (device.Compute(-1, 0, "bad").code() != StatusCode::kInvalidArgument) {
      return Status::Internal("negative flops were accepted");
    }
    return Status::Ok();
  });
  const std::vector<double> laps = Doubles(run.ranks[0].output);
  ASSERT_EQ(laps.size(), 3u);
  const double matmul = kFlops / (kMatmulEfficiency * gpu.matmul_flops_per_s);
  const double hbm = static_cast<double>(kHbm) / gpu.hbm_bandwidth_bytes_per_s;
  EXPECT_NEAR(laps[0], matmul, 1e-6 * matmul);
  EXPECT_NEAR(laps[1], hbm, 1e-6 * hbm);
  EXPECT_NEAR(laps[2], std::max(matmul, hbm), 1e-6 * matmul);
  EXPECT_EQ(run.link_bytes[static_cast<int>(LinkClass::kPcieGpu)], 0u);  // on the GPU only
}

TEST(SimDeviceTest, WriteKernelOutputChecksHandlesAndSizesInBothModes) {
  for (bool holds_bytes : {true, false}) {
    SCOPED_TRACE(holds_bytes ? "data mode" : "timing-only");
    SimRunOptions options = Options(1);
    options.holds_bytes = holds_bytes;
    MustRun(options, [holds_bytes](int, core::Comm&, core::Device& device,
                                   std::vector<std::byte>&) -> Status {
      TWINSIM_ASSIGN_OR_RETURN(core::Buffer b, core::AllocateOrError(device, 64, "param"));
      auto expect = [](const Status& s, StatusCode code, const char* what) -> Status {
        if (s.code() != code) return Status::Internal(std::string(what) + ": " + s.ToString());
        return Status::Ok();
      };
      const std::vector<std::byte> eight(8);
      TWINSIM_RETURN_IF_ERROR(
          expect(device.WriteKernelOutput(BufferRegion::Slice(b, 60, 8), {}, 2),
                 StatusCode::kInvalidArgument, "out of bounds, empty src"));
      TWINSIM_RETURN_IF_ERROR(expect(device.WriteKernelOutput(BufferRegion::Whole(b), eight, 16),
                                     StatusCode::kInvalidArgument, "size mismatch"));
      TWINSIM_RETURN_IF_ERROR(
          expect(device.WriteKernelOutput(BufferRegion::Whole(core::Buffer{}), {}, 0),
                 StatusCode::kInvalidArgument, "null handle"));
      core::Buffer foreign = b;
      foreign.device_id += 1000;
      TWINSIM_RETURN_IF_ERROR(
          expect(device.WriteKernelOutput(BufferRegion::Whole(foreign), {}, 16),
                 StatusCode::kInvalidArgument, "another device's buffer"));
      // An empty src stands for uncomputed bits only on a device without bytes.
      TWINSIM_RETURN_IF_ERROR(expect(device.WriteKernelOutput(BufferRegion::Whole(b), {}, 16),
                                     holds_bytes ? StatusCode::kInvalidArgument : StatusCode::kOk,
                                     "empty src"));
      TWINSIM_RETURN_IF_ERROR(device.Free(b));
      return expect(device.WriteKernelOutput(BufferRegion::Whole(b), {}, 16),
                    StatusCode::kNotFound, "freed buffer");
    });
  }
}

// HostInitWork runs on the node's CPU host at kCpuFlopsPerS; the node's ranks share it.
TEST(SimDeviceTest, HostInitWorkRunsOnTheNodesSharedCpu) {
  constexpr uint64_t kElements = uint64_t{1} << 30;
  SimRunOptions options = Options(2);
  options.holds_bytes = false;
  const SimRun alone = MustRun(
      options, [](int rank, core::Comm&, core::Device& device, std::vector<std::byte>&) {
        return rank == 0 ? device.HostInitWork(kElements) : Status::Ok();
      });
  const SimRun both = MustRun(
      options, [](int, core::Comm&, core::Device& device, std::vector<std::byte>&) {
        return device.HostInitWork(kElements);
      });
  const double one = kElements / kCpuFlopsPerS;
  EXPECT_NEAR(alone.ranks[0].end_time_s, one, 1e-9 * one);
  EXPECT_EQ(alone.ranks[1].end_time_s, 0.0);
  EXPECT_NEAR(both.ranks[0].end_time_s, 2 * one, 2e-9 * one);
  EXPECT_NEAR(both.ranks[1].end_time_s, 2 * one, 2e-9 * one);
  for (uint64_t bytes : both.link_bytes) EXPECT_EQ(bytes, 0u);
}

// Note [Cost of a simulated op] in sim_device.cc: an Exec set up in one simcall ends at the
// same simulated instants, to the bit, as the plain s4u chain of setters it replaced, also
// when eight ranks of different speeds share the node's CPU host between their GPU kernels.
TEST(SimDeviceTest, ExecsEndWhenThePlainSetterChainEnds) {
  constexpr int kRanks = 8;
  SimRunOptions options = Options(kRanks);
  options.holds_bytes = false;
  // Each rank's work: GPU fills and kernels of rank-dependent sizes, host init between them.
  auto gpu_elements = [](int rank, int step) {
    return uint64_t{1000003} * (step + 1) + uint64_t{7919} * rank * (step + 3);
  };
  auto cpu_elements = [](int rank, int step) {
    return uint64_t{20000033} + uint64_t{104729} * rank * (step + 1);
  };
  constexpr int kSteps = 4;
  const SimRun device_run = MustRun(
      options, [&](int rank, core::Comm&, core::Device& device, std::vector<std::byte>& out) {
        TWINSIM_ASSIGN_OR_RETURN(core::Buffer b,
                                 core::AllocateOrError(device, 4 * gpu_elements(rank, kSteps),
                                                       "param"));
        for (int step = 0; step < kSteps; ++step) {
          core::FillRequest request;
          request.transform.prim = core::Primitive::kNormal;
          request.transform.p[1] = 0.02f;
          request.end = gpu_elements(rank, step);
          TWINSIM_RETURN_IF_ERROR(
              device.Fill(BufferRegion::Slice(b, 0, 4 * request.end), request));
          PutDouble(out, simgrid::s4u::Engine::get_clock());
          TWINSIM_RETURN_IF_ERROR(device.HostInitWork(cpu_elements(rank, step)));
          PutDouble(out, simgrid::s4u::Engine::get_clock());
          TWINSIM_RETURN_IF_ERROR(device.WriteKernelOutput(BufferRegion::Slice(b, 0, 4), {},
                                                           gpu_elements(rank, step) / 3));
          PutDouble(out, simgrid::s4u::Engine::get_clock());
        }
        return Status::Ok();
      });
  const SimRun plain_run = MustRun(
      options, [&](int rank, core::Comm&, core::Device&, std::vector<std::byte>& out) {
        namespace sg4 = simgrid::s4u;
        sg4::Host* gpu = sg4::Host::by_name(fmt::format("gpu{}", rank));
        sg4::Host* cpu = sg4::Host::by_name("node0-cpu");
        auto exec = [](sg4::Host* host, uint64_t flops) {
          sg4::Exec::init()
              ->set_flops_amount(static_cast<double>(flops))
              ->set_host(host)
              ->start()
              ->wait();
        };
        for (int step = 0; step < kSteps; ++step) {
          exec(gpu, gpu_elements(rank, step));
          PutDouble(out, sg4::Engine::get_clock());
          exec(cpu, cpu_elements(rank, step));
          PutDouble(out, sg4::Engine::get_clock());
          exec(gpu, gpu_elements(rank, step) / 3);
          PutDouble(out, sg4::Engine::get_clock());
        }
        return Status::Ok();
      });
  ASSERT_EQ(device_run.ranks.size(), plain_run.ranks.size());
  for (int r = 0; r < kRanks; ++r) {
    const std::vector<double> device = Doubles(device_run.ranks[r].output);
    const std::vector<double> plain = Doubles(plain_run.ranks[r].output);
    ASSERT_EQ(device.size(), static_cast<size_t>(3 * kSteps)) << "rank " << r;
    ASSERT_EQ(device.size(), plain.size()) << "rank " << r;
    for (size_t k = 0; k < device.size(); ++k) {
      EXPECT_EQ(device[k], plain[k]) << "rank " << r << " op " << k;  // the same bits
    }
    EXPECT_EQ(device_run.ranks[r].end_time_s, plain_run.ranks[r].end_time_s) << "rank " << r;
  }
}

TEST(SimDeviceTest, TheTraceShowsInitKernelsAndHostInit) {
  SimRunOptions options = Options(1);
  options.holds_bytes = false;
  options.trace_path = ::testing::TempDir() + "/sim_device_test_trace.json";
  MustRun(options, [](int, core::Comm&, core::Device& device, std::vector<std::byte>&) -> Status {
    TWINSIM_ASSIGN_OR_RETURN(core::Buffer b, core::AllocateOrError(device, 4096, "param"));
    TWINSIM_RETURN_IF_ERROR(device.WriteKernelOutput(BufferRegion::Whole(b), {}, 1024));
    return device.HostInitWork(1024);
  });
  std::FILE* file = std::fopen(options.trace_path.c_str(), "rb");
  ASSERT_NE(file, nullptr);
  std::string json;
  char chunk[4096];
  for (size_t n; (n = std::fread(chunk, 1, sizeof chunk, file)) > 0;) json.append(chunk, n);
  std::fclose(file);
  EXPECT_NE(json.find("\"name\":\"init kernel\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"name\":\"host init\""), std::string::npos) << json;
  EXPECT_EQ(json.find("copy host->device"), std::string::npos) << json;
}

}  // namespace
}  // namespace twinsim::sim
