#include "policies/seed/common.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstring>
#include <numbers>
#include <span>

#include "fmt/format.h"
#include "kernels/dtype.h"
#include "kernels/portable_math.h"

namespace twinsim::policies::seed {
namespace {

using kernels::torch::CpuGenerator;
using kernels::torch::CudaDeviceProfile;

constexpr uint32_t kCudaStateMagic = 0x43554441;  // "CUDA"

// torch.nn.init reduced to one op (Note [Modelled PyTorch init]).
struct TorchOp {
  enum Kind { kUniform, kNormal, kTruncNormal, kConstant } kind = kConstant;
  double p0 = 0, p1 = 0;        // uniform from/to, normal mean/std, constant value
  double mean = 0, std = 1;     // trunc_normal
  double lo = 0, hi = 0;        // trunc_normal clamp bounds
};

double Fan(const core::InitSpec& s) {
  return static_cast<double>(s.mode == core::FanMode::kFanIn ? s.fan_in : s.fan_out);
}

TorchOp ToTorchOp(const core::InitSpec& s) {
  using core::InitKind;
  switch (s.kind) {
    case InitKind::kUniform:
      return {TorchOp::kUniform, s.a, s.b};
    case InitKind::kNormal:
      return {TorchOp::kNormal, s.mean, s.std};
    case InitKind::kKaimingUniform: {
      const double std = core::CalculateGain(s.nonlinearity, s.a) / std::sqrt(Fan(s));
      const double bound = std::sqrt(3.0) * std;
      return {TorchOp::kUniform, -bound, bound};
    }
    case InitKind::kKaimingNormal:
      return {TorchOp::kNormal, 0.0, core::CalculateGain(s.nonlinearity, s.a) / std::sqrt(Fan(s))};
    case InitKind::kXavierUniform: {
      const double std =
          s.gain * std::sqrt(2.0 / static_cast<double>(s.fan_in + s.fan_out));
      const double a = std::sqrt(3.0) * std;
      return {TorchOp::kUniform, -a, a};
    }
    case InitKind::kXavierNormal:
      return {TorchOp::kNormal, 0.0,
              s.gain * std::sqrt(2.0 / static_cast<double>(s.fan_in + s.fan_out))};
    case InitKind::kTruncNormal: {
      // torch.nn.init._no_grad_trunc_normal_.
      auto norm_cdf = [](double x) { return (1.0 + std::erf(x / std::sqrt(2.0))) / 2.0; };
      const double l = norm_cdf((s.a - s.mean) / s.std);
      const double u = norm_cdf((s.b - s.mean) / s.std);
      TorchOp op{TorchOp::kTruncNormal, 2 * l - 1, 2 * u - 1};
      op.mean = s.mean;
      op.std = s.std;
      op.lo = s.a;
      op.hi = s.b;
      return op;
    }
    case InitKind::kConstant:
      return {TorchOp::kConstant, s.value};
  }
  return {};
}

// erfinv_, mul_(std * sqrt(2)), add_(mean), clamp_(a, b) in float, as the tensor ops do.
void FinishTruncNormal(const TorchOp& op, std::span<float> out) {
  const float scale = static_cast<float>(op.std * std::numbers::sqrt2);
  const float mean = static_cast<float>(op.mean);
  const float lo = static_cast<float>(op.lo), hi = static_cast<float>(op.hi);
  for (float& v : out) {
    float x = kernels::ErfInv(v) * scale + mean;
    v = x < lo ? lo : (x > hi ? hi : x);
  }
}

}  // namespace

// ---- TorchGenerator ----

TorchGenerator::TorchGenerator(InitDevice device, uint64_t seed, const CudaDeviceProfile& gpu)
    : device_(device), cpu_(seed), cuda_seed_(seed), gpu_(gpu) {}

TorchGenerator TorchGenerator::Cpu(uint64_t seed) {
  return TorchGenerator(InitDevice::kCpu, seed, CudaDeviceProfile{});
}

TorchGenerator TorchGenerator::Cuda(uint64_t seed, const CudaDeviceProfile& gpu) {
  return TorchGenerator(InitDevice::kCuda, seed, gpu);
}

TorchGenerator TorchGenerator::For(InitDevice device, uint64_t seed,
                                   const CudaDeviceProfile& gpu) {
  return device == InitDevice::kCpu ? Cpu(seed) : Cuda(seed, gpu);
}

StreamId TorchGenerator::stream() const {
  if (device_ == InitDevice::kCpu) {
    // Only the low 32 bits reach mt19937 (kernels/torch/cpu_generator.h).
    return {StreamKind::kTorchCpu, cpu_.seed() & 0xffffffffu, 0};
  }
  return {StreamKind::kTorchCuda, cuda_seed_, 0};
}

uint64_t TorchGenerator::position() const {
  return device_ == InitDevice::kCpu ? cpu_.words_drawn() : cuda_offset_;
}

void TorchGenerator::set_offset(uint64_t offset) {
  assert(device_ == InitDevice::kCuda);
  cuda_offset_ = offset;
}

void TorchGenerator::Generate(const TorchOpView& view, std::span<float> out) {
  const TorchOp& op = *static_cast<const TorchOp*>(view.op);
  if (device_ == InitDevice::kCpu) {
    if (op.kind == TorchOp::kNormal) {
      kernels::torch::FillNormal(cpu_, out, op.p0, op.p1);
    } else {
      kernels::torch::FillUniform(cpu_, out, op.p0, op.p1);
    }
  } else {
    if (op.kind == TorchOp::kNormal) {
      kernels::torch::CudaNormalInto(cuda_seed_, cuda_offset_, gpu_, op.p0, op.p1, out,
                                     element_size_);
    } else {
      kernels::torch::CudaUniformInto(cuda_seed_, cuda_offset_, gpu_, op.p0, op.p1, out,
                                      element_size_);
    }
    cuda_offset_ += kernels::torch::TorchCudaUniformPlan(static_cast<int64_t>(out.size()), gpu_,
                                                         element_size_)
                        .offset_advance;
  }
  if (op.kind == TorchOp::kTruncNormal) FinishTruncNormal(op, out);
}

std::shared_ptr<const GeneratedTensor> TorchGenerator::Draw(const TorchOpView& view,
                                                            uint64_t numel) {
  const TorchOp& op = *static_cast<const TorchOp*>(view.op);
  auto compute = [&](GeneratedTensor& t) {
    TorchGenerator copy = *this;
    t.values.resize(numel);
    copy.Generate(view, t.values);
    t.cpu_after = copy.cpu_;
    t.cuda_offset_after = copy.cuda_offset_;
  };
  std::shared_ptr<const GeneratedTensor> tensor;
  if (numel < kGenerationCacheMinElements) {
    auto fresh = std::make_shared<GeneratedTensor>();
    compute(*fresh);
    tensor = std::move(fresh);
  } else {
    // Note [Generation cache]: the key is the complete input of the draw.
    std::string key;
    const auto append = [&key](const void* p, size_t n) {
      key.append(static_cast<const char*>(p), n);
    };
    append(&device_, sizeof device_);
    append(&op.kind, sizeof op.kind);
    for (double d : {op.p0, op.p1, op.mean, op.std, op.lo, op.hi}) append(&d, sizeof d);
    append(&numel, sizeof numel);
    if (device_ == InitDevice::kCpu) {
      append(&cpu_, sizeof cpu_);
    } else {
      append(&cuda_seed_, sizeof cuda_seed_);
      append(&cuda_offset_, sizeof cuda_offset_);
      append(&gpu_.sm_count, sizeof gpu_.sm_count);
      append(&gpu_.max_threads_per_sm, sizeof gpu_.max_threads_per_sm);
      append(&element_size_, sizeof element_size_);
    }
    tensor = GenerationCache::Global().GetOrCompute(std::move(key), compute);
  }
  cpu_ = tensor->cpu_after;
  cuda_offset_ = tensor->cuda_offset_after;
  return tensor;
}

std::pair<uint64_t, uint64_t> TorchGenerator::Init(const core::InitSpec& spec,
                                                   std::span<float> out) {
  const TorchOp op = ToTorchOp(spec);
  const uint64_t begin = position();
  if (op.kind == TorchOp::kConstant) {
    for (float& v : out) v = static_cast<float>(op.p0);
    return {begin, begin};
  }
  if (out.size() < kGenerationCacheMinElements) {
    Generate(TorchOpView{&op}, out);  // no temporary for small tensors
    return {begin, position()};
  }
  std::shared_ptr<const GeneratedTensor> tensor = Draw(TorchOpView{&op}, out.size());
  std::copy(tensor->values.begin(), tensor->values.end(), out.begin());
  return {begin, position()};
}

std::pair<uint64_t, uint64_t> TorchGenerator::InitBlock(const core::InitSpec& spec,
                                                        const core::Block2D& block,
                                                        std::vector<float>& out) {
  const TorchOp op = ToTorchOp(spec);
  const uint64_t begin = position();
  if (op.kind == TorchOp::kConstant) {
    out.assign((block.row_end - block.row_begin) * (block.col_end - block.col_begin),
               static_cast<float>(op.p0));
    return {begin, begin};
  }
  std::shared_ptr<const GeneratedTensor> tensor = Draw(TorchOpView{&op}, block.rows * block.cols);
  SliceInto(tensor->values, block, out);
  return {begin, position()};
}

// ---- GenerationCache ----

GenerationCache& GenerationCache::Global() {
  static GenerationCache* cache = new GenerationCache(kDefaultCapacityBytes);
  return *cache;
}

std::shared_ptr<const GeneratedTensor> GenerationCache::GetOrCompute(
    std::string key, const std::function<void(GeneratedTensor&)>& compute) {
  std::shared_ptr<Slot> slot;
  bool owner = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = slots_.find(key);
    if (it != slots_.end()) {
      slot = it->second;
      ++hits_;
    } else {
      slot = std::make_shared<Slot>();
      slot->ready = slot->done.get_future().share();
      slots_.emplace(key, slot);
      order_.push_back(key);
      owner = true;
      ++misses_;
    }
  }
  if (!owner) {
    slot->ready.get();  // rethrows what the computing thread threw
    return std::shared_ptr<const GeneratedTensor>(slot, &slot->tensor);
  }
  try {
    compute(slot->tensor);
  } catch (...) {
    slot->done.set_exception(std::current_exception());
    std::lock_guard<std::mutex> lock(mu_);
    slots_.erase(key);
    throw;
  }
  slot->done.set_value();
  {
    std::lock_guard<std::mutex> lock(mu_);
    bytes_ += slot->tensor.values.size() * sizeof(float);
    slot->bytes = slot->tensor.values.size() * sizeof(float);
    // Oldest first; holders of an evicted tensor keep it alive until they are done with it.
    while (bytes_ > capacity_ && !order_.empty()) {
      auto victim = slots_.find(order_.front());
      order_.pop_front();
      if (victim == slots_.end()) continue;
      bytes_ -= victim->second->bytes;
      slots_.erase(victim);
    }
  }
  return std::shared_ptr<const GeneratedTensor>(slot, &slot->tensor);
}

