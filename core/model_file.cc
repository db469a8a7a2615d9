#include "core/model_file.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>

#include "core/hf_config.h"
#include "core/param_list.h"
#include "core/text.h"

namespace twinsim::core {
namespace {

Status FileError(std::string_view source, const std::string& what) {
  return Status::InvalidArgument("model file " + Quote(source) + ": " + what);
}

// "line 3, column 7" of the byte `offset` (0-based) in `text`; nlohmann reports the byte
// after the one that failed.
std::string Position(std::string_view text, size_t offset) {
  offset = std::min(offset, text.size());
  size_t line = 1, column = 1;
  for (size_t i = 0; i + 1 < offset; ++i) {
    if (text[i] == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
  }
  return "line " + std::to_string(line) + ", column " + std::to_string(column);
}

// nlohmann's message without its "[json.exception.parse_error.101] parse error at line 1,
// column 2: " prefix (the position is given once, by Position).
std::string ParseReason(const std::string& what) {
  const size_t colon = what.find(": ");
  std::string reason = colon == std::string::npos ? what : what.substr(colon + 2);
  return reason;
}

bool IsFile(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

}  // namespace

std::string ResolveModelFilePath(std::string_view path) {
  const std::string p(path);
  if (p.empty() || p[0] == '/' || IsFile(p)) return p;
  // `bazel run` starts the binary in its runfiles, with the workspace in this variable.
  if (const char* ws = std::getenv("BUILD_WORKSPACE_DIRECTORY"); ws != nullptr && *ws != 0) {
    const std::string candidate = std::string(ws) + "/" + p;
    if (IsFile(candidate)) return candidate;
  }
  // The files //:twinsim carries in its runfiles (scenarios/models/), found beside the binary.
  char exe[4096];
  const ssize_t n = ::readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  if (n > 0) {
    exe[n] = 0;
    const std::string candidate = std::string(exe) + ".runfiles/twinsim/" + p;
    if (IsFile(candidate)) return candidate;
  }
  return p;
}

bool IsModelFilePath(std::string_view text) {
  constexpr std::string_view kSuffix = ".json";
  return text.size() > kSuffix.size() && text.substr(text.size() - kSuffix.size()) == kSuffix;
}

StatusOr<ModelSpec> ModelSpecFromJsonText(std::string_view text, std::string_view source) {
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(text.begin(), text.end());
  } catch (const nlohmann::json::parse_error& e) {
    return FileError(source,
                     "invalid JSON at " + Position(text, e.byte) + ": " + ParseReason(e.what()));
  } catch (const nlohmann::json::exception& e) {
    return FileError(source, std::string("invalid JSON: ") + ParseReason(e.what()));
  }
  if (!doc.is_object()) {
    return FileError(source, std::string("expected a JSON object, got ") + doc.type_name());
  }
  try {
    if (doc.contains("format")) {
      return ModelSpecFromParamList(doc, source, std::string(source));
    }
    // Note [Model file dispatch]: a Hugging Face config is recognized by "model_type".
    if (doc.contains("model_type")) {
      return ModelSpecFromHfConfig(doc, "model file " + Quote(source), std::string(source));
    }
  } catch (const nlohmann::json::exception& e) {
    // The readers check types before reading; this is a last line of defence.
    return FileError(source, ParseReason(e.what()));
  }
  return FileError(source,
                   "not a Hugging Face config (no \"model_type\") nor a twinsim parameter list "
                   "(no \"format\": \"twinsim-params\")");
}

StatusOr<ModelSpec> LoadModelFile(std::string_view path) {
  const std::string p = ResolveModelFilePath(path);
  struct stat st {};
  if (::stat(p.c_str(), &st) != 0) {
    return FileError(path, errno == ENOENT ? "no such file" : std::strerror(errno));
  }
  if (!S_ISREG(st.st_mode)) return FileError(path, "not a regular file");
  if (st.st_size > kMaxModelFileBytes) {
    return FileError(path, "is " + std::to_string(st.st_size) + " bytes, more than the " +
                               std::to_string(kMaxModelFileBytes >> 20) + " MiB a model file may be");
  }
  std::ifstream in(p, std::ios::binary);
  if (!in) return FileError(path, std::string("cannot be read: ") + std::strerror(errno));
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) return FileError(path, "read failed");
  StatusOr<ModelSpec> model = ModelSpecFromJsonText(buffer.str(), path);
  if (model.ok()) model->name = std::string(path);  // as given, wherever it was found
  return model;
}

}  // namespace twinsim::core
