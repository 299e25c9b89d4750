#include "service/mx_client.h"

#include <algorithm>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "service/http_status_mapping.h"
#include "service/member_json_codec.h"

namespace mxgate {

std::string PercentEncodePathSegment(absl::string_view segment) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(segment.size());
  for (unsigned char c : segment) {
    const bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                            (c >= '0' && c <= '9') || c == '-' || c == '.' ||
                            c == '_' || c == '~';
    if (unreserved) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0x0F]);
    }
  }
  return out;
}

RestMxClient::RestMxClient(Options options, HttpTransport& transport)
    : base_url_(std::move(options.base_url)),
      authorization_(absl::StrCat(
          "Basic ", absl::Base64Escape(absl::StrCat(options.client_id, ":",
                                                    options.api_key)))),
      timeout_(options.timeout),
      transport_(transport) {}

HttpRequest RestMxClient::BuildCreateMemberRequest(
    const ::mx::platform::v1::CreateMemberRequest& request,
    MxApiVersion version, absl::Time deadline) const {
  HttpRequest http;
  http.method = "POST";
  http.url = absl::StrCat(base_url_, "/users/",
                          PercentEncodePathSegment(request.user_identifier()),
                          "/members");
  http.headers = {
      {"Accept", std::string(MxAcceptHeader(version))},
      {"Accept-Version", std::string(MxApiVersionName(version))},
      {"Authorization", authorization_},
      {"Content-Type", "application/json"},
      {"User-Agent", "mxgate/" MXGATE_VERSION},
  };
  if (!request.callback_payload().empty()) {
    http.headers.emplace_back("X-CALLBACK-PAYLOAD", request.callback_payload());
  }
  http.body = EncodeCreateMemberBody(request, version);
  http.deadline = std::min(deadline, absl::Now() + timeout_);
  return http;
}

MxClient::CallId RestMxClient::CreateMember(
    const ::mx::platform::v1::CreateMemberRequest& request,
    MxApiVersion version, absl::Time deadline, CreateMemberCallback done) {
  return transport_.Send(
      BuildCreateMemberRequest(request, version, deadline),
      [done = std::move(done)](absl::StatusOr<HttpResponse> answer) {
        if (!answer.ok()) {
          done(answer.status());
          return;
        }
        done(MapCreateMemberAnswer(*answer, absl::Now()));
      });
}

void RestMxClient::Cancel(CallId id) { transport_.Cancel(id); }

}  // namespace mxgate