GenerationCache::Stats GenerationCache::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return {hits_, misses_, bytes_};
}

void GenerationCache::Clear() {
  std::lock_guard<std::mutex> lock(mu_);
  slots_.clear();
  order_.clear();
  bytes_ = hits_ = misses_ = 0;
}

std::vector<std::byte> TorchGenerator::Save() const {
  if (device_ == InitDevice::kCpu) {
    std::vector<std::byte> bytes(sizeof(CpuGenerator));
    std::memcpy(bytes.data(), &cpu_, sizeof(CpuGenerator));
    return bytes;
  }
  std::vector<std::byte> bytes(4 + 8 + 8);
  std::memcpy(bytes.data(), &kCudaStateMagic, 4);
  std::memcpy(bytes.data() + 4, &cuda_seed_, 8);
  std::memcpy(bytes.data() + 12, &cuda_offset_, 8);
  return bytes;
}

Status TorchGenerator::Load(std::span<const std::byte> state) {
  if (device_ == InitDevice::kCpu) {
    if (state.size() != sizeof(CpuGenerator)) {
      return Status::InvalidArgument(fmt::format(
          "CPU generator state has {} bytes, expected {}", state.size(), sizeof(CpuGenerator)));
    }
    std::memcpy(static_cast<void*>(&cpu_), state.data(), sizeof(CpuGenerator));
    return Status::Ok();
  }
  uint32_t magic = 0;
  if (state.size() == 20) std::memcpy(&magic, state.data(), 4);
  if (magic != kCudaStateMagic) {
    return Status::InvalidArgument(
        fmt::format("CUDA generator state of {} bytes is not one Save() wrote", state.size()));
  }
  std::memcpy(&cuda_seed_, state.data() + 4, 8);
  std::memcpy(&cuda_offset_, state.data() + 12, 8);
  return Status::Ok();
}

