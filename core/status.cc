#include "core/status.h"

#include <cstdio>
#include <cstdlib>

namespace twinsim {

std::string_view StatusCodeName(StatusCode code) {
  switch (code) {
    case StatusCode::kOk:
      return "OK";
    case StatusCode::kInvalidArgument:
      return "InvalidArgument";
    case StatusCode::kNotFound:
      return "NotFound";
    case StatusCode::kOutOfRange:
      return "OutOfRange";
    case StatusCode::kFailedPrecondition:
      return "FailedPrecondition";
    case StatusCode::kResourceExhausted:
      return "ResourceExhausted";
    case StatusCode::kUnavailable:
      return "Unavailable";
    case StatusCode::kInternal:
      return "Internal";
  }
  return "Unknown";
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  std::string out(StatusCodeName(code_));
  out += ": ";
  out += message_;
  return out;
}

namespace status_internal {

void DieOnValueOfError(const Status& status) {
  std::fprintf(stderr, "twinsim: internal error: StatusOr::value() on an error: %s\n",
               status.ToString().c_str());
  std::fflush(stderr);
  std::abort();
}

Status OkStatusWithoutValue() {
  return Status::Internal("StatusOr was given an OK status without a value");
}

}  // namespace status_internal

}  // namespace twinsim
