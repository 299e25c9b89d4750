#include "service/mx_api_version.h"

namespace mxgate {

absl::optional<MxApiVersion> ParseMxApiVersion(absl::string_view name) {
  if (name == "v20250224") return MxApiVersion::kV20250224;
  if (name == "v20111101") return MxApiVersion::kV20111101;
  return absl::nullopt;
}

absl::string_view MxApiVersionName(MxApiVersion version) {
  switch (version) {
    case MxApiVersion::kV20111101:
      return "v20111101";
    case MxApiVersion::kV20250224:
      return "v20250224";
  }
  return "";
}

absl::string_view MxAcceptHeader(MxApiVersion version) {
  switch (version) {
    case MxApiVersion::kV20111101:
      return "application/vnd.mx.api.v1+json";
    case MxApiVersion::kV20250224:
      return "application/json";
  }
  return "";
}

}  // namespace mxgate
