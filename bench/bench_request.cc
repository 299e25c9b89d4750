#include "bench/bench_request.h"

namespace mxgate {
namespace bench {

::mx::platform::v1::CreateMemberRequest BenchCreateMemberRequest() {
  ::mx::platform::v1::CreateMemberRequest request;
  request.set_user_identifier("demo-user");
  auto* member = request.mutable_member();
  member->set_institution_code("mxbank");
  auto* login = member->add_credentials();
  login->set_guid("CRD-1b2c3d4e-5f60-4a7b-8c9d-0e1f2a3b4c5d");
  login->set_value("mxuser");
  auto* password = member->add_credentials();
  password->set_guid("CRD-2c3d4e5f-6071-4b8c-9dae-1f2a3b4c5d6e");
  password->set_value("benchmark-password");
  request.mutable_data_request()->add_products(::mx::platform::v1::PRODUCT_TRANSACTIONS);
  return request;
}

}  // namespace bench
}  // namespace mxgate
