// _twinsim: the C++ half of the `twinsim` Python module (python/twinsim/__init__.py holds the
// Python half: keyword handling and model_from_module). Thin bindings over harness/: a model
// spec, RunInit's report and RunPlace's report. Bad requests raise ValueError with the command
// line's one-line message; the GIL is released while policies run (ranks are threads).
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/model_spec.h"
#include "core/param_list.h"
#include "core/status.h"
#include "harness/fit.h"
#include "harness/init.h"
#include "harness/layout.h"
#include "harness/place.h"
#include "policies/seed/policy.h"

namespace py = pybind11;

namespace twinsim::python {
namespace {

// A non-OK status as the exception Python callers expect: ValueError for a bad request,
// RuntimeError for anything else.
[[noreturn]] void Raise(const Status& status) {
  const std::string message(status.message());
  if (status.code() == StatusCode::kInvalidArgument ||
      status.code() == StatusCode::kResourceExhausted) {
    throw py::value_error(message);
  }
  throw std::runtime_error(message);
}

template <typename T>
T ValueOrRaise(StatusOr<T> value) {
  if (!value.ok()) Raise(value.status());
  return std::move(value).value();
}

py::object JsonToPython(const nlohmann::ordered_json& j) {
  return py::module_::import("json").attr("loads")(j.dump());
}

// The layout keywords of check_init / place, already typed by the Python half.
harness::LayoutRequest LayoutOf(const py::object& model, const py::dict& layout) {
  harness::LayoutRequest request;
  if (py::isinstance<core::ModelSpec>(model)) {
    request.model_spec = model.cast<core::ModelSpec>();
  } else {
    request.model = model.cast<std::string>();
  }
  for (auto [key, field] :
       {std::pair{"tp", &request.tp}, std::pair{"pp", &request.pp}, std::pair{"dp", &request.dp},
        std::pair{"vpp", &request.vpp}, std::pair{"ep", &request.ep},
        std::pair{"etp", &request.etp}, std::pair{"cp", &request.cp},
        std::pair{"dp_shard", &request.dp_shard},
        std::pair{"dp_replicate", &request.dp_replicate},
        std::pair{"vocab_divisible_by", &request.vocab_divisible_by}}) {
    if (layout.contains(key) && !layout[key].is_none()) *field = layout[key].cast<int64_t>();
  }
  if (layout.contains("dp_shard_whole")) {
    request.dp_shard_whole = layout["dp_shard_whole"].cast<bool>();
  }
  if (layout.contains("mesh")) request.mesh = layout["mesh"].cast<std::string>();
  if (layout.contains("partition")) request.partition = layout["partition"].cast<std::string>();
  return request;
}

// What check_init returns: the report, and the properties asked for.
struct InitResult {
  harness::InitReport report;
  std::vector<std::string> checked;  // property names, in the order asked

  bool Holds(const std::string& property) const {
    StatusOr<policies::seed::Property> parsed = policies::seed::ParseProperty(property);
    if (!parsed.ok()) throw py::value_error(std::string(parsed.status().message()));
    for (const harness::InitPolicyReport& r : report.policies) {
      const harness::InitPropertyReport* row = r.Find(property);
      if (row == nullptr) {
        throw py::value_error("property '" + property + "' was not checked (checks: " +
                              Joined(checked) + ")");
      }
      if (row->verdict != "holds") return false;
    }
    return true;
  }

  py::object ToDict() const {
    if (report.policies.size() == 1) return JsonToPython(report.policies[0]);
    return JsonToPython(report);
  }

  std::string Repr() const {
    std::string text = "<twinsim.InitResult";
    if (!report.policies.empty()) {
      const harness::InitLayoutReport& l = report.policies[0].layout;
      text += " " + l.model + " tp=" + std::to_string(l.tp) + " pp=" + std::to_string(l.pp) +
              " dp=" + std::to_string(l.dp) + " world=" + std::to_string(l.world);
    }
    for (const harness::InitPolicyReport& r : report.policies) {
      text += "\n  " + r.policy + ":";
      for (const harness::InitPropertyReport& row : r.properties) {
        text += " " + row.property + "=" + row.verdict + (row.claimed ? "*" : "");
      }
    }
    const std::vector<std::string> broken = report.BrokenClaims();
    text += "\n  (* claimed) " + std::to_string(broken.size()) + " broken claim" +
            (broken.size() == 1 ? "" : "s") + ">";
    return text;
  }

