// Test-only: a throwaway CA, a server certificate for 127.0.0.1/localhost
// (subjectAltName) and a client certificate, made with /usr/bin/openssl in a
// fresh temporary directory that is removed afterwards. Header-only; used by
// listener_config_test and tls_integration_test.
#ifndef MXGATE_TESTS_INTEGRATION_TEST_CERTS_H_
#define MXGATE_TESTS_INTEGRATION_TEST_CERTS_H_

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <system_error>

#include "absl/strings/str_cat.h"

namespace mxgate::testing {

class TestCerts {
 public:
  TestCerts() {
    char dir_template[] = "/tmp/mxgate-test-certs-XXXXXX";
    if (mkdtemp(dir_template) == nullptr) return;
    dir_ = dir_template;
    // P-256 keys: quick to make. Valid for one day.
    const std::string script = absl::StrCat(
        "set -e; cd '", dir_, "'\n",
        "key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out $1; "
        "}\n",
        "key ca.key; key server.key; key client.key\n",
        "openssl req -x509 -new -key ca.key -subj /CN=mxgate-test-ca -days 1 "
        "-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign "
        "-out ca.pem\n",
        "sign() {\n"
        "  openssl req -new -key $1.key -subj /CN=$1 -out $1.csr\n"
        "  printf '%s\\n' \"$2\" > $1.ext\n"
        "  openssl x509 -req -in $1.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
        "-days 1 -extfile $1.ext -out $1.pem\n"
        "}\n",
        "sign server 'subjectAltName=IP:127.0.0.1,DNS:localhost'\n",
        "sign client 'extendedKeyUsage=clientAuth'\n");
    const std::string command =
        absl::StrCat("/bin/sh -c \"$MXGATE_CERT_SCRIPT\" >'", dir_, "/openssl.log' 2>&1");
    setenv("MXGATE_CERT_SCRIPT", script.c_str(), 1);
    ok_ = std::system(command.c_str()) == 0;
    unsetenv("MXGATE_CERT_SCRIPT");
  }
  ~TestCerts() {
    std::error_code ignored;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ignored);
  }
  TestCerts(const TestCerts&) = delete;
  TestCerts& operator=(const TestCerts&) = delete;

  // False when openssl failed; Log() says why.
  bool ok() const { return ok_; }
  std::string Log() const { return Read("openssl.log"); }

  // Paths: `name` is ca, server or client; `kind` is pem or key.
  std::string Path(const std::string& name, const std::string& kind) const {
    return absl::StrCat(dir_, "/", name, ".", kind);
  }
  std::string Read(const std::string& file) const {
    std::ifstream in(absl::StrCat(dir_, "/", file));
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  bool ok_ = false;
};

}  // namespace mxgate::testing

#endif  // MXGATE_TESTS_INTEGRATION_TEST_CERTS_H_