// ---- RankShards ----

RankShards::RankShards(const InitContext& ctx)
    : ctx_(ctx), owned_(ctx.layout->OwnedBy(ctx.rank)) {
  blocks_.reserve(owned_.size());
  for (const core::OwnedShard& s : owned_) {
    const auto& shape = ctx.layout->model().params[s.param].shape;
    blocks_.push_back(s.shard.AsPaddedBlock2D(shape).value_or(core::Block2D{}));
  }
}

const core::ParamSpec& RankShards::spec(int i) const {
  return ctx_.layout->model().params[owned_[i].param];
}

int64_t RankShards::numel(int i) const {
  const core::Block2D& b = blocks_[i];
  return static_cast<int64_t>((b.row_end - b.row_begin) * (b.col_end - b.col_begin));
}

uint64_t RankShards::bytes(int i) const {
  return static_cast<uint64_t>(numel(i)) * core::DTypeSize(spec(i).dtype);
}

uint64_t RankShards::total_bytes() const {
  uint64_t total = 0;
  for (int i = 0; i < size(); ++i) total += bytes(i);
  return total;
}

StatusOr<bool> RankShards::AllocateAll(RankInit& init) {
  init.buffers.assign(owned_.size(), core::Buffer{});
  for (int i = 0; i < size(); ++i) {
    const auto& shape = spec(i).shape;
    if (!owned_[i].shard.AsPaddedBlock2D(shape)) {
      return Status::InvalidArgument(fmt::format(
          "param '{}': its TP shard is not a block of the 2-D view of shape {}; seed policies "
          "need 2-D blocks",
          spec(i).name, core::FormatShape(shape)));
    }
    // As AllocateOrRecord, with the OOM description built only on an OOM: a string per shard
    // per rank is a visible cost at 16,384 ranks (Note [Cost of a simulated op] in
    // sim/sim_device.cc).
    TWINSIM_ASSIGN_OR_RETURN(core::Allocation a, ctx_.device->Allocate(bytes(i), core::kTagParam));
    if (!a.fits()) {
      init.oom = a.oom;
      init.oom_during = fmt::format("the shard of '{}'", spec(i).name);
      return false;
    }
    init.buffers[i] = a.buffer;
  }
  return true;
}

