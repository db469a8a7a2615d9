#include "core/param_list.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>
#include <vector>

#include "core/text.h"

namespace twinsim::core {

// Note [Parameter list format]
// ----------------------------
// Top level (an object; unknown keys are errors, so a typo is never silently ignored):
//   "format"      required, "twinsim-params"
//   "version"     required, 1
//   "name"        optional string, informative (tools/dump-params writes the module's class)
//   "num_layers"  optional integer >= 0; default: the largest "layer" + 1 (0 when none)
//   "num_heads"   optional integer >= 0; default 0 (no attention heads known)
//   "source"      optional, anything: provenance a tool records (ignored)
//   "params"      required, a non-empty array of parameters in registration order
// A parameter (an object):
//   "name"      required, unique
//   "shape"     required, an array of positive integers ([] for a scalar)
//   "dtype"     optional, fp32 (default) | bf16 | fp16; torch's float32 / bfloat16 / float16
//               are accepted too
//   "init"      required, an InitSpec string (core/init_spec.h), e.g. "normal:std=0.02";
//               kaiming_* and xavier_* without fan_in / fan_out get them from the shape as
//               torch.nn.init._calculate_fan_in_and_fan_out does (fan_in = shape[1] * r,
//               fan_out = shape[0] * r, r = product of shape[2:]; 2-D or more)
//   "tp"        optional, replicated (default) | column | row | vocab
//   "tp_dim"    optional; default 0 for column and vocab, 1 for row (0 for a 1-D row
//               tensor), -1 for replicated
//   "layer"     optional, the transformer block / repeated layer index; default -1
//   "role"      optional, embedding | layer | final_norm | head; default "layer" when "layer"
//               is given, else "embedding" before the first layered parameter and "head"
//               after it (which pipeline stage holds it: first, or last)
//   "expert"    optional, the MoE expert index; default -1
//   "tied_to"   optional, the name of an earlier, untied parameter this one shares storage
//               with (same shape and dtype); default ""
// Every rule ValidateModelSpec checks applies after the defaults are filled in.

namespace {

using nlohmann::json;

std::string JsonType(const json& v) { return v.type_name(); }

class Reader {
 public:
  Reader(std::string_view source) : source_(source) {}

  Status Fail(const std::string& where, const std::string& what) const {
    return Status::InvalidArgument("model file " + Quote(source_) + ": " +
                                   (where.empty() ? "" : where + ": ") + what);
  }

  StatusOr<int64_t> Integer(const json& v, const std::string& where, std::string_view key,
                            int64_t min) const {
    if (!v.is_number_integer()) {
      return Fail(where, "\"" + std::string(key) + "\" must be an integer, got " + JsonType(v));
    }
    if (v.is_number_unsigned() && v.get<uint64_t>() >
                                      static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return Fail(where, "\"" + std::string(key) + "\" is too large");
    }
    const int64_t x = v.get<int64_t>();
    if (x < min) {
      return Fail(where, "\"" + std::string(key) + "\" must be >= " + std::to_string(min) +
                             ", got " + std::to_string(x));
    }
    return x;
  }

  StatusOr<std::string> String(const json& v, const std::string& where,
                               std::string_view key) const {
    if (!v.is_string()) {
      return Fail(where, "\"" + std::string(key) + "\" must be a string, got " + JsonType(v));
    }
    return v.get<std::string>();
  }

  // Rejects keys outside `known`, naming the first one with a did-you-mean.
  Status KnownKeys(const json& object, const std::vector<std::string_view>& known,
                   const std::string& where) const {
    for (const auto& item : object.items()) {
      const std::string& key = item.key();
      if (std::find(known.begin(), known.end(), key) == known.end()) {
        return Fail(where, "unknown key " + Quote(key) + DidYouMean(key, known) +
                               "; expected one of " + Join(known));
      }
    }
    return Status::Ok();
  }

