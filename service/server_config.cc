#include "service/server_config.h"

#include <fstream>
#include <vector>

#include "absl/algorithm/container.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace mxgate {

bool IsLoopbackHost(absl::string_view host) {
  if (absl::EqualsIgnoreCase(host, "localhost") || host == "[::1]" || host == "::1") {
    return true;
  }
  std::vector<absl::string_view> octets = absl::StrSplit(host, '.');
  if (octets.size() != 4 || octets[0] != "127") return false;
  for (absl::string_view octet : octets) {
    int value = 0;
    if (octet.empty() || octet.size() > 3 ||
        !absl::c_all_of(octet, absl::ascii_isdigit) || !absl::SimpleAtoi(octet, &value) ||
        value > 255) {
      return false;
    }
  }
  return true;
}

absl::StatusOr<std::string> CheckMxBaseUrl(absl::string_view url) {
  absl::string_view rest = url;
  const bool https = absl::ConsumePrefix(&rest, "https://");
  const bool http = !https && absl::ConsumePrefix(&rest, "http://");
  if (!https && !http) {
    // The URL is not repeated: it could hold a user:password part.
    return absl::InvalidArgumentError("--mx_base_url must start with https://");
  }
  if (absl::StrContains(rest, "?") || absl::StrContains(rest, "#")) {
    return absl::InvalidArgumentError("--mx_base_url must not have a query or fragment");
  }
  absl::string_view authority = rest.substr(0, rest.find('/'));
  if (absl::StrContains(authority, "@")) {
    return absl::InvalidArgumentError(
        "--mx_base_url must not hold credentials (user@host); use "
        "MX_CLIENT_ID/MX_API_KEY or --mx_credentials_file");
  }
  absl::string_view host = authority;
  absl::string_view port;
  if (absl::StartsWith(authority, "[")) {  // [IPv6]:port
    const size_t close = authority.find(']');
    if (close == absl::string_view::npos) {
      return absl::InvalidArgumentError("--mx_base_url has a malformed IPv6 host");
    }
    host = authority.substr(0, close + 1);
    absl::string_view after = authority.substr(close + 1);
    if (!after.empty() && !absl::ConsumePrefix(&after, ":")) {
      return absl::InvalidArgumentError("--mx_base_url has a malformed port");
    }
    port = after;
  } else if (const size_t colon = authority.rfind(':');
             colon != absl::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
    if (port.empty()) {
      return absl::InvalidArgumentError("--mx_base_url has a malformed port");
    }
  }
  int port_number = 0;
  // Digits only: SimpleAtoi alone would also take "+443" and " 443".
  if (!port.empty() &&
      (!absl::c_all_of(port, absl::ascii_isdigit) ||
       !absl::SimpleAtoi(port, &port_number) || port_number < 1 || port_number > 65535)) {
    return absl::InvalidArgumentError("--mx_base_url has a malformed port");
  }
  if (host.empty()) {
    return absl::InvalidArgumentError("--mx_base_url has no host");
  }
  if (http && !IsLoopbackHost(host)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--mx_base_url uses http:// with the non-loopback host ", host,
                     "; only https:// may leave this machine"));
  }
  std::string normalized(url);
  while (absl::EndsWith(normalized, "/")) normalized.pop_back();
  return normalized;
}

absl::StatusOr<MxCredentials> LoadMxCredentials(absl::string_view credentials_file,
                                                const char* env_client_id,
                                                const char* env_api_key) {
  MxCredentials credentials;
  if (!credentials_file.empty()) {
    std::ifstream in{std::string(credentials_file)};
    std::string line;
    if (!in || !std::getline(in, line)) {
      return absl::NotFoundError(
          absl::StrCat("cannot read --mx_credentials_file ", credentials_file));
    }
    absl::string_view trimmed = absl::StripAsciiWhitespace(line);
    const size_t colon = trimmed.find(':');
    if (colon == absl::string_view::npos) {
      return absl::FailedPreconditionError(
          absl::StrCat("--mx_credentials_file ", credentials_file,
                       ": the first line must be CLIENT_ID:API_KEY"));
    }
    credentials.client_id = std::string(trimmed.substr(0, colon));
    credentials.api_key = std::string(trimmed.substr(colon + 1));
  } else {
    if (env_client_id != nullptr) credentials.client_id = env_client_id;
    if (env_api_key != nullptr) credentials.api_key = env_api_key;
  }
  if (credentials.client_id.empty() || credentials.api_key.empty()) {
    return absl::FailedPreconditionError(
        "no MX credentials: set MX_CLIENT_ID and MX_API_KEY, or pass "
        "--mx_credentials_file");
  }
  return credentials;
}

absl::StatusOr<RequestReplay::Options> CheckRequestReplayFlags(int entries, int ttl_s) {
  if (entries < 0) {
    return absl::InvalidArgumentError(
        "--request_replay_entries must not be negative (0 turns the cache off)");
  }
  if (ttl_s <= 0) {
    return absl::InvalidArgumentError("--request_replay_ttl_s must be positive");
  }
  RequestReplay::Options options;
  options.max_entries = entries;
  options.ttl = absl::Seconds(ttl_s);
  return options;
}

}  // namespace mxgate