Status RankShards::Write(int i, const RankInit& init, std::span<const float> values,
                         InitDevice produced_on) {
  const core::DType dtype = spec(i).dtype;
  const core::Buffer& dst = init.buffers[i];
  const uint64_t numel = static_cast<uint64_t>(this->numel(i));
  // Note [Modelled init kernels]: a CUDA-side draw is a kernel on the GPU; a CPU-side one is
  // CPU work followed by a host-to-device copy.
  auto write = [&](const core::BufferRegion& region, std::span<const std::byte> bytes) {
    return produced_on == InitDevice::kCuda
               ? ctx_.device->WriteKernelOutput(region, bytes, region.bytes / core::DTypeSize(dtype))
               : ctx_.device->CopyFromHost(region, bytes);
  };
  if (values.empty() && numel > 0) {
    // Timing-only device: the bits were not computed (Note [Devices without bytes]).
    return write(core::BufferRegion::Whole(dst), {});
  }
  assert(values.size() == numel);
  if (dtype == core::DType::kFp32) {
    return write(core::BufferRegion::Whole(dst), std::as_bytes(values));
  }
  // Narrower dtypes: convert and copy a slice at a time, so no second full-size host copy.
  constexpr size_t kSlice = size_t{1} << 16;
  const uint64_t esz = core::DTypeSize(dtype);
  std::vector<std::byte> bytes(std::min(values.size(), kSlice) * esz);
  for (size_t begin = 0; begin < values.size(); begin += kSlice) {
    const size_t n = std::min(kSlice, values.size() - begin);
    for (size_t e = 0; e < n; ++e) kernels::StoreAs(dtype, values[begin + e], bytes.data(), e);
    TWINSIM_RETURN_IF_ERROR(write(core::BufferRegion::Slice(dst, begin * esz, n * esz),
                                  std::span<const std::byte>(bytes.data(), n * esz)));
  }
  return Status::Ok();
}

