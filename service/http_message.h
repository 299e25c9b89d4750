// Plain HTTP request and response values passed between mx_client (which
// builds requests), mx_transport (which sends them with libcurl) and
// http_status_mapping (which interprets answers). No behaviour here.
#ifndef MXGATE_SERVICE_HTTP_MESSAGE_H_
#define MXGATE_SERVICE_HTTP_MESSAGE_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"

namespace mxgate {

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

struct HttpRequest {
  std::string method;   // "POST", "GET", ...
  std::string url;      // absolute, path already percent-encoded
  HttpHeaders headers;  // sent in this order
  std::string body;     // sent as is; may hold secrets, never log it
  // The transfer is aborted with DEADLINE_EXCEEDED at this time.
  absl::Time deadline = absl::InfiniteFuture();
  // Not sent before this time (a retry's backoff); holds no connection
  // meanwhile.
  absl::Time not_before = absl::InfinitePast();
  // MX acting on this request twice has the effect of acting once (a read,
  // or a create whose member id MX refuses to repeat), so it may be sent
  // again even when an earlier copy may have reached MX.
  bool idempotent = false;
};

// Any HTTP answer, whatever its status, is a transport success.
struct HttpResponse {
  int status_code = 0;
  HttpHeaders headers;  // names lower-cased, in arrival order
  std::string body;

  // The first header named `name` (lower case), if any.
  absl::optional<absl::string_view> Header(absl::string_view name) const {
    for (const auto& [key, value] : headers) {
      if (key == name) return absl::string_view(value);
    }
    return absl::nullopt;
  }
};

}  // namespace mxgate

#endif  // MXGATE_SERVICE_HTTP_MESSAGE_H_
