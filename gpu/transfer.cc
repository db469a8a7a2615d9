#include "gpu/transfer.h"

#include <string>

namespace twinsim::gpu {

std::string_view TransferClassName(TransferClass c) {
  switch (c) {
    case TransferClass::kH2D:
      return "h2d";
    case TransferClass::kD2H:
      return "d2h";
    case TransferClass::kD2D:
      return "d2d";
    case TransferClass::kInitKernel:
      return "init";
  }
  return "invalid";
}

StatusOr<TransferClass> ParseTransferClass(std::string_view name) {
  for (int c = 0; c < kNumTransferClasses; ++c) {
    if (TransferClassName(static_cast<TransferClass>(c)) == name) {
      return static_cast<TransferClass>(c);
    }
  }
  return Status::InvalidArgument("unknown transfer class '" + std::string(name) +
                                 "' (expected h2d, d2h, d2d or init)");
}

void TransferTotals::Add(const Transfer& t) {
  ClassTotals& c = (*this)[t.cls];
  ++c.count;
  c.bytes += t.bytes;
  c.elements += t.elements;
  c.seconds += t.seconds;
}

void TransferTotals::Add(const TransferTotals& other) {
  for (int i = 0; i < kNumTransferClasses; ++i) {
    by_class[i].count += other.by_class[i].count;
    by_class[i].bytes += other.by_class[i].bytes;
    by_class[i].elements += other.by_class[i].elements;
    by_class[i].seconds += other.by_class[i].seconds;
  }
}

TransferTotals Totals(std::span<const Transfer> transfers) {
  TransferTotals totals;
  for (const Transfer& t : transfers) totals.Add(t);
  return totals;
}

}  // namespace twinsim::gpu