 private:
  std::string source_;
};

const std::vector<std::string_view> kTopKeys = {"format", "version", "name",  "num_layers",
                                                "num_heads", "source", "params"};
const std::vector<std::string_view> kParamKeys = {"name",  "shape", "dtype",  "init",   "tp",
                                                  "tp_dim", "layer", "role", "expert", "tied_to"};

StatusOr<DType> ParseParamDType(std::string_view text) {
  if (text == "float32" || text == "torch.float32") return DType::kFp32;
  if (text == "bfloat16" || text == "torch.bfloat16") return DType::kBf16;
  if (text == "float16" || text == "torch.float16") return DType::kFp16;
  return ParseDType(text);
}

bool NeedsFans(std::string_view kind) {
  return kind == "kaiming_uniform" || kind == "kaiming_normal" || kind == "xavier_uniform" ||
         kind == "xavier_normal";
}

}  // namespace

StatusOr<ModelSpec> ModelSpecFromParamList(const json& doc, std::string_view source,
                                           std::string name) {
  const Reader r(source);
  if (!doc.is_object()) return r.Fail("", "expected a JSON object, got " + JsonType(doc));
  TWINSIM_RETURN_IF_ERROR(r.KnownKeys(doc, kTopKeys, ""));
  if (!doc.contains("format")) return r.Fail("", "missing \"format\" (\"twinsim-params\")");
  TWINSIM_ASSIGN_OR_RETURN(const std::string format, r.String(doc["format"], "", "format"));
  if (format != kParamListFormat) {
    return r.Fail("", "\"format\" is " + Quote(format) + ", expected \"twinsim-params\"");
  }
  if (!doc.contains("version")) return r.Fail("", "missing \"version\"");
  TWINSIM_ASSIGN_OR_RETURN(const int64_t version, r.Integer(doc["version"], "", "version", 1));
  if (version > kParamListVersion) {
    return r.Fail("", "\"version\" " + std::to_string(version) + " is newer than this twinsim (" +
                          std::to_string(kParamListVersion) + ")");
  }
  if (doc.contains("name")) {
    TWINSIM_RETURN_IF_ERROR(r.String(doc["name"], "", "name").status());
  }
  ModelSpec model;
  model.name = std::move(name);
  int64_t num_heads = 0;
  if (doc.contains("num_heads")) {
    TWINSIM_ASSIGN_OR_RETURN(num_heads, r.Integer(doc["num_heads"], "", "num_heads", 0));
    if (num_heads > std::numeric_limits<int>::max()) return r.Fail("", "\"num_heads\" is too large");
  }
  model.num_heads = static_cast<int>(num_heads);

  if (!doc.contains("params")) return r.Fail("", "missing \"params\"");
  const json& params = doc["params"];
  if (!params.is_array()) {
    return r.Fail("", "\"params\" must be an array, got " + JsonType(params));
  }
  if (params.empty()) return r.Fail("", "\"params\" is empty");

  int64_t max_layer = -1;
  bool seen_layer = false;
  model.params.reserve(params.size());
  for (size_t i = 0; i < params.size(); ++i) {
    const json& p = params[i];
    std::string where = "params[" + std::to_string(i) + "]";
    if (!p.is_object()) return r.Fail(where, "expected an object, got " + JsonType(p));
    if (p.contains("name") && p["name"].is_string()) {
      where += " (" + Quote(p["name"].get<std::string>()) + ")";
    }
    TWINSIM_RETURN_IF_ERROR(r.KnownKeys(p, kParamKeys, where));
    ParamSpec spec;
    if (!p.contains("name")) return r.Fail(where, "missing \"name\"");
    TWINSIM_ASSIGN_OR_RETURN(spec.name, r.String(p["name"], where, "name"));

    if (!p.contains("shape")) return r.Fail(where, "missing \"shape\"");
    const json& shape = p["shape"];
    if (!shape.is_array()) {
      return r.Fail(where, "\"shape\" must be an array of positive integers, got " +
                               JsonType(shape));
    }
    for (const json& d : shape) {
      if (!d.is_number_integer() || d.get<int64_t>() < 1 ||
          (d.is_number_unsigned() &&
           d.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))) {
        return r.Fail(where, "\"shape\" must be an array of positive integers, got " +
                                 Quote(shape.dump()));
      }
      spec.shape.push_back(d.get<int64_t>());
    }

    if (p.contains("dtype")) {
      TWINSIM_ASSIGN_OR_RETURN(const std::string dtype, r.String(p["dtype"], where, "dtype"));
      StatusOr<DType> parsed = ParseParamDType(dtype);
      if (!parsed.ok()) return r.Fail(where, "\"dtype\": " + parsed.status().message());
      spec.dtype = *parsed;
    }

    if (!p.contains("init")) return r.Fail(where, "missing \"init\"");
    TWINSIM_ASSIGN_OR_RETURN(std::string init_text, r.String(p["init"], where, "init"));
    // kaiming_* and xavier_* without fans get them from the shape, as torch computes them;
    // they are added to the text so that ParseInitSpec validates the whole rule.
    const std::string_view kind = std::string_view(init_text).substr(0, init_text.find(':'));
    if (NeedsFans(kind) && (init_text.find("fan_in=") == std::string::npos ||
                            init_text.find("fan_out=") == std::string::npos)) {
      if (spec.shape.size() < 2) {
        return r.Fail(where, "\"init\" " + Quote(init_text) +
                                 " needs fan_in and fan_out, which a tensor of fewer than 2 "
                                 "dimensions does not have (as in torch); give them");
      }
      int64_t receptive = 1;
      for (size_t d = 2; d < spec.shape.size(); ++d) {
        if (__builtin_mul_overflow(receptive, spec.shape[d], &receptive)) {
          return r.Fail(where, "\"shape\" is too large");
        }
      }
      int64_t fan_in = 0, fan_out = 0;
      if (__builtin_mul_overflow(spec.shape[1], receptive, &fan_in) ||
          __builtin_mul_overflow(spec.shape[0], receptive, &fan_out)) {
        return r.Fail(where, "\"shape\" is too large");
      }
      std::string fans;
      if (init_text.find("fan_in=") == std::string::npos) fans += "fan_in=" + std::to_string(fan_in);
      if (init_text.find("fan_out=") == std::string::npos) {
        fans += (fans.empty() ? "" : ",") + std::string("fan_out=") + std::to_string(fan_out);
      }
      init_text += (init_text.find(':') == std::string::npos ? ":" : ",") + fans;
    }
    StatusOr<InitSpec> init = ParseInitSpec(init_text);
    if (!init.ok()) return r.Fail(where, "\"init\": " + init.status().message());
    spec.init = *init;

    if (p.contains("tp")) {
      TWINSIM_ASSIGN_OR_RETURN(const std::string tp, r.String(p["tp"], where, "tp"));
      if (tp == "replicated") {
        spec.tp_split = TpSplit::kReplicated;
      } else if (tp == "column") {
        spec.tp_split = TpSplit::kColumn;
      } else if (tp == "row") {
        spec.tp_split = TpSplit::kRow;
      } else if (tp == "vocab") {
        spec.tp_split = TpSplit::kVocab;
      } else {
        return r.Fail(where, "\"tp\" is " + Quote(tp) +
                                 "; expected replicated, column, row or vocab");
      }
    }
    switch (spec.tp_split) {
      case TpSplit::kReplicated:
        spec.tp_dim = -1;
        break;
      case TpSplit::kColumn:
      case TpSplit::kVocab:
        spec.tp_dim = 0;
        break;
      case TpSplit::kRow:
        spec.tp_dim = spec.shape.size() >= 2 ? 1 : 0;
        break;
    }
    if (p.contains("tp_dim")) {
      TWINSIM_ASSIGN_OR_RETURN(const int64_t dim, r.Integer(p["tp_dim"], where, "tp_dim", -1));
      if (dim > 64) return r.Fail(where, "\"tp_dim\" " + std::to_string(dim) + " is too large");
      spec.tp_dim = static_cast<int>(dim);
    }

    int64_t layer = -1;
    if (p.contains("layer")) {
      TWINSIM_ASSIGN_OR_RETURN(layer, r.Integer(p["layer"], where, "layer", -1));
      if (layer >= std::numeric_limits<int>::max()) {
        return r.Fail(where, "\"layer\" is too large");
      }
    }
    spec.layer = static_cast<int>(layer);
    if (p.contains("role")) {
      TWINSIM_ASSIGN_OR_RETURN(const std::string role, r.String(p["role"], where, "role"));
      if (role == "embedding") {
        spec.role = ParamRole::kEmbedding;
      } else if (role == "layer") {
        spec.role = ParamRole::kLayer;
      } else if (role == "final_norm") {
        spec.role = ParamRole::kFinalNorm;
      } else if (role == "head") {
        spec.role = ParamRole::kHead;
      } else {
        return r.Fail(where, "\"role\" is " + Quote(role) +
                                 "; expected embedding, layer, final_norm or head");
      }
    } else if (layer >= 0) {
      spec.role = ParamRole::kLayer;
    } else {
      spec.role = seen_layer ? ParamRole::kHead : ParamRole::kEmbedding;
    }
    if (spec.role == ParamRole::kLayer && layer < 0) {
      return r.Fail(where, "\"role\" is \"layer\" but no \"layer\" index is given");
    }
    if (layer >= 0) {
      seen_layer = true;
      max_layer = std::max(max_layer, layer);
    }

    if (p.contains("expert")) {
      TWINSIM_ASSIGN_OR_RETURN(const int64_t expert, r.Integer(p["expert"], where, "expert", -1));
      if (expert >= std::numeric_limits<int>::max()) {
        return r.Fail(where, "\"expert\" is too large");
      }
      spec.expert = static_cast<int>(expert);
    }
    if (p.contains("tied_to")) {
      TWINSIM_ASSIGN_OR_RETURN(spec.tied_to, r.String(p["tied_to"], where, "tied_to"));
    }
    model.params.push_back(std::move(spec));
  }