void SliceInto(std::span<const float> full, const core::Block2D& b, std::vector<float>& out) {
  out.clear();
  out.reserve((b.row_end - b.row_begin) * (b.col_end - b.col_begin));
  for (uint64_t r = b.row_begin; r < b.row_end; ++r) {
    const float* row = full.data() + r * b.cols;
    out.insert(out.end(), row + b.col_begin, row + b.col_end);
  }
}

std::vector<float> Slice(std::span<const float> full, const core::Block2D& b) {
  std::vector<float> out;
  SliceInto(full, b, out);
  return out;
}

StatusOr<bool> AllocateOrRecord(core::Device& device, uint64_t bytes, std::string_view tag,
                                std::string_view during, RankInit& init, core::Buffer* buffer) {
  TWINSIM_ASSIGN_OR_RETURN(core::Allocation a, device.Allocate(bytes, tag));
  if (!a.fits()) {
    init.oom = a.oom;
    init.oom_during = std::string(during);
    return false;
  }
  *buffer = a.buffer;
  return true;
}

StatusOr<bool> ReserveOrRecord(core::HostMemory* host, int rank, uint64_t bytes,
                               std::string_view tag, std::string_view during, RankInit& init,
                               core::HostReservation* reservation) {
  if (host == nullptr) return true;
  TWINSIM_ASSIGN_OR_RETURN(core::HostAllocation a,
                           host->Reserve(core::HostMemoryKind::kPageable, bytes, tag, rank));
  if (!a.fits()) {
    init.oom = a.oom;
    init.oom_during = std::string(during);
    return false;
  }
  *reservation = a.reservation;
  return true;
}

// ---- Tied copies ----

namespace {
constexpr int kTiedTagBase = 1 << 20;
}  // namespace

Status SyncTiedCopies(const InitContext& ctx, const RankShards& shards, const RankInit& init) {
  const core::ParallelLayout& layout = *ctx.layout;
  const core::ParallelCoords me = layout.RankCoords(ctx.rank);
  const auto placements = layout.Placements();
  // Sends: a home shard whose parameter has a copy on another pipeline rank.
  for (size_t p = 0; p < placements.size(); ++p) {
    const core::Placement& copy = placements[p];
    if (!copy.tied_copy()) continue;
    const int home_stage = layout.StageOfParam(copy.param);
    core::ParallelCoords src = me, dst = me;
    src.pp = layout.PipelineRankOf(home_stage);
    dst.pp = layout.PipelineRankOf(copy.stage);
    const int src_rank = layout.RankOf(src), dst_rank = layout.RankOf(dst);
    int home = -1, mine = -1;
    for (int i = 0; i < shards.size(); ++i) {
      const core::OwnedShard& o = shards.owned()[i];
      if (o.param == copy.param && o.stage == home_stage && !(o.tied_from >= 0)) home = i;
      if (o.param == copy.param && o.stage == copy.stage && o.tied_from == copy.tied_from) mine = i;
    }
    const int tag = kTiedTagBase + static_cast<int>(p);
    if (src_rank == dst_rank) {
      if (home >= 0 && mine >= 0) {
        TWINSIM_RETURN_IF_ERROR(ctx.device->Copy(core::BufferRegion::Whole(init.buffers[mine]),
                                                 core::BufferRegion::Whole(init.buffers[home])));
      }
    } else if (ctx.rank == src_rank && home >= 0) {
      TWINSIM_RETURN_IF_ERROR(
          ctx.comm->Send(dst_rank, core::BufferRegion::Whole(init.buffers[home]), tag));
    }
  }
  for (size_t p = 0; p < placements.size(); ++p) {
    const core::Placement& copy = placements[p];
    if (!copy.tied_copy()) continue;
    core::ParallelCoords src = me, dst = me;
    src.pp = layout.PipelineRankOf(layout.StageOfParam(copy.param));
    dst.pp = layout.PipelineRankOf(copy.stage);
    const int src_rank = layout.RankOf(src), dst_rank = layout.RankOf(dst);
    if (ctx.rank != dst_rank || src_rank == dst_rank) continue;
    for (int i = 0; i < shards.size(); ++i) {
      const core::OwnedShard& o = shards.owned()[i];
      if (o.param == copy.param && o.stage == copy.stage && o.tied_from == copy.tied_from) {
        TWINSIM_RETURN_IF_ERROR(ctx.comm->Recv(
            src_rank, core::BufferRegion::Whole(init.buffers[i]), kTiedTagBase + static_cast<int>(p)));
      }
    }
  }
  return Status::Ok();
}

