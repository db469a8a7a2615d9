// torchtitan's seed checkpoint: an offline single-device run initializes the whole model and
// saves it with DCP; every training rank then loads its parameters from storage.
//
// Sources read (facts asserted in policies/seed/seed_checkpoint_test.cc):
//   pytorch/torchtitan@b5bcd76c torchtitan/train.py:53-62 (create_seed_checkpoint: asserts
//     WORLD_SIZE == 1 and checkpointing enabled, saves at step 0, exits);
//   torchtitan/trainer.py:395-397 (create_seed_checkpoint: init_device = "cpu"), :476-486
//     (parallelize_fn skipped for the seed checkpoint), :330-335 with
//     torchtitan/distributed/utils.py:245-249 (world 1: torch.manual_seed(seed));
//   torchtitan/components/checkpointer/dcp.py:583 (a load at step 0 is model-only);
//   docs/checkpoint.md:56-64 ("initialization of the model on a single CPU", loaded "on an
//     arbitrary number of GPUs via DCP resharding").
//   pytorch/pytorch@0140b62d torch/distributed/checkpoint/filesystem.py
//     (FileSystemReader.read_data: each read item is torch.load-ed whole from its file slice,
//     then narrow_tensor_by_index keeps the requested shard; copy_ into the target).
#include <deque>
#include <future>
#include <map>
#include <memory>
#include <mutex>

#include "fmt/format.h"
#include "kernels/dtype.h"
#include "policies/seed/common.h"
#include "policies/seed/factories.h"

namespace twinsim::policies::seed {
namespace {

// Note [seed-checkpoint]
// ~~~~~~~~~~~~~~~~~~~~~~
// torchtitan --checkpoint.create_seed_checkpoint is a separate job: WORLD_SIZE must be 1
// (train.py asserts it), the model is not parallelized, it is materialized and initialized on
// the CPU (init_device = "cpu") after torch.manual_seed(seed), parameters in registration
// order, and saved with DCP at step 0; the job then exits. That run is modelled by
// SeedCheckpointPolicy::Offline (its memory: the whole model in one host's memory; its time
// and storage writes: reported apart from the training ranks') and by the checkpoint's
// contents, computed once per (model, seed) (CheckpointFile below).
//
// The training job then loads step 0 model-only with DCP. Every rank asks only for its own
// shards, but DCP's FileSystemReader reads each stored item whole and narrows it afterwards,
// and a single-device checkpoint stores every parameter as one item: so each rank reads from
// storage, into host memory, the *full* tensor of every parameter it holds a shard of, one at
// a time, and copies its shard to the GPU. Padded vocabulary rows, which a checkpoint does not
// have, are zero. Nothing is sent between ranks: a tied copy loads the same key from storage.
// Parity holds by construction; the costs are the creation run, and each rank's storage
// reads (full tensors, not shards) through its node's storage bandwidth.

// What the creation run saved, computed once per (model, seed).
struct CheckpointFile {
  std::vector<std::vector<float>> values;  // by parameter; empty for tied parameters
  std::vector<DrawSpan> draws;             // the creation run's, in order; blocks unset
};

std::string CheckpointKey(const core::ModelSpec& model, uint64_t seed) {
  std::string key = fmt::format("{}|{}", seed, model.name);
  for (const core::ParamSpec& p : model.params) {
    key += fmt::format("|{}:{}:{}:{}:{}", p.name, fmt::join(p.shape, "x"),
                       core::DTypeName(p.dtype), core::FormatInitSpec(p.init), p.tied_to);
  }
  return key;
}

// The creation run's init: torch.manual_seed(seed) on the CPU, every stored parameter in
// registration order, unpadded.
std::shared_ptr<const CheckpointFile> CreateCheckpoint(const core::ModelSpec& model, uint64_t seed,
                                                       const kernels::torch::CudaDeviceProfile& gpu) {
  auto file = std::make_shared<CheckpointFile>();
  file->values.resize(model.params.size());
  TorchGenerator gen = TorchGenerator::For(InitDevice::kCpu, seed, gpu);
  for (int p = 0; p < static_cast<int>(model.params.size()); ++p) {
    const core::ParamSpec& spec = model.params[p];
    if (!spec.tied_to.empty()) continue;
    file->values[p].resize(static_cast<size_t>(spec.Numel()));
    const auto [begin, end] = gen.Init(spec.init, file->values[p]);
    // The block is filled in per layout by the reader (DrawsIn).
    if (begin != end) file->draws.push_back({gen.stream(), begin, end, p, core::Block2D{}});
  }
  return file;
}

// The creation run's draws, each over the real rows of its parameter in `layout`'s padded view.
std::vector<DrawSpan> DrawsIn(const CheckpointFile& file, const core::ParallelLayout& layout) {
  std::vector<DrawSpan> draws = file.draws;
  for (DrawSpan& d : draws) {
    const core::ParamSpec& spec = layout.model().params[d.param];
    const core::Block2D view = *layout.ShardOf(d.param, 0).AsPaddedBlock2D(spec.shape);
    const uint64_t rows = static_cast<uint64_t>(spec.shape.empty() ? 1 : spec.shape[0]);
    d.block = core::Block2D{view.rows, view.cols, 0, rows, 0, view.cols};
  }
  return draws;
}

// Checkpoints by CheckpointKey, so the ranks of a run (and its determinism rerun) read one
// file, as they read one file from storage. Holds the most recent few.
class CheckpointStore {
 public:
  static CheckpointStore& Global() {
    static CheckpointStore* store = new CheckpointStore();
    return *store;
  }

