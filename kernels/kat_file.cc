#include "kernels/kat_file.h"

#include <cinttypes>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "kernels/fill.h"

namespace twinsim::kernels {

ParamStream KatCase::Stream() const { return ParamStream{DeriveParamKey(seed, param), draw}; }

StatusOr<Transform> KatCase::ResolvedTransform() const {
  StatusOr<core::InitSpec> s = core::ParseInitSpec(spec);
  if (!s.ok()) return s.status();
  return Resolve(*s);
}

uint32_t ElementBits(DType dtype, const void* data, uint64_t i) {
  if (dtype == DType::kFp32) return FloatBits(static_cast<const float*>(data)[i]);
  return static_cast<const uint16_t*>(data)[i];
}

StatusOr<std::vector<KatCase>> ParseKatFile(const std::string& text) {
  std::vector<KatCase> cases;
  std::istringstream in(text);
  std::string line;
  int lineno = 0;
  uint64_t want = 0;  // values still expected for the last case
  auto where = [&] { return "fill_kat line " + std::to_string(lineno) + ": "; };
  while (std::getline(in, line)) {
    ++lineno;
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    if (line.rfind("case ", 0) == 0) {
      if (want != 0) return Status::InvalidArgument(where() + "previous case is short of values");
      KatCase c;
      std::string word, dtype;
      uint64_t count = 0;
      if (!(fields >> word >> c.seed >> c.param >> c.spec >> dtype >> c.draw >> c.begin >> count)) {
        return Status::InvalidArgument(
            where() + "expected 'case <seed> <param> <spec> <dtype> <draw> <begin> <count>'");
      }
      StatusOr<DType> d = ParseDType(dtype);
      if (!d.ok()) return Status::InvalidArgument(where() + d.status().message());
      c.dtype = *d;
      if (!c.ResolvedTransform().ok()) {
        return Status::InvalidArgument(where() + c.ResolvedTransform().status().message());
      }
      c.bits.reserve(count);
      want = count;
      cases.push_back(std::move(c));
      continue;
    }
    if (cases.empty()) return Status::InvalidArgument(where() + "values before the first case");
    std::string hex;
    while (fields >> hex) {
      if (want == 0) return Status::InvalidArgument(where() + "more values than the case count");
      char* end = nullptr;
      const unsigned long v = std::strtoul(hex.c_str(), &end, 16);
      if (*end != '\0' || hex.empty()) {
        return Status::InvalidArgument(where() + "expected a hex value, got '" + hex + "'");
      }
      cases.back().bits.push_back(static_cast<uint32_t>(v));
      --want;
    }
  }
  if (want != 0) return Status::InvalidArgument("fill_kat: last case is short of values");
  return cases;
}

StatusOr<std::vector<KatCase>> ReadKatFile(const std::string& path) {
  std::ifstream f(path);
  if (!f) return Status::NotFound("cannot open known-answer file " + path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ParseKatFile(ss.str());
}

std::string FormatKatFile(const std::vector<KatCase>& cases, const std::string& header) {
  std::string out = header;
  char buf[160];
  for (const KatCase& c : cases) {
    std::snprintf(buf, sizeof buf, "case %" PRIu64 " %s %s %s %u %" PRIu64 " %zu\n", c.seed,
                  c.param.c_str(), c.spec.c_str(), std::string(DTypeName(c.dtype)).c_str(), c.draw,
                  c.begin, c.bits.size());
    out += buf;
    for (size_t i = 0; i < c.bits.size(); ++i) {
      std::snprintf(buf, sizeof buf, c.dtype == DType::kFp32 ? "%08x" : "%04x", c.bits[i]);
      out += buf;
      out += (i % 8 == 7 || i + 1 == c.bits.size()) ? "\n" : " ";
    }
  }
  return out;
}

}  // namespace twinsim::kernels