// ---- The common stateful draw ----

StatusOr<bool> DrawShards(const InitContext& ctx, RankShards& shards, RankInit& init,
                          const std::function<DrawChoice(int entry)>& choose) {
  const core::ParallelLayout& layout = *ctx.layout;
  std::vector<core::HostReservation> staged;
  // Host-side staging, reused from parameter to parameter (fresh pages cost more than the
  // generation itself on large models).
  std::vector<float> values;
  // Timing-only device: charge the work, skip computing bits nobody can store.
  const bool compute_bits = ctx.device->Info().holds_bytes;
  for (int i = 0; i < shards.size(); ++i) {
    const core::OwnedShard& o = shards.owned()[i];
    if ((o.tied_from >= 0)) continue;
    const core::ParamSpec& spec = shards.spec(i);
    const DrawChoice choice = choose(i);
    if (choice.generator == nullptr) continue;
    TorchGenerator& gen = *choice.generator;
    const bool on_cpu = gen.device() == InitDevice::kCpu;
    if (on_cpu) {
      // The shard lives on the CPU until the whole model is moved to the GPU.
      core::HostReservation r;
      TWINSIM_ASSIGN_OR_RETURN(bool fits,
                               ReserveOrRecord(ctx.host, ctx.rank, shards.bytes(i), "cpu-model",
                                               fmt::format("'{}' on the CPU", spec.name), init, &r));
      if (!fits) return false;
      staged.push_back(r);
    }
    const core::Block2D& block = shards.block(i);
    if (choice.full_then_slice) {
      // The full (padded) master tensor, then this rank's slice of it.
      const uint64_t full_bytes = block.rows * block.cols * sizeof(float);
      const std::string during = fmt::format("the full master weight of '{}'", spec.name);
      core::HostReservation master;
      core::Buffer master_buffer;
      if (on_cpu) {
        TWINSIM_ASSIGN_OR_RETURN(bool fits, ReserveOrRecord(ctx.host, ctx.rank, full_bytes,
                                                            "init-temp", during, init, &master));
        if (!fits) return false;
      } else {
        TWINSIM_ASSIGN_OR_RETURN(bool fits, AllocateOrRecord(*ctx.device, full_bytes,
                                                             core::kTagInitTemp, during, init,
                                                             &master_buffer));
        if (!fits) return false;
      }
      // The draw covers the whole tensor; only the slice is kept (the full tensor's memory
      // is charged above, as the framework needs it).
      if (compute_bits) {
        const auto [begin, end] = gen.InitBlock(spec.init, block, values);
        core::Block2D whole{block.rows, block.cols, 0, block.rows, 0, block.cols};
        if (begin != end) init.draws.push_back({gen.stream(), begin, end, o.param, whole});
      } else {
        values.clear();
      }
      // The full draw's cost; Write below charges the slice's.
      const uint64_t full_numel = block.rows * block.cols;
      if (on_cpu) {
        TWINSIM_RETURN_IF_ERROR(ctx.device->HostInitWork(full_numel));
      } else {
        TWINSIM_RETURN_IF_ERROR(ctx.device->WriteKernelOutput(
            core::BufferRegion::Whole(master_buffer), {}, full_numel));
      }
      if (on_cpu) {
        TWINSIM_RETURN_IF_ERROR(ctx.host->Release(master));
      } else {
        TWINSIM_RETURN_IF_ERROR(ctx.device->Free(master_buffer));
      }
    } else {
      if (compute_bits && choice.pieces.empty()) {
        values.resize(static_cast<size_t>(shards.numel(i)));
        const auto [begin, end] = gen.Init(spec.init, values);
        if (begin != end) init.draws.push_back({gen.stream(), begin, end, o.param, block});
      } else if (compute_bits) {
        assert(!on_cpu);
        values.resize(static_cast<size_t>(shards.numel(i)));
        const uint64_t width = block.col_end - block.col_begin;
        for (const DrawPiece& piece : choice.pieces) {
          if (piece.rows.empty()) continue;
          assert(piece.rows.begin >= 0 &&
                 static_cast<uint64_t>(piece.rows.end) <= block.row_end - block.row_begin);
          gen.set_offset(piece.offset);
          const std::span<float> part(values.data() + piece.rows.begin * width,
                                      static_cast<size_t>(piece.rows.size()) * width);
          const auto [begin, end] = gen.Init(spec.init, part);
          core::Block2D rows = block;
          rows.row_begin = block.row_begin + static_cast<uint64_t>(piece.rows.begin);
          rows.row_end = block.row_begin + static_cast<uint64_t>(piece.rows.end);
          if (begin != end) init.draws.push_back({gen.stream(), begin, end, o.param, rows});
        }
      } else {
        values.clear();
      }
      if (on_cpu) {
        TWINSIM_RETURN_IF_ERROR(
            ctx.device->HostInitWork(static_cast<uint64_t>(shards.numel(i))));
      }
    }
    // CPU-side values reach the GPU by a copy; GPU-side ones are written by a kernel (a full
    // master weight's slice: a device-side slice copy, charged like a kernel of its size).
    TWINSIM_RETURN_IF_ERROR(shards.Write(i, init, values, gen.device()));
  }
  for (const core::HostReservation& r : staged) TWINSIM_RETURN_IF_ERROR(ctx.host->Release(r));
  (void)layout;
  return true;
}

