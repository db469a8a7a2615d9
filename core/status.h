// Status and StatusOr<T>: how twinsim library code reports failure without exceptions.
//
// Modelled on LevelDB's Status: a code plus a human-readable message that names what was
// wrong and where ("--dist: unknown key 'sdt' in 'normal:sdt=1' (expected mean, std)").
// Command-line front ends map kInvalidArgument to exit status 2.
#ifndef TWINSIM_CORE_STATUS_H_
#define TWINSIM_CORE_STATUS_H_

#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace twinsim {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,
  kNotFound,
  kOutOfRange,
  kFailedPrecondition,
  kResourceExhausted,
  kUnavailable,
  kInternal,
};

std::string_view StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }
  static Status InvalidArgument(std::string msg) {
    return {StatusCode::kInvalidArgument, std::move(msg)};
  }
  static Status NotFound(std::string msg) { return {StatusCode::kNotFound, std::move(msg)}; }
  static Status OutOfRange(std::string msg) { return {StatusCode::kOutOfRange, std::move(msg)}; }
  static Status FailedPrecondition(std::string msg) {
    return {StatusCode::kFailedPrecondition, std::move(msg)};
  }
  static Status ResourceExhausted(std::string msg) {
    return {StatusCode::kResourceExhausted, std::move(msg)};
  }
  static Status Unavailable(std::string msg) { return {StatusCode::kUnavailable, std::move(msg)}; }
  static Status Internal(std::string msg) { return {StatusCode::kInternal, std::move(msg)}; }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "OK" or "<CodeName>: <message>".
  std::string ToString() const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

namespace status_internal {
// Prints "StatusOr::value() on an error: <status>" to stderr and aborts. Out of line so that
// the checks cost a compare and a rarely taken branch.
[[noreturn]] void DieOnValueOfError(const Status& status);
// The status a StatusOr built from an OK Status carries instead (an error, as in abseil).
Status OkStatusWithoutValue();
}  // namespace status_internal

// Either a value or a non-OK Status, made safe as abseil's is: built from an OK Status it
// holds Internal("... OK status without a value") instead, and value(), operator* and
// operator-> on an error abort the process with the status on stderr instead of reading an
// empty optional.
template <typename T>
class [[nodiscard]] StatusOr {
 public:
  StatusOr(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  StatusOr(Status status)                          // NOLINT: implicit by design
      : status_(status.ok() ? status_internal::OkStatusWithoutValue() : std::move(status)) {}

  bool ok() const { return status_.ok(); }
  const Status& status() const { return status_; }
  const T& value() const& { return Checked(); }
  T& value() & { return Checked(); }
  T&& value() && { return std::move(Checked()); }
  const T& operator*() const& { return Checked(); }
  T& operator*() & { return Checked(); }
  const T* operator->() const { return &Checked(); }
  T* operator->() { return &Checked(); }

 private:
  const T& Checked() const {
    if (!value_.has_value()) status_internal::DieOnValueOfError(status_);
    return *value_;
  }
  T& Checked() {
    if (!value_.has_value()) status_internal::DieOnValueOfError(status_);
    return *value_;
  }

  Status status_;
  std::optional<T> value_;
};

}  // namespace twinsim

// Returns early from the enclosing function when `expr` (a Status) is not OK.
#define TWINSIM_RETURN_IF_ERROR(expr)                  \
  do {                                                 \
    ::twinsim::Status twinsim_status_ = (expr);        \
    if (!twinsim_status_.ok()) return twinsim_status_; \
  } while (0)

// Evaluates `expr` (a StatusOr<T>); returns its status early when it is not OK, otherwise
// declares or assigns `lhs` from its value: TWINSIM_ASSIGN_OR_RETURN(Buffer b, Allocate(...)).
#define TWINSIM_ASSIGN_OR_RETURN(lhs, expr) \
  TWINSIM_ASSIGN_OR_RETURN_IMPL_(TWINSIM_STATUS_CONCAT_(twinsim_statusor_, __LINE__), lhs, expr)
#define TWINSIM_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                   \
  if (!tmp.ok()) return tmp.status();                  \
  lhs = std::move(tmp).value()
#define TWINSIM_STATUS_CONCAT_(a, b) TWINSIM_STATUS_CONCAT_INNER_(a, b)
#define TWINSIM_STATUS_CONCAT_INNER_(a, b) a##b

#endif  // TWINSIM_CORE_STATUS_H_