  static std::string Joined(const std::vector<std::string>& items) {
    std::string text;
    for (const std::string& s : items) text += (text.empty() ? "" : ", ") + s;
    return text;
  }
};

InitResult CheckInit(const py::object& model, const py::dict& layout,
                     const std::vector<std::string>& policies, uint64_t seed,
                     const std::vector<std::string>& checks,
                     const std::optional<std::string>& init_device, const std::string& gpu,
                     std::optional<uint64_t> device_memory, std::optional<uint64_t> host_memory,
                     const std::string& backend, const std::string& cluster, bool timing_only,
                     const std::string& trace, std::optional<uint64_t> max_memory,
                     const std::string& dump) {
  harness::InitRequest request;
  request.layout = LayoutOf(model, layout);
  request.policies = policies;
  request.seed = seed;
  request.checks = checks;
  if (init_device) {
    StatusOr<policies::seed::InitDevice> device = policies::seed::ParseInitDevice(*init_device);
    if (!device.ok()) {
      throw py::value_error("--init-device: " + std::string(device.status().message()));
    }
    request.init_device = *device;
  }
  request.gpu = gpu;
  request.device_memory = device_memory;
  request.host_memory = host_memory;
  if (backend == "host") {
    request.backend = harness::InitBackend::kHost;
  } else if (backend == "sim") {
    request.backend = harness::InitBackend::kSim;
  } else {
    throw py::value_error("--backend: expected host or sim, got '" + backend + "'");
  }
  request.cluster = cluster;
  request.timing_only = timing_only;
  request.trace_path = trace;
  request.max_memory = max_memory;
  request.dump_dir = dump;
  StatusOr<harness::PreparedInit> prepared = harness::PrepareInit(request);
  if (!prepared.ok()) Raise(prepared.status());
  InitResult result;
  for (policies::seed::Property p : prepared->properties) {
    result.checked.emplace_back(policies::seed::PropertyName(p));
  }
  StatusOr<harness::InitReport> report = [&] {
    py::gil_scoped_release release;
    return harness::RunInit(*prepared);
  }();
  result.report = ValueOrRaise(std::move(report));
  return result;
}

py::object Place(const py::object& model, const py::dict& layout, const std::string& cluster,
                 const std::vector<std::string>& policies, std::optional<int64_t> batch,
                 std::optional<int64_t> seq, std::optional<uint64_t> gpu_memory,
                 std::optional<uint64_t> host_memory, const std::string& backend, uint64_t rank) {
  harness::PlaceRequest request;
  request.cluster = cluster;
  request.layout =
      ValueOrRaise(harness::MakeLayout(LayoutOf(model, layout), harness::kPlaceMaxWorld));
  request.policies = policies;
  if (batch) request.step.micro_batch_size = *batch;
  if (seq) request.step.seq_len = *seq;
  request.gpu_memory = gpu_memory;
  request.host_memory = host_memory;
  request.rank = rank;
  if (backend == "sim") {
    request.backend = harness::PlaceBackend::kSim;
  } else if (backend == "host") {
    request.backend = harness::PlaceBackend::kHost;
  } else if (backend == "accounting") {
    request.backend = harness::PlaceBackend::kAccounting;
  } else if (!backend.empty()) {
    throw py::value_error("--backend: expected sim, host or accounting, got '" + backend + "'");
  }
  StatusOr<harness::PreparedPlacePtr> prepared = harness::PreparePlace(request);
  if (!prepared.ok()) Raise(prepared.status());
  StatusOr<harness::PlaceReport> report = [&] {
    py::gil_scoped_release release;
    return harness::RunPlace(**prepared);
  }();
  const harness::PlaceReport placed = ValueOrRaise(std::move(report));
  py::list out;
  for (const harness::PlacePolicyReport& r : placed.policies) {
    out.append(JsonToPython(nlohmann::ordered_json(r)));
  }
  return out;
}

// `twinsim fit`'s search (harness::RunFit): one dict per (layout, policy), as `fit --json`.
py::list Fit(const std::string& model, const std::string& cluster, int64_t gpus,
             const std::vector<std::string>& policies, int64_t seq, std::optional<int64_t> tp,
             std::optional<int64_t> pp, int64_t max_batch) {
  harness::FitRequest request;
  request.model = model;
  request.cluster = cluster;
  request.gpus = gpus;
  request.policies = policies;
  request.seq = seq;
  request.tp = tp;
  request.pp = pp;
  request.max_batch = max_batch;
  if (const Status valid = request.Validate(); !valid.ok()) Raise(valid);
  StatusOr<harness::FitReport> report = [&] {
    py::gil_scoped_release release;
    return harness::RunFit(request);
  }();
  const harness::FitReport fitted = ValueOrRaise(std::move(report));
  py::list out;
  for (const harness::FitRow& r : fitted.rows) out.append(JsonToPython(nlohmann::ordered_json(r)));
  return out;
}

core::ModelSpec ModelFromParamList(const std::string& text, const std::string& source) {
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw py::value_error(source + ": not a parameter list: " + e.what());
  }
  std::string name = doc.value("name", source);
  return ValueOrRaise(core::ModelSpecFromParamList(doc, source, name));
}

}  // namespace
}  // namespace twinsim::python

