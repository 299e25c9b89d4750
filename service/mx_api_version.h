// The MX Platform API versions mxgate speaks, and what each asks of a
// request's headers. MX requires `Accept-Version` on every call since
// August 2026; v20111101 also selects its media type through `Accept`.
#ifndef MXGATE_SERVICE_MX_API_VERSION_H_
#define MXGATE_SERVICE_MX_API_VERSION_H_

#include "absl/strings/string_view.h"
#include "absl/types/optional.h"

namespace mxgate {

enum class MxApiVersion {
  kV20111101,
  kV20250224,
};

// The default: the newest version MX publishes a spec for.
inline constexpr MxApiVersion kDefaultMxApiVersion = MxApiVersion::kV20250224;

// "v20250224" -> kV20250224; nullopt for anything else (exact match).
absl::optional<MxApiVersion> ParseMxApiVersion(absl::string_view name);

// The `Accept-Version` value, e.g. "v20250224".
absl::string_view MxApiVersionName(MxApiVersion version);

// The `Accept` value: "application/json" for v20250224,
// "application/vnd.mx.api.v1+json" for v20111101.
absl::string_view MxAcceptHeader(MxApiVersion version);

}  // namespace mxgate

#endif  // MXGATE_SERVICE_MX_API_VERSION_H_
