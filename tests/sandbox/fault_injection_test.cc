// The sandbox's fault rules: parsing and selection (fault_injection.h), and
// what each fault does on the wire through the real HTTP server
// (sandbox_server.h), seen from raw sockets and cpp-httplib's client.
#include "sandbox/fault_injection.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "rapidjson/document.h"
#include "sandbox/mx_sandbox.h"
#include "sandbox/sandbox_server.h"

namespace mxgate {
namespace sandbox {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

// ---- Parsing --------------------------------------------------------------

TEST(ParseFaultRules, ReadsEveryFieldAndTheDefaults) {
  absl::StatusOr<std::vector<FaultRule>> rules = ParseFaultRules(R"([
    {"fault":"reset_after_request","path_prefix":"/users/","method":"POST",
     "count":1},
    {"fault":"http_error","status":429,"fraction":0.5},
    {"fault":"http_error","status":503,"retry_after_s":7},
    {"fault":"http_error","status":502},
    {"fault":"latency","latency_ms":250},
    {"fault":"oversized_body"},
    {"fault":"endless_body"},
    {"fault":"slow_body","chunk_bytes":3,"interval_ms":0}])");
  ASSERT_TRUE(rules.ok()) << rules.status();
  ASSERT_EQ(rules->size(), 8u);
  const std::vector<FaultRule>& r = *rules;
  EXPECT_EQ(r[0].fault, FaultKind::kResetAfterRequest);
  EXPECT_EQ(r[0].method, "POST");
  EXPECT_EQ(r[0].path_prefix, "/users/");
  EXPECT_EQ(r[0].count, 1);
  EXPECT_EQ(r[0].fraction, 1.0);
  EXPECT_EQ(r[1].status, 429);
  EXPECT_EQ(r[1].retry_after_s, 1);  // 429 and 503 default to 1 s
  EXPECT_EQ(r[1].count, -1);         // no limit
  EXPECT_EQ(r[1].fraction, 0.5);
  EXPECT_EQ(r[2].retry_after_s, 7);
  EXPECT_EQ(r[3].retry_after_s, -1);  // 502: no Retry-After
  EXPECT_EQ(r[4].latency_ms, 250);
  EXPECT_EQ(r[5].body_bytes, size_t{9} << 20);  // above mxgate's 8 MiB cap
  EXPECT_EQ(r[6].chunk_bytes, 1024u);
  EXPECT_EQ(r[6].interval_ms, 10);
  EXPECT_EQ(r[7].chunk_bytes, 3u);
  EXPECT_EQ(r[7].interval_ms, 0);
}

TEST(ParseFaultRules, AcceptsAnEmptyList) {
  absl::StatusOr<std::vector<FaultRule>> rules = ParseFaultRules("[]");
  ASSERT_TRUE(rules.ok());
  EXPECT_TRUE(rules->empty());
}

TEST(ParseFaultRules, RefusesBadRulesNamingTheRule) {
  const struct {
    const char* json;
    const char* message;
  } kCases[] = {
      {"", "expected a JSON array"},
      {R"({"fault":"latency"})", "expected a JSON array"},
      {R"([1])", "rule 0: not an object"},
      {R"([{}])", "rule 0: \"fault\" (a string) is required"},
      {R"([{"fault":"latency","latency_ms":1},{"fault":"boom"}])",
       "rule 1: unknown fault \"boom\""},
      {R"([{"fault":"latency"}])", "rule 0: latency needs latency_ms"},
      {R"([{"fault":"latency","latency_ms":0}])", "latency_ms must be"},
      {R"([{"fault":"latency","latency_ms":1.5}])", "latency_ms must be"},
      {R"([{"fault":"http_error"}])", "needs status 429, 500, 502, 503"},
      {R"([{"fault":"http_error","status":404}])", "needs status 429"},
      {R"([{"fault":"http_error","status":500,"retry_after_s":1}])",
       "retry_after_s is for status 429 and 503 only"},
      {R"([{"fault":"http_error","status":429,"retry_after_s":-2}])",
       "retry_after_s must be"},
      {R"([{"fault":"reset_after_request","latency_ms":5}])",
       "unknown key \"latency_ms\" for reset_after_request"},
      {R"([{"fault":"malformed_body","count":0}])", "count must be"},
      {R"([{"fault":"malformed_body","fraction":0}])", "fraction must be"},
      {R"([{"fault":"malformed_body","fraction":1.5}])", "fraction must be"},
      {R"([{"fault":"malformed_body","method":"post"}])", "upper case"},
      {R"([{"fault":"malformed_body","path_prefix":"users"}])",
       "path_prefix must be a string starting with /"},
      {R"([{"fault":"oversized_body","body_bytes":0}])", "body_bytes must be"},
      {R"([{"fault":"slow_body","chunk_bytes":0}])", "chunk_bytes must be"},
      {R"([{"fault":"endless_body","interval_ms":10001}])", "interval_ms must be"},
  };
  for (const auto& c : kCases) {
    absl::StatusOr<std::vector<FaultRule>> rules = ParseFaultRules(c.json);
    ASSERT_FALSE(rules.ok()) << c.json;
    EXPECT_EQ(rules.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(rules.status().message()), HasSubstr(c.message)) << c.json;
  }
}

TEST(FaultKinds, SayWhenMxActsAndWhenTheyStrike) {
  EXPECT_FALSE(MxActsFirst(FaultKind::kHttpError));
  EXPECT_FALSE(MxActsFirst(FaultKind::kResetBeforeRequest));
  for (FaultKind acted :
       {FaultKind::kLatency, FaultKind::kResetAfterRequest, FaultKind::kTruncatedBody,
        FaultKind::kMalformedBody, FaultKind::kOversizedBody, FaultKind::kEndlessBody,
        FaultKind::kSlowBody, FaultKind::kCloseAfterResponse}) {
    EXPECT_TRUE(MxActsFirst(acted)) << FaultName(acted);
    EXPECT_EQ(PhaseOf(acted), FaultPhase::kAfterRequest) << FaultName(acted);
  }
  EXPECT_EQ(PhaseOf(FaultKind::kResetBeforeRequest), FaultPhase::kBeforeRequest);
  EXPECT_EQ(FaultName(FaultKind::kCloseAfterResponse), "close_after_response");
}

TEST(MxErrorBody, HasMxsErrorShape) {
  for (int status : {429, 500, 502, 503, 504}) {
    rapidjson::Document doc;
    doc.Parse(MxErrorBody(status).c_str());
    ASSERT_TRUE(doc.IsObject()) << status;
    ASSERT_TRUE(doc["error"]["message"].IsString()) << status;
  }
  EXPECT_EQ(MxErrorBody(503),
            R"({"error":{"message":"The service is temporarily unavailable."}})");
}

TEST(PadJsonObject, GrowsToTheExactSizeAndStaysValidJson) {
  const std::string body = R"({"member":{"guid":"MBR-1"}})";
  const std::string padded = PadJsonObject(body, 1000);
  EXPECT_EQ(padded.size(), 1000u);
  rapidjson::Document doc;
  doc.Parse(padded.c_str());
  ASSERT_TRUE(doc.IsObject());
  EXPECT_STREQ(doc["member"]["guid"].GetString(), "MBR-1");
  EXPECT_EQ(PadJsonObject(body, 10), body);
}

// ---- Selection ------------------------------------------------------------

FaultRule Rule(FaultKind fault, std::string method = "", std::string path_prefix = "",
               int64_t count = -1, double fraction = 1.0) {
  FaultRule rule;
  rule.fault = fault;
  rule.method = std::move(method);
  rule.path_prefix = std::move(path_prefix);
  rule.count = count;
  rule.fraction = fraction;
  return rule;
}

TEST(FaultInjector, MatchesMethodAndPathPrefix) {
  FaultInjector faults;
  faults.Set({Rule(FaultKind::kMalformedBody, "POST", "/users/")});
  EXPECT_FALSE(faults.Pick(FaultPhase::kAfterRequest, "GET", "/users/u/members"));
  EXPECT_FALSE(faults.Pick(FaultPhase::kAfterRequest, "POST", "/institutions/x"));
  EXPECT_FALSE(faults.Pick(FaultPhase::kAfterRequest, "POST", "/users"));
  absl::optional<FaultRule> hit =
      faults.Pick(FaultPhase::kAfterRequest, "POST", "/users/u/members");
  ASSERT_TRUE(hit.has_value());
  EXPECT_EQ(hit->fault, FaultKind::kMalformedBody);
}

TEST(FaultInjector, AnEmptyMethodOrPrefixMatchesAny) {
  FaultInjector faults;
  faults.Set({Rule(FaultKind::kMalformedBody)});
  EXPECT_TRUE(faults.Pick(FaultPhase::kAfterRequest, "DELETE", "/a"));
  EXPECT_TRUE(faults.Pick(FaultPhase::kAfterRequest, "GET", "/"));
}

TEST(FaultInjector, OnlyLooksAtRulesOfThePhase) {
  FaultInjector faults;
  faults.Set({Rule(FaultKind::kResetBeforeRequest)});
  EXPECT_FALSE(faults.Pick(FaultPhase::kAfterRequest, "POST", "/users/u"));
  EXPECT_TRUE(faults.Pick(FaultPhase::kBeforeRequest, "POST", "/users/u"));
}

TEST(FaultInjector, FiresCountTimesThenLetsRequestsThrough) {
  FaultInjector faults;
  faults.Set({Rule(FaultKind::kResetAfterRequest, "POST", "", /*count=*/2)});
  EXPECT_EQ(faults.StatsJson(), R"({"rules":1,"injected":0})");
  EXPECT_TRUE(faults.Pick(FaultPhase::kAfterRequest, "POST", "/x"));
  EXPECT_FALSE(faults.Pick(FaultPhase::kAfterRequest, "GET", "/x"));
  EXPECT_TRUE(faults.Pick(FaultPhase::kAfterRequest, "POST", "/x"));
  EXPECT_FALSE(faults.Pick(FaultPhase::kAfterRequest, "POST", "/x"));
  EXPECT_EQ(faults.StatsJson(), R"({"rules":0,"injected":2})");
}

TEST(FaultInjector, TheFirstRuleThatFiresWinsAndLaterOnesServeAfterIt) {
  FaultInjector faults;
  faults.Set(
      {Rule(FaultKind::kResetAfterRequest, "", "", 1), Rule(FaultKind::kMalformedBody)});
  EXPECT_EQ(faults.Pick(FaultPhase::kAfterRequest, "POST", "/x")->fault,
            FaultKind::kResetAfterRequest);
  EXPECT_EQ(faults.Pick(FaultPhase::kAfterRequest, "POST", "/x")->fault,
            FaultKind::kMalformedBody);
}

TEST(FaultInjector, FractionHitsTheRequestsWhoseDrawIsBelowIt) {
  const std::vector<double> draws = {0.1, 0.9, 0.49, 0.5, 0.0};
  size_t next = 0;
  FaultInjector faults([&] { return draws[next++ % draws.size()]; });
  faults.Set({Rule(FaultKind::kMalformedBody, "", "", -1, 0.5)});
  std::vector<bool> hit;
  hit.reserve(5);
  for (int i = 0; i < 5; ++i) {
    hit.push_back(faults.Pick(FaultPhase::kAfterRequest, "GET", "/").has_value());
  }
  EXPECT_THAT(hit, ::testing::ElementsAre(true, false, true, false, true));
  EXPECT_EQ(next, 5u);  // one draw per matching request
}

TEST(FaultInjector, AMissedFractionDoesNotSpendTheCount) {
  const std::vector<double> draws = {0.9, 0.1};
  size_t next = 0;
  FaultInjector faults([&] { return draws[next++ % draws.size()]; });
  faults.Set({Rule(FaultKind::kMalformedBody, "", "", 1, 0.5)});
  EXPECT_FALSE(faults.Pick(FaultPhase::kAfterRequest, "GET", "/"));
  EXPECT_TRUE(faults.Pick(FaultPhase::kAfterRequest, "GET", "/"));
  EXPECT_FALSE(faults.Pick(FaultPhase::kAfterRequest, "GET", "/"));
}

TEST(FaultInjector, TheRealDrawHitsAboutTheFraction) {
  FaultInjector faults;
  faults.Set({Rule(FaultKind::kMalformedBody, "", "", -1, 0.25)});
  int hits = 0;
  for (int i = 0; i < 4000; ++i) {
    if (faults.Pick(FaultPhase::kAfterRequest, "GET", "/")) ++hits;
  }
  EXPECT_GT(hits, 800);  // 1000 expected; 6+ sigma either way
  EXPECT_LT(hits, 1200);
}

TEST(FaultInjector, ClearRemovesEveryRule) {
  FaultInjector faults;
  faults.Set({Rule(FaultKind::kMalformedBody)});
  faults.Clear();
  EXPECT_FALSE(faults.Pick(FaultPhase::kAfterRequest, "GET", "/"));
}

// ---- On the wire, through the real server ----------------------------------

constexpr char kMxBankBody[] =
    R"({"member":{"institution_code":"mxbank","credentials":[)"
    R"({"guid":"CRD-1b2c3d4e-5f60-4a7b-8c9d-0e1f2a3b4c5d","value":"mxuser"},)"
    R"({"guid":"CRD-2c3d4e5f-6071-4b8c-9dae-1f2a3b4c5d6e","value":"pw"}]}})";

// A raw HTTP/1.1 exchange: what came back before EOF or an error, and the
// error (0 at a clean EOF).
struct RawResult {
  std::string data;
  int error = 0;
};

// A sandbox on a free loopback port, served on a thread.
class ServedSandbox {
 public:
  explicit ServedSandbox(std::string faults = "") {
    ServerOptions options;
    options.listen = "127.0.0.1:0";
    options.log = nullptr;
    options.faults = std::move(faults);
    absl::StatusOr<std::unique_ptr<SandboxServer>> server = SandboxServer::Bind(options);
    EXPECT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    serving_ = std::thread([this] { server_->Serve(); });
    client_ = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
    client_->set_basic_auth(kDefaultClientId, kDefaultApiKey);
  }
  ~ServedSandbox() {
    server_->Shutdown();
    serving_.join();
  }