  int64_t num_layers = max_layer + 1;
  if (doc.contains("num_layers")) {
    TWINSIM_ASSIGN_OR_RETURN(num_layers, r.Integer(doc["num_layers"], "", "num_layers", 0));
    if (num_layers > std::numeric_limits<int>::max()) {
      return r.Fail("", "\"num_layers\" is too large");
    }
  }
  model.num_layers = static_cast<int>(num_layers);

  if (Status valid = ValidateModelSpec(model); !valid.ok()) {
    return Status::InvalidArgument("model file " + Quote(source) + ": " + valid.message());
  }
  return model;
}

json ParamListFromModelSpec(const ModelSpec& model) {
  json doc = {{"format", std::string(kParamListFormat)},
              {"version", kParamListVersion},
              {"name", model.name},
              {"num_layers", model.num_layers},
              {"num_heads", model.num_heads}};
  json params = json::array();
  for (const ParamSpec& p : model.params) {
    json j = {{"name", p.name},
              {"shape", p.shape},
              {"dtype", std::string(DTypeName(p.dtype))},
              {"init", FormatInitSpec(p.init)},
              {"tp", std::string(TpSplitName(p.tp_split))},
              {"tp_dim", p.tp_dim},
              {"layer", p.layer},
              {"role", std::string(ParamRoleName(p.role))},
              {"expert", p.expert}};
    if (!p.tied_to.empty()) j["tied_to"] = p.tied_to;
    params.push_back(std::move(j));
  }
  doc["params"] = std::move(params);
  return doc;
}

}  // namespace twinsim::core
