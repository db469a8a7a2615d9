#include "policies/seed/policy.h"

#include "core/text.h"
#include "fmt/format.h"
#include "policies/seed/factories.h"

namespace twinsim::policies::seed {

std::string_view InitDeviceName(InitDevice device) {
  return device == InitDevice::kCpu ? "cpu" : "cuda";
}

StatusOr<InitDevice> ParseInitDevice(std::string_view text) {
  if (text == "cpu") return InitDevice::kCpu;
  if (text == "cuda") return InitDevice::kCuda;
  return Status::InvalidArgument(
      fmt::format("unknown init device {} (expected cpu or cuda)", core::Quote(text)));
}

namespace {
constexpr std::string_view kPropertyNames[] = {"parity", "replica", "distinct", "determinism",
                                               "init-fits", "distribution"};
}  // namespace

std::string_view PropertyName(Property property) {
  return kPropertyNames[static_cast<int>(property)];
}

StatusOr<Property> ParseProperty(std::string_view text) {
  std::vector<std::string_view> names;
  for (Property p : AllProperties()) {
    if (PropertyName(p) == text) return p;
    names.push_back(PropertyName(p));
  }
  return Status::InvalidArgument(fmt::format("unknown property {}{} (known: {})",
                                             core::Quote(text), core::DidYouMean(text, names),
                                             core::Join(names)));
}

const std::vector<Property>& AllProperties() {
  static const std::vector<Property> kAll = {Property::kParity, Property::kReplica,
                                             Property::kDistinct, Property::kDeterminism,
                                             Property::kInitFits,
                                             Property::kDistribution};
  return kAll;
}

std::string_view StreamKindName(StreamKind kind) {
  switch (kind) {
    case StreamKind::kTorchCpu:
      return "CPU mt19937";
    case StreamKind::kTorchCuda:
      return "CUDA Philox";
    case StreamKind::kCounter:
      return "counter";
  }
  return "?";
}

std::string DescribeStream(const StreamId& stream) {
  if (stream.kind == StreamKind::kCounter) {
    return fmt::format("the counter stream key {:#018x} draw {}", stream.seed, stream.draw);
  }
  return fmt::format("the {} stream seeded {}", StreamKindName(stream.kind), stream.seed);
}

SeedPolicy::~SeedPolicy() = default;

Status SeedPolicy::CheckSeed(uint64_t) const { return Status::Ok(); }

Status SeedPolicy::CheckLayout(const core::ParallelLayout&) const { return Status::Ok(); }

StatusOr<core::ParallelLayout> LayoutFor(const SeedPolicy& policy,
                                         const core::ParallelLayout& layout) {
  TWINSIM_RETURN_IF_ERROR(policy.CheckLayout(layout));
  const VocabRule rule = policy.vocab_rule();
  const core::LayoutConfig& config = layout.config();
  if (rule.requires_divisible) {
    for (const core::ParamSpec& p : layout.model().params) {
      if (p.tp_split != core::TpSplit::kVocab || p.shape[0] % config.tp == 0) continue;
      return Status::InvalidArgument(fmt::format(
          "{} cannot build param '{}': its vocabulary of {} rows does not divide by tp = {} "
          "({})",
          policy.name(), p.name, p.shape[0], config.tp, rule.source));
    }
  }
  core::LayoutConfig own = config;
  own.pad_vocab = rule.pads;
  if (rule.pads && rule.divisible_by > 0) own.vocab_divisible_by = rule.divisible_by;
  if (own.pad_vocab == config.pad_vocab && own.vocab_divisible_by == config.vocab_divisible_by) {
    return layout;
  }
  return core::ParallelLayout::Make(own, layout.model());
}

const Claim* SeedPolicy::FindClaim(Property property) const {
  for (const Claim& c : claims()) {
    if (c.property == property) return &c;
  }
  return nullptr;
}

const std::vector<std::string>& PolicyNames() {
  static const std::vector<std::string> kNames = {
      "torch-serial",    "torch-parallel",          "megatron",    "megatron-cpu",
      "megatron+dp-random-init", "colossal-legacy", "colossal-legacy+cpu-init", "colossal",
      "dtensor",
      "dtensor@2.5",     "seed-checkpoint",         "zero-init",   "counter",
      "shard-local"};
  return kNames;
}

namespace {
// "name@release" picks a framework's behaviour at a release: the suffix and its constructor.
struct KnownRelease {
  std::string_view suffix;
  std::unique_ptr<SeedPolicy> (*make)();
};
// dtensor: PyTorch <= 2.5, and the main-branch commit read (the plain name's behaviour).
const std::vector<KnownRelease>& DTensorReleases() {
  static const std::vector<KnownRelease> kReleases = {{"2.5", &NewDTensor25Policy},
                                                      {"0175565d", &NewDTensorPolicy}};
  return kReleases;
}
}  // namespace

StatusOr<std::unique_ptr<SeedPolicy>> MakePolicy(std::string_view name) {
  if (const size_t at = name.find('@'); at != std::string_view::npos) {
    const std::string_view base = name.substr(0, at), release = name.substr(at + 1);
    if (base != "dtensor") {
      return Status::InvalidArgument(fmt::format(
          "seed policy {} has no release versions (only dtensor does: dtensor@2.5)",
          core::Quote(base)));
    }
    std::vector<std::string_view> known;
    for (const KnownRelease& r : DTensorReleases()) {
      if (r.suffix == release) return r.make();
      known.push_back(r.suffix);
    }
    return Status::InvalidArgument(fmt::format(
        "unknown dtensor release {}{} (known: {}; plain dtensor is {})", core::Quote(release),
        core::DidYouMean(release, known), core::Join(known), known.back()));
  }
  if (name == "torch-serial") return NewTorchSerialPolicy();
  if (name == "torch-parallel") return NewTorchParallelPolicy();
  if (name == "megatron") return NewMegatronPolicy();
  if (name == "megatron-cpu") return NewMegatronCpuPolicy();
  if (name == "megatron+dp-random-init") return NewMegatronDpRandomInitPolicy();
  if (name == "colossal-legacy") return NewColossalLegacyPolicy();
  if (name == "colossal-legacy+cpu-init") return NewColossalLegacyCpuInitPolicy();
  if (name == "colossal") return NewColossalPolicy();
  if (name == "dtensor") return NewDTensorPolicy();
  if (name == "seed-checkpoint") return NewSeedCheckpointPolicy();
  if (name == "zero-init") return NewZeroInitPolicy();
  if (name == "counter") return NewCounterPolicy();
  if (name == "shard-local") return NewShardLocalPolicy();
  std::vector<std::string_view> names(PolicyNames().begin(), PolicyNames().end());
  return Status::InvalidArgument(fmt::format("unknown seed policy {}{} (known: {})",
                                             core::Quote(name), core::DidYouMean(name, names),
                                             core::Join(names)));
}

}  // namespace twinsim::policies::seed