  std::shared_ptr<const CheckpointFile> Get(
      const std::string& key, const std::function<std::shared_ptr<const CheckpointFile>()>& make) {
    std::shared_future<std::shared_ptr<const CheckpointFile>> future;
    std::promise<std::shared_ptr<const CheckpointFile>> promise;
    bool owner = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = files_.find(key);
      if (it == files_.end()) {
        future = promise.get_future().share();
        files_.emplace(key, future);
        order_.push_back(key);
        while (order_.size() > kKept) {
          files_.erase(order_.front());
          order_.pop_front();
        }
        owner = true;
      } else {
        future = it->second;
      }
    }
    if (owner) promise.set_value(make());
    return future.get();
  }

 private:
  static constexpr size_t kKept = 4;
  std::mutex mu_;
  std::map<std::string, std::shared_future<std::shared_ptr<const CheckpointFile>>> files_;
  std::deque<std::string> order_;
};

class SeedCheckpointPolicy final : public SeedPolicy {
 public:
  std::string_view name() const override { return "seed-checkpoint"; }
  std::string_view version() const override { return "2"; }
  std::string_view models() const override {
    return "torchtitan --checkpoint.create_seed_checkpoint: an offline WORLD_SIZE=1 run "
           "initializes the whole model on the CPU and saves it with DCP; every rank then loads "
           "its parameters from storage";
  }
  core::Provenance provenance() const override {
    return core::Provenance{
        .sources =
            {{"pytorch/torchtitan", "b5bcd76c", "torchtitan/train.py", "main", 53, 62,
              "create_seed_checkpoint asserts WORLD_SIZE == 1 and checkpoint.enable, saves at "
              "step 0 and exits"},
             {"pytorch/torchtitan", "b5bcd76c", "torchtitan/trainer.py", "Trainer.__init__", 395,
              397, "the seed checkpoint run initializes on init_device = \"cpu\""},
             {"pytorch/torchtitan", "b5bcd76c", "torchtitan/trainer.py", "Trainer.__init__", 476,
              486, "parallelize_fn is skipped for the seed checkpoint: the whole model, unsharded"},
             {"pytorch/torchtitan", "b5bcd76c", "torchtitan/distributed/utils.py",
              "set_determinism", 245, 249, "world size 1: torch.manual_seed(seed)"},
             {"pytorch/torchtitan", "b5bcd76c", "torchtitan/components/checkpointer/dcp.py",
              "CheckpointManager.load", 583, 583, "a load at step 0 is model-only"},
             {"pytorch/pytorch", "0140b62d", "torch/distributed/checkpoint/filesystem.py",
              "FileSystemReader.read_data", 0, 0,
              "each read item is torch.load-ed whole, then narrowed to the requested shard"}},
        .deviations = {
            "torchtitan's docs (docs/checkpoint.md:59) say the checkpoint is loaded \"via DCP "
            "resharding\"; DCP's FileSystemReader reads each stored item whole and narrows it, "
            "so every rank reads the full tensor of each parameter it holds a shard of. twinsim "
            "models the reader's code.",
            "The creation run's time is an estimate (the node CPU's assumed init throughput, "
            "and storage writes at the node's storage read bandwidth); the training job loads "
            "after it, so the two are reported apart, never added.",
            "Storage is modelled per node (NodeSpec::storage_read_bytes_per_s); a shared file "
            "system's aggregate limit across nodes is not.",
            "pytorch/pytorch line numbers were not available to the reader (stored text); the "
            "function is cited by name."}};
  }
  const std::vector<Claim>& claims() const override {
    static const std::vector<Claim> kClaims = {
        Always(Property::kDistribution),
        Always(Property::kParity), Always(Property::kReplica), Always(Property::kDistinct),
        // The training ranks' memory; the creation run's (the whole model on one host) is
        // reported apart (Note [Offline work] in policy.h).
        Always(Property::kDeterminism), Always(Property::kInitFits)};
    return kClaims;
  }
  // The creation run initializes on the CPU whatever the training job uses (trainer.py:395).
  bool Supports(InitDevice device) const override { return device == InitDevice::kCpu; }
  InitDevice default_init_device() const override { return InitDevice::kCpu; }