  httplib::Client& client() { return *client_; }

  httplib::Result Faults(const std::string& method, const std::string& body = "") {
    httplib::Client control("127.0.0.1", server_->port());
    if (method == "POST") {
      return control.Post("/_sandbox/faults", body, "application/json");
    }
    if (method == "DELETE") return control.Delete("/_sandbox/faults");
    return control.Get("/_sandbox/faults");
  }

  int MembersCreated() {
    httplib::Client control("127.0.0.1", server_->port());
    httplib::Result stats = control.Get("/_sandbox/stats");
    if (!stats) return -1;
    rapidjson::Document doc;
    doc.Parse(stats->body.c_str());
    return doc["members_created"].GetInt();
  }

  httplib::Result Create() {
    return client_->Post(
        "/users/demo-user/members",
        {{"Accept-Version", "v20250224"}, {"Accept", "application/json"}}, kMxBankBody,
        "application/json");
  }

  // Sends a create on a fresh connection and reads until EOF, an error or
  // `read_for` has passed. `keep_alive` false asks the server to close
  // after its answer.
  RawResult RawCreate(absl::Duration read_for = absl::Seconds(5),
                      bool keep_alive = false) {
    const std::string auth =
        absl::Base64Escape(absl::StrCat(kDefaultClientId, ":", kDefaultApiKey));
    const std::string body = kMxBankBody;
    return Raw(
        absl::StrCat("POST /users/demo-user/members HTTP/1.1\r\nHost: x\r\n"
                     "Authorization: Basic ",
                     auth,
                     "\r\nAccept-Version: v20250224\r\nAccept: application/json\r\n"
                     "Content-Type: application/json\r\n",
                     keep_alive ? "" : "Connection: close\r\n",
                     "Content-Length: ", body.size(), "\r\n\r\n", body),
        read_for);
  }

