// Transfers as data: the classes of work the cuda backend times (host-to-device, device-to-host,
// device-to-device copies and init kernels), one measured or predicted operation of a class,
// and per-class totals. Plain C++, no CUDA: the validation compares lists of these between the
// cuda backend (measured with CUDA events) and the sim backend (simulated), so both sides and
// the reports share one vocabulary.
#ifndef TWINSIM_GPU_TRANSFER_H_
#define TWINSIM_GPU_TRANSFER_H_

#include <array>
#include <cstdint>
#include <span>
#include <string_view>

#include "core/dtype.h"
#include "core/status.h"

namespace twinsim::gpu {

enum class TransferClass : uint8_t {
  kH2D = 0,         // host memory -> device memory over PCIe
  kD2H = 1,         // device memory -> host memory over PCIe
  kD2D = 2,         // a copy within device memory (HBM read + write)
  kInitKernel = 3,  // an init (fill) kernel writing `elements` elements
};
inline constexpr int kNumTransferClasses = 4;

// "h2d", "d2h", "d2d", "init". Pure.
std::string_view TransferClassName(TransferClass c);
// The inverse of TransferClassName; InvalidArgument naming the expected names otherwise.
StatusOr<TransferClass> ParseTransferClass(std::string_view name);

// One operation: a copy of `bytes`, or an init kernel of `elements` elements of `dtype`
// (bytes = elements * DTypeSize(dtype)). `seconds` is the measured or predicted time; 0 before.
struct Transfer {
  TransferClass cls = TransferClass::kH2D;
  uint64_t bytes = 0;
  uint64_t elements = 0;  // init kernels only
  core::DType dtype = core::DType::kFp32;
  double seconds = 0;

  friend bool operator==(const Transfer&, const Transfer&) = default;
};

// Count, bytes, elements and time of one class.
struct ClassTotals {
  uint64_t count = 0;
  uint64_t bytes = 0;
  uint64_t elements = 0;
  double seconds = 0;

  // bytes / seconds (elements / seconds for init kernels); 0 when no time was measured.
  double BytesPerSecond() const { return seconds > 0 ? bytes / seconds : 0; }
  double ElementsPerSecond() const { return seconds > 0 ? elements / seconds : 0; }
};

// Totals by class (index: static_cast<int>(TransferClass)).
struct TransferTotals {
  std::array<ClassTotals, kNumTransferClasses> by_class{};

  ClassTotals& operator[](TransferClass c) { return by_class[static_cast<int>(c)]; }
  const ClassTotals& operator[](TransferClass c) const { return by_class[static_cast<int>(c)]; }
  void Add(const Transfer& t);
  void Add(const TransferTotals& other);
};

// The totals of `transfers`. Pure.
TransferTotals Totals(std::span<const Transfer> transfers);

}  // namespace twinsim::gpu

#endif  // TWINSIM_GPU_TRANSFER_H_