  std::optional<OfflineWork> Offline(const core::ModelSpec& model) const override {
    OfflineWork work;
    work.what =
        "seed checkpoint creation (torchtitan, WORLD_SIZE=1, the whole model on one CPU)";
    for (const core::ParamSpec& p : model.params) {
      if (!p.tied_to.empty()) continue;
      const uint64_t numel = static_cast<uint64_t>(p.Numel());
      work.elements_initialized += numel;
      work.host_bytes += numel * core::DTypeSize(p.dtype);
    }
    work.storage_write_bytes = work.host_bytes;
    return work;
  }

  StatusOr<RankInit> InitRank(const InitContext& ctx) const override {
    if (ctx.init_device != InitDevice::kCpu) {
      return Status::InvalidArgument(
          "seed-checkpoint is created on the CPU (torchtitan trainer.py:395-396)");
    }
    const core::ParallelLayout& layout = *ctx.layout;
    const core::ModelSpec& model = layout.model();
    RankShards shards(ctx);
    RankInit init;
    TWINSIM_ASSIGN_OR_RETURN(bool fits, shards.AllocateAll(init));
    if (!fits) return init;
    // Timing-only device (Note [Devices without bytes]): charge the reads, compute no bits.
    const bool compute_bits = ctx.device->Info().holds_bytes;
    std::shared_ptr<const CheckpointFile> file;
    if (compute_bits) {
      file = CheckpointStore::Global().Get(CheckpointKey(model, ctx.seed), [&] {
        return CreateCheckpoint(model, ctx.seed, ctx.gpu);
      });
      // The creation run's draws, reported once (it is one process, not a rank).
      if (ctx.rank == 0) init.draws = DrawsIn(*file, layout);
    }
    std::vector<float> slice;
    for (int i = 0; i < shards.size(); ++i) {
      const core::OwnedShard& o = shards.owned()[i];
      const core::ParamSpec& spec = model.params[o.param];
      const uint64_t item_bytes = static_cast<uint64_t>(spec.Numel()) * core::DTypeSize(spec.dtype);
      // torch.load of the whole stored item into host memory, then narrow and copy_.
      core::HostReservation item;
      TWINSIM_ASSIGN_OR_RETURN(
          fits, ReserveOrRecord(ctx.host, ctx.rank, item_bytes, "checkpoint-read",
                                fmt::format("'{}' read whole from the checkpoint", spec.name),
                                init, &item));
      if (!fits) return init;
      TWINSIM_RETURN_IF_ERROR(ctx.device->StorageRead(item_bytes));
      slice.clear();
      if (compute_bits) {
        const core::Block2D& b = shards.block(i);
        const uint64_t real_rows = static_cast<uint64_t>(spec.shape.empty() ? 1 : spec.shape[0]);
        const std::vector<float>& full = file->values[o.param];
        slice.reserve((b.row_end - b.row_begin) * (b.col_end - b.col_begin));
        for (uint64_t row = b.row_begin; row < b.row_end; ++row) {
          for (uint64_t col = b.col_begin; col < b.col_end; ++col) {
            slice.push_back(row < real_rows ? full[row * b.cols + col] : 0.0f);
          }
        }
      }
      TWINSIM_RETURN_IF_ERROR(shards.Write(i, init, slice, InitDevice::kCpu));
      if (ctx.host != nullptr) TWINSIM_RETURN_IF_ERROR(ctx.host->Release(item));
    }
    return init;
  }
};

}  // namespace

std::unique_ptr<SeedPolicy> NewSeedCheckpointPolicy() {
  return std::make_unique<SeedCheckpointPolicy>();
}

}  // namespace twinsim::policies::seed