PYBIND11_MODULE(_twinsim, m) {
  using namespace twinsim;
  using twinsim::python::InitResult;
  m.doc() = "twinsim's C++ core (harness/); use the `twinsim` package, not this module.";

  py::class_<core::ModelSpec>(m, "ModelSpec",
                              "A model as twinsim sees it: parameters in registration order, "
                              "with shapes, dtypes, inits and tensor-parallel splits.")
      .def_readonly("name", &core::ModelSpec::name)
      .def_readonly("num_layers", &core::ModelSpec::num_layers)
      .def_readonly("num_heads", &core::ModelSpec::num_heads)
      .def_property_readonly("num_params", &core::ModelSpec::NumParams,
                             "Elements, a tied parameter counted once (as torch counts).")
      .def_property_readonly(
          "param_names",
          [](const core::ModelSpec& s) {
            std::vector<std::string> names;
            for (const core::ParamSpec& p : s.params) names.push_back(p.name);
            return names;
          })
      .def("to_param_list",
           [](const core::ModelSpec& s) {
             return python::JsonToPython(
                 nlohmann::ordered_json::parse(core::ParamListFromModelSpec(s).dump()));
           },
           "The spec as a twinsim parameter list (the format tools/dump-params writes).")
      .def("__repr__", [](const core::ModelSpec& s) {
        return "<twinsim.ModelSpec '" + s.name + "': " + std::to_string(s.params.size()) +
               " tensors, " + std::to_string(s.NumParams()) + " parameters>";
      });

  m.def("model_spec", [](const std::string& text) {
    return python::ValueOrRaise(harness::LoadModel(text));
  });
  m.def("model_from_param_list", &python::ModelFromParamList, py::arg("text"),
        py::arg("source"));

  py::class_<InitResult>(m, "InitResult",
                         "What check_init found: one report per seed policy, as `twinsim init "
                         "--json` prints it.")
      .def("holds", &InitResult::Holds, py::arg("property"),
           "True when `property` holds for every policy checked; ValueError for an unknown "
           "property or one not checked.")
      .def("to_dict", &InitResult::ToDict,
           "The report as `twinsim init --json` prints it: a dict for one policy, a list of "
           "dicts for several.")
      .def_property_readonly("policies",
                             [](const InitResult& r) {
                               std::vector<std::string> names;
                               for (const auto& p : r.report.policies) names.push_back(p.policy);
                               return names;
                             })
      .def_property_readonly("broken_claims",
                             [](const InitResult& r) { return r.report.BrokenClaims(); })
      .def("__repr__", &InitResult::Repr);

  m.def("check_init", &python::CheckInit, py::arg("model"), py::arg("layout"),
        py::arg("policies"), py::arg("seed"), py::arg("checks"), py::arg("init_device"),
        py::arg("gpu"), py::arg("device_memory"), py::arg("host_memory"), py::arg("backend"),
        py::arg("cluster"), py::arg("timing_only"), py::arg("trace"), py::arg("max_memory"),
        py::arg("dump"));
  m.def("place", &python::Place, py::arg("model"), py::arg("layout"), py::arg("cluster"),
        py::arg("policies"), py::arg("batch"), py::arg("seq"), py::arg("gpu_memory"),
        py::arg("host_memory"), py::arg("backend"), py::arg("rank"));
  m.def("fit", &python::Fit, py::arg("model"), py::arg("cluster"), py::arg("gpus"),
        py::arg("policies"), py::arg("seq"), py::arg("tp"), py::arg("pp"), py::arg("max_batch"));
}