  RawResult Raw(const std::string& request, absl::Duration read_for) {
    RawResult result;
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(server_->port()));
    inet_pton(AF_INET, "127.0.0.1", &address.sin_addr);
    timeval tick{0, 50000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tick, sizeof(tick));
    if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
        send(fd, request.data(), request.size(), MSG_NOSIGNAL) < 0) {
      result.error = errno;
      close(fd);
      return result;
    }
    const absl::Time give_up = absl::Now() + read_for;
    char chunk[65536];
    while (absl::Now() < give_up) {
      const ssize_t n = recv(fd, chunk, sizeof(chunk), 0);
      if (n > 0) {
        result.data.append(chunk, static_cast<size_t>(n));
      } else if (n == 0) {
        break;
      } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        result.error = errno;
        break;
      }
    }
    close(fd);
    return result;
  }

 private:
  std::unique_ptr<SandboxServer> server_;
  std::thread serving_;
  std::unique_ptr<httplib::Client> client_;
};

std::string HeaderOf(const std::string& response, const std::string& name) {
  const std::string key = "\r\n" + name + ": ";
  const size_t at = response.find(key);
  if (at == std::string::npos) return "";
  const size_t end = response.find("\r\n", at + key.size());
  return response.substr(at + key.size(), end - at - key.size());
}

