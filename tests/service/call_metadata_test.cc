#include "service/call_metadata.h"

#include <set>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace mxgate {
namespace {

using ::testing::MatchesRegex;

constexpr char kTraceparent[] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
constexpr char kUuidV4[] =
    "[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}";

TEST(MakeCallMetadata, KeepsAValidRequestIdAndTraceContext) {
  const CallMetadata metadata =
      MakeCallMetadata("req-1", kTraceparent, "rojo=00f067aa0ba902b7, congo=t61rcWkgMzE");
  EXPECT_EQ(metadata.request_id, "req-1");
  EXPECT_EQ(metadata.traceparent, kTraceparent);
  EXPECT_EQ(metadata.tracestate, "rojo=00f067aa0ba902b7, congo=t61rcWkgMzE");
  EXPECT_EQ(metadata.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
}

TEST(MakeCallMetadata, GeneratesAUuidV4RequestIdWhenAbsent) {
  const CallMetadata metadata = MakeCallMetadata("", "", "");
  EXPECT_THAT(metadata.request_id, MatchesRegex(kUuidV4));
  EXPECT_EQ(metadata.traceparent, "");
  EXPECT_EQ(metadata.tracestate, "");
  EXPECT_EQ(metadata.trace_id(), "");
}

TEST(MakeCallMetadata, KeepsARequestIdOfExactlyTheMaximumLength) {
  const std::string longest(kMaxRequestIdLength, 'a');
  EXPECT_EQ(MakeCallMetadata(longest, "", "").request_id, longest);
}

TEST(MakeCallMetadata, ReplacesAnInvalidRequestId) {
  for (const std::string& bad :
       {std::string(kMaxRequestIdLength + 1, 'a'), std::string("has space"),
        std::string("tab\there"), std::string("new\nline"), std::string("\x7f"),
        std::string("caf\xC3\xA9")}) {
    EXPECT_THAT(MakeCallMetadata(bad, "", "").request_id, MatchesRegex(kUuidV4)) << bad;
  }
}

TEST(MakeCallMetadata, DropsAnInvalidTraceparentAndItsTracestate) {
  for (const std::string& bad : {
           std::string("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
           std::string("00-00000000000000000000000000000000-00f067aa0ba902b7-01"),
           std::string("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01"),
           std::string("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"),
           std::string("00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01"),
           std::string("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x"),
           std::string("00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01"),
           std::string("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g"),
       }) {
    const CallMetadata metadata = MakeCallMetadata("req-1", bad, "vendor=1");
    EXPECT_EQ(metadata.traceparent, "") << bad;
    EXPECT_EQ(metadata.tracestate, "") << bad;
  }
}

TEST(MakeCallMetadata, DropsAnInvalidTracestateButKeepsTheTraceparent) {
  for (const std::string& bad :
       {std::string(kMaxTracestateLength + 1, 'a'), std::string("a=1\r\nX-Evil: 1"),
        std::string("a=\x01")}) {
    const CallMetadata metadata = MakeCallMetadata("req-1", kTraceparent, bad);
    EXPECT_EQ(metadata.traceparent, kTraceparent);
    EXPECT_EQ(metadata.tracestate, "") << bad;
  }
  const std::string longest(kMaxTracestateLength, 'a');
  EXPECT_EQ(MakeCallMetadata("req-1", kTraceparent, longest).tracestate, longest);
}

TEST(NewRequestId, IsAFreshUuidV4EachTime) {
  std::set<std::string> ids;
  for (int i = 0; i < 1000; ++i) {
    const std::string id = NewRequestId();
    EXPECT_THAT(id, MatchesRegex(kUuidV4));
    ids.insert(id);
  }
  EXPECT_EQ(ids.size(), 1000u);
}

}  // namespace
}  // namespace mxgate
