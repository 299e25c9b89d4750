#include "service/listener_config.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <fstream>
#include <memory>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "grpc/grpc.h"

namespace mxgate {
namespace {

struct BioFree {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
struct X509Free {
  void operator()(X509* cert) const { X509_free(cert); }
};
struct KeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
using X509Ptr = std::unique_ptr<X509, X509Free>;

std::unique_ptr<BIO, BioFree> MemoryBio(const std::string& pem) {
  return std::unique_ptr<BIO, BioFree>(
      BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

// Refuses a passphrase: OpenSSL's default callback would prompt on the
// terminal.
int NoPassphrase(char*, int, int, void*) { return 0; }

absl::StatusOr<std::string> ReadFile(absl::string_view flag, absl::string_view path) {
  std::ifstream in{std::string(path), std::ios::binary};
  std::stringstream text;
  if (!in || !(text << in.rdbuf())) {
    return absl::NotFoundError(absl::StrCat("cannot read ", flag, " ", path));
  }
  return text.str();
}

// The certificates in `pem`, in order; none when it holds no parsable one.
std::vector<X509Ptr> ReadCertificates(const std::string& pem) {
  std::vector<X509Ptr> certs;
  auto bio = MemoryBio(pem);
  while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, NoPassphrase, nullptr)) {
    certs.emplace_back(cert);
  }
  ERR_clear_error();  // the read past the last certificate
  return certs;
}

absl::Status NotPem(absl::string_view flag, absl::string_view path,
                    absl::string_view expected) {
  return absl::InvalidArgumentError(absl::StrCat(flag, " ", path, ": not ", expected));
}

}  // namespace

absl::StatusOr<std::optional<ServerTls>> LoadServerTls(absl::string_view cert_file,
                                                       absl::string_view key_file,
                                                       absl::string_view client_ca_file) {
  if (cert_file.empty() && key_file.empty()) {
    if (!client_ca_file.empty()) {
      return absl::InvalidArgumentError(
          "--tls_client_ca_file needs --tls_cert_file and --tls_key_file");
    }
    return std::nullopt;
  }
  if (cert_file.empty() || key_file.empty()) {
    return absl::InvalidArgumentError(
        "--tls_cert_file and --tls_key_file go together: give both or neither");
  }
  ServerTls tls;
  absl::StatusOr<std::string> cert_pem = ReadFile("--tls_cert_file", cert_file);
  if (!cert_pem.ok()) return cert_pem.status();
  tls.cert_chain_pem = *std::move(cert_pem);
  absl::StatusOr<std::string> key_pem = ReadFile("--tls_key_file", key_file);
  if (!key_pem.ok()) return key_pem.status();
  tls.private_key_pem = *std::move(key_pem);

  const std::vector<X509Ptr> chain = ReadCertificates(tls.cert_chain_pem);
  if (chain.empty()) {
    return NotPem("--tls_cert_file", cert_file, "a PEM certificate chain");
  }
  auto key_bio = MemoryBio(tls.private_key_pem);
  std::unique_ptr<EVP_PKEY, KeyFree> key(
      PEM_read_bio_PrivateKey(key_bio.get(), nullptr, NoPassphrase, nullptr));
  ERR_clear_error();
  if (key == nullptr) {
    return NotPem("--tls_key_file", key_file, "an unencrypted PEM private key");
  }
  if (X509_check_private_key(chain.front().get(), key.get()) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError(absl::StrCat(
        "--tls_key_file ", key_file, " does not match the certificate in ", cert_file));
  }

  if (!client_ca_file.empty()) {
    absl::StatusOr<std::string> ca_pem = ReadFile("--tls_client_ca_file", client_ca_file);
    if (!ca_pem.ok()) return ca_pem.status();
    tls.client_ca_pem = *std::move(ca_pem);
    if (ReadCertificates(tls.client_ca_pem).empty()) {
      return NotPem("--tls_client_ca_file", client_ca_file, "a PEM certificate bundle");
    }
  }
  return tls;
}

absl::Status CheckListenerLimits(const ListenerLimits& limits) {
  const std::pair<const char*, bool> checks[] = {
      {"--max_receive_message_bytes must be positive",
       limits.max_receive_message_bytes > 0},
      {"--max_send_message_bytes must be positive", limits.max_send_message_bytes > 0},
      {"--keepalive_time_ms must be positive", limits.keepalive_time_ms > 0},
      {"--keepalive_timeout_ms must be positive", limits.keepalive_timeout_ms > 0},
      {"--keepalive_min_client_ping_interval_ms must not be negative",
       limits.keepalive_min_client_ping_interval_ms >= 0},
      {"--max_connection_age_ms must not be negative", limits.max_connection_age_ms >= 0},
      {"--max_connection_age_grace_ms must not be negative",
       limits.max_connection_age_grace_ms >= 0},
  };
  for (const auto& [message, ok] : checks) {
    if (!ok) return absl::InvalidArgumentError(message);
  }
  return absl::OkStatus();
}

std::vector<std::pair<std::string, int>> ListenerChannelArgs(
    const ListenerLimits& limits) {
  std::vector<std::pair<std::string, int>> args = {
      {GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, limits.max_receive_message_bytes},
      {GRPC_ARG_MAX_SEND_MESSAGE_LENGTH, limits.max_send_message_bytes},
      {GRPC_ARG_KEEPALIVE_TIME_MS, limits.keepalive_time_ms},
      {GRPC_ARG_KEEPALIVE_TIMEOUT_MS, limits.keepalive_timeout_ms},
      {GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
       limits.keepalive_min_client_ping_interval_ms},
      {GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS,
       limits.keepalive_permit_without_calls ? 1 : 0},
  };
  if (limits.max_connection_age_ms > 0) {
    args.emplace_back(GRPC_ARG_MAX_CONNECTION_AGE_MS, limits.max_connection_age_ms);
    args.emplace_back(GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS,
                      limits.max_connection_age_grace_ms);
  }
  return args;
}

}  // namespace mxgate
