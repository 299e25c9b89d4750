#include "service/mx_api_version.h"

#include <ostream>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/types/optional.h"
#include "gtest/gtest.h"

namespace mxgate {
namespace {

struct VersionCase {
  MxApiVersion version;
  const char* name;
  const char* accept;
};
void PrintTo(const VersionCase& c, std::ostream* os) { *os << c.name; }

class MxApiVersionTest : public ::testing::TestWithParam<VersionCase> {};

TEST_P(MxApiVersionTest, ParsesItsOwnName) {
  EXPECT_EQ(ParseMxApiVersion(GetParam().name), GetParam().version);
}

TEST_P(MxApiVersionTest, NamesItselfForAcceptVersion) {
  EXPECT_EQ(MxApiVersionName(GetParam().version), GetParam().name);
}

TEST_P(MxApiVersionTest, SelectsItsAcceptMediaType) {
  EXPECT_EQ(MxAcceptHeader(GetParam().version), GetParam().accept);
}

INSTANTIATE_TEST_SUITE_P(Versions, MxApiVersionTest,
                         ::testing::Values(VersionCase{MxApiVersion::kV20111101,
                                                       "v20111101",
                                                       "application/vnd.mx.api.v1+json"},
                                           VersionCase{MxApiVersion::kV20250224,
                                                       "v20250224", "application/json"}),
                         [](const ::testing::TestParamInfo<VersionCase>& info) {
                           return std::string(info.param.name);
                         });

class ParseMxApiVersionRefusal : public ::testing::TestWithParam<absl::string_view> {};

TEST_P(ParseMxApiVersionRefusal, ReturnsNulloptForAnythingButAnExactName) {
  EXPECT_EQ(ParseMxApiVersion(GetParam()), absl::nullopt);
}

INSTANTIATE_TEST_SUITE_P(NotExactNames, ParseMxApiVersionRefusal,
                         ::testing::Values("", "V20250224", "20250224", "v2025022",
                                           "v202502240", " v20250224", "v20250224 ",
                                           "v20111101\n", "v1", "latest"));

TEST(MxApiVersion, DefaultsToTheNewestVersion) {
  EXPECT_EQ(kDefaultMxApiVersion, MxApiVersion::kV20250224);
}

}  // namespace
}  // namespace mxgate
