// The one CreateMember request every benchmark path sends (D, G and the
// micro-benchmarks; bench/node/sdk_load.js sends the same JSON body): a
// non-OAuth mxbank member with two credentials and one product, the
// common case. The sandbox accepts it (seeded user and institution) and
// answers 202, as the nginx upstream always does.
#ifndef MXGATE_BENCH_BENCH_REQUEST_H_
#define MXGATE_BENCH_BENCH_REQUEST_H_

#include "mx/platform/v1/member_service.pb.h"

namespace mxgate {
namespace bench {

::mx::platform::v1::CreateMemberRequest BenchCreateMemberRequest();

}  // namespace bench
}  // namespace mxgate

#endif  // MXGATE_BENCH_BENCH_REQUEST_H_