std::string BodyOf(const std::string& response) {
  const size_t at = response.find("\r\n\r\n");
  return at == std::string::npos ? "" : response.substr(at + 4);
}

TEST(FaultControl, SetsReadsAndClearsRules) {
  ServedSandbox sandbox;
  httplib::Result set =
      sandbox.Faults("POST", R"([{"fault":"http_error","status":503,"count":2}])");
  ASSERT_TRUE(set);
  EXPECT_EQ(set->status, 200);
  EXPECT_EQ(set->body, R"({"rules":1,"injected":0})");
  ASSERT_TRUE(sandbox.Create());
  httplib::Result read = sandbox.Faults("GET");
  ASSERT_TRUE(read);
  EXPECT_EQ(read->body, R"({"rules":1,"injected":1})");
  httplib::Result cleared = sandbox.Faults("DELETE");
  ASSERT_TRUE(cleared);
  EXPECT_EQ(cleared->body, R"({"rules":0,"injected":1})");
  httplib::Result created = sandbox.Create();
  ASSERT_TRUE(created);
  EXPECT_EQ(created->status, 202);
}

TEST(FaultControl, RefusesBadRulesWithAnMxErrorBodyAndKeepsTheOldOnes) {
  ServedSandbox sandbox;
  ASSERT_TRUE(sandbox.Faults("POST", R"([{"fault":"http_error","status":503}])"));
  httplib::Result bad = sandbox.Faults("POST", R"([{"fault":"nope"}])");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  rapidjson::Document doc;
  doc.Parse(bad->body.c_str());
  ASSERT_TRUE(doc.IsObject()) << bad->body;
  EXPECT_STREQ(doc["error"]["message"].GetString(), "rule 0: unknown fault 'nope'");
  httplib::Result still = sandbox.Create();
  ASSERT_TRUE(still);
  EXPECT_EQ(still->status, 503);
}

