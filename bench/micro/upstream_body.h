// The fixed 202 body the nginx upstream answers (bench/upstream/
// member_response_body.json, the sandbox's answer to the benchmark's
// request), so the micro-benchmarks decode exactly what the load runs do.
#ifndef MXGATE_BENCH_MICRO_UPSTREAM_BODY_H_
#define MXGATE_BENCH_MICRO_UPSTREAM_BODY_H_

#include <fstream>
#include <sstream>
#include <string>

namespace mxgate {
namespace bench {

// Read once; MXGATE_BENCH_MEMBER_BODY_FILE is set by bench/CMakeLists.txt.
inline const std::string& MemberResponseBody() {
  static const std::string* const body = [] {
    std::ifstream file(MXGATE_BENCH_MEMBER_BODY_FILE);
    std::stringstream text;
    text << file.rdbuf();
    return new std::string(text.str());
  }();
  return *body;
}

}  // namespace bench
}  // namespace mxgate

#endif  // MXGATE_BENCH_MICRO_UPSTREAM_BODY_H_
