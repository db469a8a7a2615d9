#include "harness/chunks.h"

#include <fmt/format.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/json.h"
#include "core/parallel_layout.h"
#include "core/text.h"
#include "harness/internal/checks.h"

namespace twinsim::harness {
namespace {

using internal::ForOptionOf;

using Json = nlohmann::ordered_json;

// The option a search error is most likely about (as tools/cli/chunk_search_args.h blames it).
std::string_view SearchOption(const placement::ChunkSearchOptions& search) {
  return search.fixed_chunk_size > 0 ? "--chunk-size" : "--search-range-m/--search-interval";
}

// mean + 3 std to one decimal, as printed; none when infinite (not filtering).
std::optional<double> OutlierLimit(double limit) {
  if (!std::isfinite(limit)) return std::nullopt;
  const std::string text = fmt::format("{:.1f}", limit);
  return std::strtod(text.c_str(), nullptr);
}

ChunkKindBytes KindBytes(const placement::ChunkManager& m, int chunk, bool shard) {
  ChunkKindBytes bytes;
  for (placement::ChunkKind kind : m.Kinds()) {
    bytes.emplace_back(kind, shard ? m.ShardBytes(chunk, kind) : m.ChunkBytes(chunk, kind));
  }
  return bytes;
}

placement::ChunkKind ParseKind(const std::string& name) {
  for (placement::ChunkKind kind : placement::kAllChunkKinds) {
    if (placement::ChunkKindName(kind) == name) return kind;
  }
  throw Json::other_error::create(501, "unknown chunk kind '" + name + "'", nullptr);
}

Json KindBytesJson(const ChunkKindBytes& bytes) {
  Json j = Json::object();
  for (const auto& [kind, n] : bytes) j[std::string(placement::ChunkKindName(kind))] = n;
  return j;
}

ChunkKindBytes KindBytesFrom(const Json& j) {
  ChunkKindBytes bytes;
  for (const auto& [name, n] : j.items()) {
    if (name == "total") continue;
    bytes.emplace_back(ParseKind(name), n.get<uint64_t>());
  }
  return bytes;
}

Json TensorJson(const ChunksTensorReport& t) {
  Json j{{"name", t.name}, {"numel", t.numel}};
  if (t.offset) j["offset"] = *t.offset;
  return j;
}

ChunksTensorReport TensorFrom(const Json& j) {
  ChunksTensorReport t;
  j.at("name").get_to(t.name);
  j.at("numel").get_to(t.numel);
  if (j.contains("offset")) t.offset = j.at("offset").get<int64_t>();
  return t;
}

}  // namespace

StatusOr<ChunksReport> RunChunks(const ChunksRequest& request) {
  TWINSIM_ASSIGN_OR_RETURN(core::ParallelLayout layout,
                           MakeLayout(request.layout, kChunksMaxWorld));
  const uint64_t world = static_cast<uint64_t>(layout.world_size());
  if (request.rank >= world) {
    return Status::InvalidArgument(fmt::format(
        "--rank: expected a rank below the world size {}, got '{}'", world, request.rank));
  }
  const int rank = static_cast<int>(request.rank);
  // Gemini's chunks are sharded over the layout's shard group (Note [Sharded data
  // parallelism] in core/parallel_layout.h); replicas hold the same shards.
  placement::ChunkSearchOptions search = request.search;
  search.dp_shards = layout.shard_group_size();
  if (search.method == placement::ChunkSearchMethod::kPackedPadding && search.min_chunk_size < 1) {
    return Status::InvalidArgument(fmt::format(
        "--min-chunk-size-m: the packed search starts there and needs at least one element "
        "(1/1048576), got '{}'",
        static_cast<double>(search.min_chunk_size) / (1 << 20)));
  }
  if (search.fixed_chunk_size > 0 && search.fixed_chunk_size % search.dp_shards != 0) {
    return Status::InvalidArgument(
        fmt::format("--chunk-size: {} is not a multiple of the {} DP shards",
                    search.fixed_chunk_size, search.dp_shards));
  }
  search = placement::WithModelDefaults(search, layout.model());
  std::vector<placement::TensorSpec> tensors = placement::RankTensors(layout, rank);
  StatusOr<placement::ChunkSearchResult> found = placement::SearchChunkSize(tensors, search);
  // The tensors come from a valid layout, so what can fail is the candidate range.
  if (!found.ok()) return ForOptionOf(SearchOption(search), found.status());
  const placement::ChunkSearchResult& s = *found;
  TWINSIM_ASSIGN_OR_RETURN(
      placement::ChunkManager m,
      placement::ChunkManager::Make(tensors, s.ChunkOptionsFor(request.grad_accumulation)));

  ChunksReport r;
  const core::LayoutConfig& c = layout.config();
  const core::ParallelCoords coords = layout.RankCoords(rank);
  r.model = layout.model().name;
  r.tp = c.tp;
  r.pp = c.pp;
  r.dp = c.dp;
  r.cp = c.cp;
  r.dp_shard = c.dp_shard;
  r.dp_replicate = c.dp / c.dp_shard;
  r.mesh = std::string(core::MeshName(c.mesh));
  r.shard_group_size = layout.shard_group_size();
  r.rank = rank;
  r.coords = {coords.dp, coords.pp, coords.tp, coords.cp, coords.dp_shard, coords.dp_replicate};
  r.num_tensors = tensors.size();
  r.total_elements = s.total_elements;
  r.search = {std::string(placement::ChunkSearchMethodName(s.method)),
              search.min_chunk_size,
              search.search_range,
              s.search_interval,
              search.filter_exlarge_params,
              s.first_candidate,
              s.num_candidates,
              s.max_candidate,
              OutlierLimit(s.outlier_limit)};
  r.chunk_size = s.chunk_size;
  r.keep_gathered = s.keep_gathered;
  r.search_waste = s.search_waste;
  r.padding = s.padding;
  r.dp_shards = s.dp_shards;
  r.grad_accumulation = request.grad_accumulation;
  r.bytes_per_element = m.BytesPerElement();
  for (int o : s.outliers) r.outliers.push_back({tensors[o].name, tensors[o].numel, std::nullopt});
  for (placement::ChunkKind kind : m.Kinds()) r.rank_bytes.emplace_back(kind, m.RankBytes(kind));
  r.rank_bytes_total = m.RankBytes();
  for (int ci = 0; ci < static_cast<int>(m.chunks().size()); ++ci) {
    const placement::Chunk& chunk = m.chunks()[ci];
    ChunkReport cr;
    cr.index = ci;
    cr.capacity = chunk.capacity;
    cr.elements = chunk.used;
    cr.padding = chunk.padding();
    cr.oversize = chunk.oversize;
    cr.gather_bytes = s.dp_shards > 1 ? m.GatherBytes(ci) : 0;
    for (int t = chunk.first_tensor; t < chunk.first_tensor + chunk.num_tensors; ++t) {
      cr.tensors.push_back({tensors[t].name, tensors[t].numel, m.OffsetOf(t)});
    }
    cr.bytes = KindBytes(m, ci, /*shard=*/false);
    cr.shard_bytes = KindBytes(m, ci, /*shard=*/true);
    r.chunks.push_back(std::move(cr));
  }
  return r;
}

Status ChunksRequest::Validate() const { return RunChunks(*this).status(); }

// ---------------------------------------------------------------------------------------------
// JSON.

void to_json(Json& j, const ChunksReport& r) {
  const ChunksSearchReport& s = r.search;
  Json outliers = Json::array();
  for (const ChunksTensorReport& t : r.outliers) outliers.push_back(TensorJson(t));
  Json rank_bytes = KindBytesJson(r.rank_bytes);
  rank_bytes["total"] = r.rank_bytes_total;
  Json chunks = Json::array();
  for (const ChunkReport& c : r.chunks) {
    Json tensors = Json::array();
    for (const ChunksTensorReport& t : c.tensors) tensors.push_back(TensorJson(t));
    chunks.push_back(Json{{"index", c.index},
                          {"capacity", c.capacity},
                          {"elements", c.elements},
                          {"padding", c.padding},
                          {"oversize", c.oversize},
                          {"gather_bytes", c.gather_bytes},
                          {"tensors", std::move(tensors)},
                          {"bytes", KindBytesJson(c.bytes)},
                          {"shard_bytes", KindBytesJson(c.shard_bytes)}});
  }
  j = Json{
      {"model", r.model},
      {"tp", r.tp},
      {"pp", r.pp},
      {"dp", r.dp},
      {"cp", r.cp},
      {"dp_shard", r.dp_shard},
      {"dp_replicate", r.dp_replicate},
      {"mesh", r.mesh},
      {"shard_group_size", r.shard_group_size},
      {"rank", r.rank},
      {"coords", Json{{"dp", r.coords.dp},
                      {"pp", r.coords.pp},
                      {"tp", r.coords.tp},
                      {"cp", r.coords.cp},
                      {"dp_shard", r.coords.dp_shard},
                      {"dp_replicate", r.coords.dp_replicate}}},
      {"num_tensors", r.num_tensors},
      {"total_elements", r.total_elements},
      {"search", Json{{"method", s.method},
                      {"min_chunk_size", s.min_chunk_size},
                      {"search_range", s.search_range},
                      {"search_interval", s.search_interval},
                      {"filter_exlarge_params", s.filter_exlarge_params},
                      {"first_candidate", s.first_candidate},
                      {"num_candidates", s.num_candidates},
                      {"max_candidate", s.max_candidate},
                      {"outlier_limit", s.outlier_limit ? Json(*s.outlier_limit) : Json(nullptr)}}},
      {"chunk_size", r.chunk_size},
      {"keep_gathered", r.keep_gathered},
      {"search_waste", r.search_waste},
      {"padding", r.padding},
      {"dp_shards", r.dp_shards},
      {"grad_accumulation", r.grad_accumulation},
      {"bytes_per_element", r.bytes_per_element},
      {"outliers", std::move(outliers)},
      {"rank_bytes", std::move(rank_bytes)},
      {"chunks", std::move(chunks)}};
}

void from_json(const Json& j, ChunksReport& r) {
  j.at("model").get_to(r.model);
  j.at("tp").get_to(r.tp);
  j.at("pp").get_to(r.pp);
  j.at("dp").get_to(r.dp);
  j.at("cp").get_to(r.cp);
  j.at("dp_shard").get_to(r.dp_shard);
  j.at("dp_replicate").get_to(r.dp_replicate);
  j.at("mesh").get_to(r.mesh);
  j.at("shard_group_size").get_to(r.shard_group_size);
  j.at("rank").get_to(r.rank);
  const Json& c = j.at("coords");
  c.at("dp").get_to(r.coords.dp);
  c.at("pp").get_to(r.coords.pp);
  c.at("tp").get_to(r.coords.tp);
  c.at("cp").get_to(r.coords.cp);
  c.at("dp_shard").get_to(r.coords.dp_shard);
  c.at("dp_replicate").get_to(r.coords.dp_replicate);
  j.at("num_tensors").get_to(r.num_tensors);
  j.at("total_elements").get_to(r.total_elements);
  const Json& s = j.at("search");
  s.at("method").get_to(r.search.method);
  s.at("min_chunk_size").get_to(r.search.min_chunk_size);
  s.at("search_range").get_to(r.search.search_range);
  s.at("search_interval").get_to(r.search.search_interval);
  s.at("filter_exlarge_params").get_to(r.search.filter_exlarge_params);
  s.at("first_candidate").get_to(r.search.first_candidate);
  s.at("num_candidates").get_to(r.search.num_candidates);
  s.at("max_candidate").get_to(r.search.max_candidate);
  r.search.outlier_limit.reset();
  if (!s.at("outlier_limit").is_null())
    r.search.outlier_limit = s.at("outlier_limit").get<double>();
  j.at("chunk_size").get_to(r.chunk_size);
  j.at("keep_gathered").get_to(r.keep_gathered);
  j.at("search_waste").get_to(r.search_waste);
  j.at("padding").get_to(r.padding);
  j.at("dp_shards").get_to(r.dp_shards);
  j.at("grad_accumulation").get_to(r.grad_accumulation);
  j.at("bytes_per_element").get_to(r.bytes_per_element);
  r.outliers.clear();
  for (const Json& t : j.at("outliers")) r.outliers.push_back(TensorFrom(t));
  r.rank_bytes = KindBytesFrom(j.at("rank_bytes"));
  j.at("rank_bytes").at("total").get_to(r.rank_bytes_total);
  r.chunks.clear();
  for (const Json& cj : j.at("chunks")) {
    ChunkReport cr;
    cj.at("index").get_to(cr.index);
    cj.at("capacity").get_to(cr.capacity);
    cj.at("elements").get_to(cr.elements);
    cj.at("padding").get_to(cr.padding);
    cj.at("oversize").get_to(cr.oversize);
    cj.at("gather_bytes").get_to(cr.gather_bytes);
    for (const Json& t : cj.at("tensors")) cr.tensors.push_back(TensorFrom(t));
    cr.bytes = KindBytesFrom(cj.at("bytes"));
    cr.shard_bytes = KindBytesFrom(cj.at("shard_bytes"));
    r.chunks.push_back(std::move(cr));
  }
}

std::string ChunksJsonLine(const ChunksReport& r) {
  using core::JsonString;
  const ChunksSearchReport& s = r.search;
  std::string out = fmt::format(
      "{{\"model\":{},\"tp\":{},\"pp\":{},\"dp\":{},\"cp\":{},\"dp_shard\":{},"
      "\"dp_replicate\":{},\"mesh\":{},\"shard_group_size\":{},\"rank\":{},"
      "\"coords\":{{\"dp\":{},\"pp\":{},\"tp\":{},\"cp\":{},\"dp_shard\":{},"
      "\"dp_replicate\":{}}},\"num_tensors\":{},\"total_elements\":{},",
      JsonString(r.model), r.tp, r.pp, r.dp, r.cp, r.dp_shard, r.dp_replicate, JsonString(r.mesh),
      r.shard_group_size, r.rank, r.coords.dp, r.coords.pp, r.coords.tp, r.coords.cp,
      r.coords.dp_shard, r.coords.dp_replicate, r.num_tensors, r.total_elements);
  out += fmt::format(
      "\"search\":{{\"method\":{},\"min_chunk_size\":{},\"search_range\":{},"
      "\"search_interval\":{},\"filter_exlarge_params\":{},\"first_candidate\":{},"
      "\"num_candidates\":{},\"max_candidate\":{},\"outlier_limit\":{}}},\"chunk_size\":{},"
      "\"keep_gathered\":{},\"search_waste\":{},\"padding\":{},\"dp_shards\":{},"
      "\"grad_accumulation\":{},\"bytes_per_element\":{},\"outliers\":[",
      JsonString(s.method), s.min_chunk_size, s.search_range, s.search_interval,
      s.filter_exlarge_params, s.first_candidate, s.num_candidates, s.max_candidate,
      s.outlier_limit ? fmt::format("{:.1f}", *s.outlier_limit) : std::string("null"), r.chunk_size,
      r.keep_gathered, r.search_waste, r.padding, r.dp_shards, r.grad_accumulation,
      r.bytes_per_element);
  auto tensor = [&out](const ChunksTensorReport& t, bool first) {
    out +=
        fmt::format("{}{{\"name\":{},\"numel\":{}", first ? "" : ",", JsonString(t.name), t.numel);
    if (t.offset) out += fmt::format(",\"offset\":{}", *t.offset);
    out += '}';
  };
  auto kinds = [&out](const ChunkKindBytes& bytes) {
    for (size_t k = 0; k < bytes.size(); ++k) {
      out += fmt::format("{}\"{}\":{}", k ? "," : "", placement::ChunkKindName(bytes[k].first),
                         bytes[k].second);
    }
  };
  for (size_t i = 0; i < r.outliers.size(); ++i) tensor(r.outliers[i], i == 0);
  out += "],\"rank_bytes\":{";
  kinds(r.rank_bytes);
  out += fmt::format("{}\"total\":{}}},\"chunks\":[", r.rank_bytes.empty() ? "" : ",",
                     r.rank_bytes_total);
  for (size_t ci = 0; ci < r.chunks.size(); ++ci) {
    const ChunkReport& c = r.chunks[ci];
    out += fmt::format(
        "{}{{\"index\":{},\"capacity\":{},\"elements\":{},\"padding\":{},\"oversize\":{},"
        "\"gather_bytes\":{},\"tensors\":[",
        ci ? "," : "", c.index, c.capacity, c.elements, c.padding, c.oversize, c.gather_bytes);
    for (size_t t = 0; t < c.tensors.size(); ++t) tensor(c.tensors[t], t == 0);
    out += "],\"bytes\":{";
    kinds(c.bytes);
    out += "},\"shard_bytes\":{";
    kinds(c.shard_bytes);
    out += "}}";
  }
  out += "]}";
  return out;
}

}  // namespace twinsim::harness