TEST(FaultControl, ControlRoutesAreNeverFaulted) {
  ServedSandbox sandbox(R"([{"fault":"reset_before_request"}])");
  EXPECT_EQ(sandbox.MembersCreated(), 0);
  httplib::Result read = sandbox.Faults("GET");
  ASSERT_TRUE(read);
  EXPECT_EQ(read->status, 200);
  httplib::Result put = sandbox.client().Put("/_sandbox/faults", "", "text/plain");
  ASSERT_TRUE(put);
  EXPECT_EQ(put->status, 405);
}

TEST(SandboxMain, RefusesBadFaultsAtStartup) {
  ServerOptions options;
  options.listen = "127.0.0.1:0";
  options.faults = R"([{"fault":"latency"}])";
  absl::StatusOr<std::unique_ptr<SandboxServer>> server = SandboxServer::Bind(options);
  ASSERT_FALSE(server.ok());
  EXPECT_EQ(server.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(server.status().message()),
              StartsWith("--faults: rule 0: latency needs latency_ms"));
}

TEST(FaultOnTheWire, HttpError429HasRetryAfterAndCreatesNothing) {
  ServedSandbox sandbox(R"([{"fault":"http_error","status":429,"retry_after_s":3}])");
  httplib::Result answer = sandbox.Create();
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->status, 429);
  EXPECT_EQ(answer->get_header_value("Retry-After"), "3");
  EXPECT_EQ(answer->get_header_value("Content-Type"), "application/json");
  EXPECT_EQ(answer->body, MxErrorBody(429));
  EXPECT_EQ(sandbox.MembersCreated(), 0);
}

