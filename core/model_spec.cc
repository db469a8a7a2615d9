#include "core/model_spec.h"

#include <limits>
#include <string>
#include <unordered_map>

namespace twinsim::core {
namespace {

constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();

// Product of `shape`, or -1 when it overflows int64_t or a dimension is < 1.
int64_t CheckedNumel(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 1 || n > kInt64Max / d) return -1;
    n *= d;
  }
  return n;
}

}  // namespace

int64_t ParamSpec::Numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

int64_t ModelSpec::NumParams() const {
  int64_t total = 0;
  for (const ParamSpec& p : params) {
    if (p.tied_to.empty()) total += p.Numel();
  }
  return total;
}

int ModelSpec::Find(std::string_view name) const {
  for (size_t i = 0; i < params.size(); ++i) {
    if (params[i].name == name) return static_cast<int>(i);
  }
  return -1;
}


std::string_view TpSplitName(TpSplit split) {
  switch (split) {
    case TpSplit::kReplicated:
      return "replicated";
    case TpSplit::kColumn:
      return "column";
    case TpSplit::kRow:
      return "row";
    case TpSplit::kVocab:
      return "vocab";
  }
  return "?";
}

std::string_view ParamRoleName(ParamRole role) {
  switch (role) {
    case ParamRole::kEmbedding:
      return "embedding";
    case ParamRole::kLayer:
      return "layer";
    case ParamRole::kFinalNorm:
      return "final_norm";
    case ParamRole::kHead:
      return "head";
  }
  return "?";
}


std::string FormatShape(const std::vector<int64_t>& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) out += ", ";
    out += std::to_string(shape[i]);
  }
  return out + "]";
}

Status ValidateModelSpec(const ModelSpec& model) {
  const std::string where = "model '" + model.name + "'";
  if (model.num_layers < 0) {
    return Status::InvalidArgument(where + ": num_layers must be >= 0, got " +
                                   std::to_string(model.num_layers));
  }
  if (model.params.empty()) return Status::InvalidArgument(where + ": has no parameters");

  std::unordered_map<std::string_view, size_t> index;
  index.reserve(model.params.size());
  int64_t total = 0;
  for (size_t i = 0; i < model.params.size(); ++i) {
    const ParamSpec& p = model.params[i];
    if (p.name.empty()) {
      return Status::InvalidArgument(where + ": param #" + std::to_string(i) + " has no name");
    }
    // Built only on failure: validation runs on every generated model.
    auto at = [&] { return where + ": param '" + p.name + "'"; };
    if (auto [it, inserted] = index.emplace(p.name, i); !inserted) {
      return Status::InvalidArgument(at() + ": name used twice (params #" +
                                     std::to_string(it->second) + " and #" + std::to_string(i) +
                                     ")");
    }
    const int64_t numel = CheckedNumel(p.shape);
    if (numel < 0) {
      return Status::InvalidArgument(at() + ": shape " + FormatShape(p.shape) +
                                     " needs every dimension >= 1 and at most 2^63-1 elements");
    }
    const int rank = static_cast<int>(p.shape.size());
    if (p.tp_split == TpSplit::kReplicated) {
      if (p.tp_dim != -1) {
        return Status::InvalidArgument(at() + ": replicated but tp_dim is " +
                                       std::to_string(p.tp_dim) + " (expected -1)");
      }
    } else if (p.tp_dim < 0 || p.tp_dim >= rank) {
      return Status::InvalidArgument(at() + ": tp_dim " + std::to_string(p.tp_dim) +
                                     " is outside shape " + FormatShape(p.shape) + " (" +
                                     std::string(TpSplitName(p.tp_split)) + " split)");
    }
    if (p.role == ParamRole::kLayer) {
      if (p.layer < 0 || p.layer >= model.num_layers) {
        return Status::InvalidArgument(at() + ": layer " + std::to_string(p.layer) +
                                       " is outside [0, " + std::to_string(model.num_layers) + ")");
      }
    } else if (p.layer != -1) {
      return Status::InvalidArgument(at() + ": role " + std::string(ParamRoleName(p.role)) +
                                     " but layer is " + std::to_string(p.layer) + " (expected -1)");
    }
    if (p.expert < -1) {
      return Status::InvalidArgument(at() + ": expert must be >= -1, got " +
                                     std::to_string(p.expert));
    }
    if (Status s = ValidateInitSpec(p.init); !s.ok()) {
      return Status::InvalidArgument(at() + ": init " + s.message());
    }
    if (p.tied_to.empty()) {
      if (numel > kInt64Max - total) {
        return Status::InvalidArgument(where + ": more than 2^63-1 elements in all");
      }
      total += numel;
    }
  }

  // Ties are checked once every name is known: a head may tie to a later parameter.
  for (const ParamSpec& p : model.params) {
    if (p.tied_to.empty()) continue;
    auto at = [&] { return where + ": param '" + p.name + "'"; };
    auto it = index.find(p.tied_to);
    if (it == index.end()) {
      return Status::InvalidArgument(at() + ": tied_to '" + p.tied_to + "' is not a parameter");
    }
    const ParamSpec& target = model.params[it->second];
    if (&target == &p) return Status::InvalidArgument(at() + ": tied to itself");
    if (!target.tied_to.empty()) {
      return Status::InvalidArgument(at() + ": tied to '" + target.name +
                                     "', which is itself tied to '" + target.tied_to +
                                     "' (tie to the owner directly)");
    }
    if (target.shape != p.shape || target.dtype != p.dtype) {
      return Status::InvalidArgument(at() + ": shape " + FormatShape(p.shape) + " " +
                                     std::string(DTypeName(p.dtype)) + " differs from tied '" +
                                     target.name + "' " + FormatShape(target.shape) + " " +
                                     std::string(DTypeName(target.dtype)));
    }
  }
  return Status::Ok();
}

}  // namespace twinsim::core