// ---- Bytes over Comm ----

StatusOr<bool> SendBytes(const InitContext& ctx, int dst, std::span<const std::byte> bytes,
                         int tag, RankInit& init) {
  return SendBytes(ctx, dst, bytes.size(), bytes, tag, init);
}

StatusOr<bool> SendBytes(const InitContext& ctx, int dst, uint64_t size,
                         std::span<const std::byte> bytes, int tag, RankInit& init) {
  assert(bytes.empty() || bytes.size() == size);
  core::Buffer staging;
  TWINSIM_ASSIGN_OR_RETURN(bool fits, AllocateOrRecord(*ctx.device, size, core::kTagComm,
                                                       "a send buffer", init, &staging));
  if (!fits) return false;
  Status s = ctx.device->CopyFromHost(core::BufferRegion::Whole(staging), bytes);
  if (s.ok()) s = ctx.comm->Send(dst, core::BufferRegion::Whole(staging), tag);
  Status f = ctx.device->Free(staging);
  if (!s.ok()) return s;
  if (!f.ok()) return f;
  return true;
}

StatusOr<bool> RecvBytes(const InitContext& ctx, int src, uint64_t bytes, int tag,
                         RankInit& init, std::vector<std::byte>* out) {
  core::Buffer staging;
  TWINSIM_ASSIGN_OR_RETURN(bool fits, AllocateOrRecord(*ctx.device, bytes, core::kTagComm,
                                                       "a receive buffer", init, &staging));
  if (!fits) return false;
  out->assign(bytes, std::byte{0});
  Status s = ctx.comm->Recv(src, core::BufferRegion::Whole(staging), tag);
  if (s.ok()) {
    // On a device without bytes the copy is still charged; nothing is read.
    s = ctx.device->CopyToHost(core::BufferRegion::Whole(staging),
                               ctx.device->Info().holds_bytes ? std::span<std::byte>(*out)
                                                              : std::span<std::byte>());
  }
  Status f = ctx.device->Free(staging);
  if (!s.ok()) return s;
  if (!f.ok()) return f;
  return true;
}

bool ExpertsSplitOverEp(const core::ParallelLayout& layout) {
  return layout.config().ep > 1 && layout.num_experts() > 0;
}

bool ExpertsSplitLikeDense(const core::ParallelLayout& layout) {
  return layout.num_experts() == 0 || layout.expert_tp() == layout.config().tp;
}

Claim ReplicaWhenExpertsSplitLikeDense() {
  return Claim{Property::kReplica, "etp == tp or the model has no experts",
               [](const core::ParallelLayout& layout, InitDevice) {
                 return ExpertsSplitLikeDense(layout);
               }};
}

Claim Always(Property property) { return Claim{property, "", nullptr}; }

Claim When(Property property, std::string condition,
           std::function<bool(const core::ParallelLayout&, InitDevice)> applies) {
  return Claim{property, std::move(condition), std::move(applies)};
}

}  // namespace twinsim::policies::seed