TEST(FaultOnTheWire, HttpError500HasNoRetryAfter) {
  ServedSandbox sandbox(R"([{"fault":"http_error","status":500}])");
  httplib::Result answer = sandbox.Create();
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->status, 500);
  EXPECT_FALSE(answer->has_header("Retry-After"));
  EXPECT_EQ(sandbox.MembersCreated(), 0);
}

TEST(FaultOnTheWire, LatencyDelaysTheAnswerAfterCreating) {
  ServedSandbox sandbox(R"([{"fault":"latency","latency_ms":300}])");
  const absl::Time start = absl::Now();
  httplib::Result answer = sandbox.Create();
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->status, 202);
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(300));
  EXPECT_EQ(sandbox.MembersCreated(), 1);
}

TEST(FaultOnTheWire, ResetBeforeRequestResetsAndCreatesNothing) {
  ServedSandbox sandbox(R"([{"fault":"reset_before_request","count":1}])");
  RawResult raw = sandbox.RawCreate();
  EXPECT_EQ(raw.error, ECONNRESET) << raw.data;
  EXPECT_EQ(raw.data, "");
  EXPECT_EQ(sandbox.MembersCreated(), 0);
  // The server is unharmed: the next request is answered.
  RawResult next = sandbox.RawCreate();
  EXPECT_THAT(next.data, StartsWith("HTTP/1.1 202"));
  EXPECT_EQ(sandbox.MembersCreated(), 1);
}

TEST(FaultOnTheWire, ResetAfterRequestResetsAfterCreating) {
  ServedSandbox sandbox(R"([{"fault":"reset_after_request","count":1}])");
  RawResult raw = sandbox.RawCreate();
  EXPECT_EQ(raw.error, ECONNRESET) << raw.data;
  EXPECT_EQ(raw.data, "");
  EXPECT_EQ(sandbox.MembersCreated(), 1);
}

TEST(FaultOnTheWire, TruncatedBodySendsLessThanContentLengthThenCloses) {
  ServedSandbox sandbox(R"([{"fault":"truncated_body"}])");
  RawResult raw = sandbox.RawCreate();
  EXPECT_EQ(raw.error, 0);
  EXPECT_THAT(raw.data, StartsWith("HTTP/1.1 202"));
  size_t declared = 0;
  ASSERT_TRUE(absl::SimpleAtoi(HeaderOf(raw.data, "Content-Length"), &declared))
      << raw.data;
  const std::string body = BodyOf(raw.data);
  EXPECT_GT(body.size(), 0u);
  EXPECT_LT(body.size(), declared);
  EXPECT_THAT(body, StartsWith(R"({"member":{)"));
  EXPECT_EQ(sandbox.MembersCreated(), 1);
}

TEST(FaultOnTheWire, MalformedBodyKeepsMxsStatus) {
  ServedSandbox sandbox(R"([{"fault":"malformed_body"}])");
  httplib::Result answer = sandbox.Create();
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->status, 202);
  EXPECT_EQ(answer->body, kMalformedBody);
  rapidjson::Document doc;
  doc.Parse(answer->body.c_str());
  EXPECT_TRUE(doc.HasParseError());
  EXPECT_EQ(sandbox.MembersCreated(), 1);
}

