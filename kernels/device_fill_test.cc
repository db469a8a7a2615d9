// Device::Fill on a host device, through FillOnHost, writes exactly what kernels::FillRange
// computes: the path seed policies will take on the host backend.
#include "kernels/device_fill.h"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "core/host_device.h"
#include "kernels/fill.h"
#include "kernels/resolve.h"

namespace twinsim::kernels {
namespace {

core::InitSpec Spec(std::string_view text) { return *core::ParseInitSpec(text); }

TEST(DeviceFillTest, HostDeviceFillEqualsFillRange) {
  core::HostDeviceOptions options;
  options.fill = FillOnHost;
  core::HostDevice device(/*rank=*/0, options);
  for (core::DType dtype : {core::DType::kFp32, core::DType::kBf16, core::DType::kFp16}) {
    constexpr uint64_t kBegin = 5, kEnd = 64 * 48 + 1;
    StatusOr<core::FillRequest> request = MakeFillRequest(
        1234, "transformer.h.0.attn.c_attn.weight", Spec("normal:std=0.02"), dtype, kBegin, kEnd);
    ASSERT_TRUE(request.ok()) << request.status().ToString();
    StatusOr<core::Allocation> a = device.Allocate(request->bytes(), core::kTagParam);
    ASSERT_TRUE(a.ok() && a->fits());
    ASSERT_TRUE(device.Fill(core::BufferRegion::Whole(a->buffer), *request).ok());
    std::vector<std::byte> got(request->bytes()), want(request->bytes());
    ASSERT_TRUE(device.CopyToHost(core::BufferRegion::Whole(a->buffer), got).ok());
    const ParamStream stream{DeriveParamKey(1234, "transformer.h.0.attn.c_attn.weight"), 0};
    FillRange(stream, *Resolve(Spec("normal:std=0.02")), dtype, kBegin, kEnd, want.data());
    EXPECT_EQ(std::memcmp(got.data(), want.data(), got.size()), 0) << DTypeName(dtype);
    ASSERT_TRUE(device.Free(a->buffer).ok());
  }
}

TEST(DeviceFillTest, TwoHalfFillsEqualOneWholeFill) {
  const core::InitSpec spec = Spec("kaiming_uniform:fan_in=48,a=2.23606797749979");
  std::vector<std::byte> whole(100 * 4), halves(100 * 4);
  ASSERT_TRUE(FillOnHost(*MakeFillRequest(9, "w", spec, core::DType::kFp32, 0, 100), whole).ok());
  ASSERT_TRUE(FillOnHost(*MakeFillRequest(9, "w", spec, core::DType::kFp32, 0, 37),
                         std::span(halves).first(37 * 4))
                  .ok());
  ASSERT_TRUE(FillOnHost(*MakeFillRequest(9, "w", spec, core::DType::kFp32, 37, 100),
                         std::span(halves).subspan(37 * 4))
                  .ok());
  EXPECT_EQ(whole, halves);
}

// A column-split TP shard in one request: rows of [begin, end) shifted by row_stride equal the
// 2-D block fill, in every dtype.
TEST(DeviceFillTest, BlockRequestEqualsFillBlock2D) {
  const core::InitSpec spec = Spec("normal:std=0.02");
  const ParamStream stream{DeriveParamKey(77, "mlp.down.weight"), 0};
  const core::Block2D block{/*rows=*/40, /*cols=*/96, /*row_begin=*/3, /*row_end=*/29,
                            /*col_begin=*/24, /*col_end=*/48};
  for (core::DType dtype : {core::DType::kFp32, core::DType::kBf16}) {
    StatusOr<core::FillRequest> request =
        MakeFillRequest(77, "mlp.down.weight", spec, dtype, 3 * 96 + 24, 3 * 96 + 48);
    ASSERT_TRUE(request.ok());
    request->rows = 26;
    request->row_stride = 96;
    ASSERT_EQ(request->elements(), 26u * 24u);
    std::vector<std::byte> got(request->bytes()), want(request->bytes());
    ASSERT_TRUE(FillOnHost(*request, got).ok());
    FillBlock2D(stream, *Resolve(spec), dtype, block, want.data());
    EXPECT_EQ(got, want) << DTypeName(dtype);
  }
}

TEST(DeviceFillTest, BadBlockRequestsAreErrors) {
  core::FillRequest r = *MakeFillRequest(0, "w", Spec("normal"), core::DType::kFp32, 10, 20);
  r.rows = 0;
  EXPECT_EQ(core::ValidateFillRequest(r).message(), "fill request: rows must be at least 1");
  r.rows = 3;
  r.row_stride = 9;
  EXPECT_NE(core::ValidateFillRequest(r).message().find("rows would overlap"), std::string::npos);
  r.row_stride = uint64_t{1} << 63;
  EXPECT_NE(core::ValidateFillRequest(r).message().find("pass 2^64 elements"), std::string::npos);
  r.row_stride = 10;
  EXPECT_TRUE(core::ValidateFillRequest(r).ok());
}

TEST(DeviceFillTest, BadRequestsAreErrors) {
  EXPECT_EQ(MakeFillRequest(0, "w", Spec("normal"), core::DType::kFp32, 5, 4).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(MakeFillRequest(0, "w", Spec("trunc_normal:a=30,b=40"), core::DType::kFp32, 0, 4)
                .status()
                .message(),
            "trunc_normal: [a, b] = [30, 40] holds no probability mass in float for mean=0 std=1");
  std::vector<std::byte> small(3);
  const Status s =
      FillOnHost(*MakeFillRequest(0, "w", Spec("normal"), core::DType::kBf16, 0, 2), small);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("output is 3 bytes, the request writes 4"), std::string::npos)
      << s.message();
}

}  // namespace
}  // namespace twinsim::kernels