TEST(FaultOnTheWire, OversizedBodyIsValidJsonOfTheSizeAsked) {
  ServedSandbox sandbox(R"([{"fault":"oversized_body","body_bytes":200000}])");
  httplib::Result answer = sandbox.Create();
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->status, 202);
  EXPECT_EQ(answer->body.size(), 200000u);
  rapidjson::Document doc;
  doc.Parse(answer->body.c_str());
  ASSERT_TRUE(doc.IsObject());
  EXPECT_THAT(doc["member"]["guid"].GetString(), StartsWith("MBR-"));
  EXPECT_EQ(sandbox.MembersCreated(), 1);
}

TEST(FaultOnTheWire, EndlessBodyNeverEnds) {
  ServedSandbox sandbox(
      R"([{"fault":"endless_body","chunk_bytes":100,"interval_ms":10}])");
  RawResult raw = sandbox.RawCreate(absl::Milliseconds(500));
  EXPECT_EQ(raw.error, 0);
  EXPECT_THAT(raw.data, StartsWith("HTTP/1.1 202"));
  EXPECT_EQ(HeaderOf(raw.data, "Transfer-Encoding"), "chunked");
  // 500 ms at 100 bytes per 10 ms: thousands of bytes, and no last chunk.
  EXPECT_GT(BodyOf(raw.data).size(), 1000u);
  EXPECT_FALSE(absl::EndsWith(raw.data, "\r\n0\r\n\r\n"));
  EXPECT_EQ(sandbox.MembersCreated(), 1);
  // The client left: the server stops writing and shuts down (destructor).
}

TEST(FaultOnTheWire, SlowBodyDripsTheWholeBody) {
  ServedSandbox sandbox(R"([{"fault":"slow_body","chunk_bytes":200,"interval_ms":40}])");
  const absl::Time start = absl::Now();
  httplib::Result answer = sandbox.Create();
  const absl::Duration took = absl::Now() - start;
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->status, 202);
  rapidjson::Document doc;
  doc.Parse(answer->body.c_str());
  EXPECT_TRUE(doc.IsObject());
  // ceil(size / 200) pieces, 40 ms apart.
  const int64_t pieces = static_cast<int64_t>((answer->body.size() + 199) / 200);
  EXPECT_GE(took, absl::Milliseconds(40 * (pieces - 1)));
  EXPECT_EQ(sandbox.MembersCreated(), 1);
}

TEST(FaultOnTheWire, CloseAfterResponseAnswersKeptAliveThenCloses) {
  ServedSandbox sandbox(R"([{"fault":"close_after_response","count":1}])");
  const absl::Time start = absl::Now();
  RawResult raw = sandbox.RawCreate(absl::Seconds(4), /*keep_alive=*/true);
  // Closed at once, not at httplib's 5 s keep-alive timeout.
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  EXPECT_EQ(raw.error, 0);  // a clean FIN
  EXPECT_THAT(raw.data, StartsWith("HTTP/1.1 202"));
  EXPECT_EQ(HeaderOf(raw.data, "Connection"), "");  // kept alive, it said
  size_t declared = 0;
  ASSERT_TRUE(absl::SimpleAtoi(HeaderOf(raw.data, "Content-Length"), &declared));
  EXPECT_EQ(BodyOf(raw.data).size(), declared);
  EXPECT_EQ(sandbox.MembersCreated(), 1);
}

TEST(FaultOnTheWire, FaultsRespectMethodAndPath) {
  ServedSandbox sandbox(
      R"([{"fault":"http_error","status":502,"method":"GET","path_prefix":"/users/"}])");
  httplib::Result created = sandbox.Create();
  ASSERT_TRUE(created);
  EXPECT_EQ(created->status, 202);
  httplib::Result read = sandbox.client().Get(
      "/users/demo-user/members/x",
      {{"Accept-Version", "v20250224"}, {"Accept", "application/json"}});
  ASSERT_TRUE(read);
  EXPECT_EQ(read->status, 502);
  httplib::Result other = sandbox.client().Get(
      "/institutions/mxbank/credentials",
      {{"Accept-Version", "v20250224"}, {"Accept", "application/json"}});
  ASSERT_TRUE(other);
  EXPECT_EQ(other->status, 200);
}

}  // namespace
}  // namespace sandbox
}  // namespace mxgate
