#!/usr/bin/python3
"""Creates an MX member through mxgate, from Python.

An example client: one CreateMember call with Debian's grpcio, the response
printed as JSON on stdout; on an error, the gRPC code and message and the
google.rpc details mxgate sends (ErrorInfo, BadRequest, RetryInfo), decoded
from the call's `grpc-status-details-bin` trailer, printed on stderr.

Run it with /usr/bin/python3 (Debian's python3-grpcio is installed for that
interpreter only). The generated stubs (mx.platform.v1 and google.rpc) are
not committed: `cmake --build build --target python_stubs` writes them to
build/python. The script looks for them, in this order, in --stubs DIR, in
$MXGATE_PYTHON_STUBS, then in build/python next to this checkout.

    /usr/bin/python3 client/python/create_member.py --target=127.0.0.1:50051 \\
        --user=demo-user --institution=mxbank \\
        --credential=CRD-1b2c3d4e-5f60-4a7b-8c9d-0e1f2a3b4c5d=mxuser \\
        --credential=CRD-2c3d4e5f-6071-4b8c-9dae-1f2a3b4c5d6e=any-password \\
        --product=transactions

Exit status: 0 on success, 1 on an RPC error, 2 on a usage error.
"""
import argparse
import json
import os
import sys

DEFAULT_STUBS = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                             "..", "..", "build", "python")


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description="Create an MX member through mxgate (one CreateMember call).")
    parser.add_argument("--target", default="127.0.0.1:50051",
                        help="mxgate's HOST:PORT (default %(default)s)")
    parser.add_argument("--user", required=True,
                        help="your user id or MX's user guid (USR-...)")
    parser.add_argument("--institution", required=True,
                        help="the institution code, e.g. mxbank")
    parser.add_argument("--credential", action="append", default=[], metavar="GUID=VALUE",
                        help="a credential field's guid (CRD-...) and its value; repeat it")
    parser.add_argument("--product", action="append", default=[], metavar="PRODUCT",
                        help="a product to aggregate, e.g. transactions; repeat it")
    parser.add_argument("--timeout", type=float, default=30.0,
                        help="deadline of the call in seconds (default %(default)s)")
    parser.add_argument("--stubs", metavar="DIR",
                        default=os.environ.get("MXGATE_PYTHON_STUBS", DEFAULT_STUBS),
                        help="folder of the generated Python stubs "
                             "(default $MXGATE_PYTHON_STUBS, else build/python)")
    args = parser.parse_args(argv)
    for credential in args.credential:
        if "=" not in credential:
            parser.error(f"--credential wants GUID=VALUE, got {credential!r}")
    return args


def build_request(args, member_service_pb2, member_pb2):
    """The CreateMemberRequest the flags describe."""
    request = member_service_pb2.CreateMemberRequest(user_identifier=args.user)
    request.member.institution_code = args.institution
    for credential in args.credential:
        guid, value = credential.split("=", 1)
        request.member.credentials.add(guid=guid, value=value)
    for product in args.product:
        # "transactions" -> PRODUCT_TRANSACTIONS
        request.data_request.products.append(
            member_pb2.Product.Value("PRODUCT_" + product.upper()))
    return request


def format_error(error, status_pb2, error_details_pb2):
    """The lines describing a failed call: code, message, then each detail."""
    lines = [f"{error.code().name}: {error.details()}"]
    packed = dict(error.trailing_metadata() or ()).get("grpc-status-details-bin")
    if packed is None:
        return lines
    status = status_pb2.Status.FromString(packed)
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            lines.append(f"  ErrorInfo: reason={info.reason} domain={info.domain}")
            lines.extend(f"    {key}: {info.metadata[key]}" for key in sorted(info.metadata))
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad_request = error_details_pb2.BadRequest()
            detail.Unpack(bad_request)
            lines.append("  BadRequest:")
            lines.extend(f"    {violation.field}: {violation.description}"
                         for violation in bad_request.field_violations)
        elif detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            retry = error_details_pb2.RetryInfo()
            detail.Unpack(retry)
            delay = retry.retry_delay.seconds + retry.retry_delay.nanos / 1e9
            lines.append(f"  RetryInfo: retry in {delay:g}s")
        else:
            lines.append(f"  {detail.type_url}")
    return lines


def main(argv):
    args = parse_args(argv)
    sys.path.insert(0, os.path.abspath(args.stubs))
    try:
        import grpc
        from google.protobuf import json_format
        from google.rpc import error_details_pb2, status_pb2
        from mx.platform.v1 import member_pb2, member_service_pb2, member_service_pb2_grpc
    except ImportError as error:
        print(f"create_member.py: {error}; build the stubs (cmake --build build "
              "--target python_stubs) and pass --stubs or set MXGATE_PYTHON_STUBS",
              file=sys.stderr)
        return 2

    try:
        request = build_request(args, member_service_pb2, member_pb2)
    except ValueError as error:
        print(f"create_member.py: --product: {error}", file=sys.stderr)
        return 2

    with grpc.insecure_channel(args.target) as channel:
        stub = member_service_pb2_grpc.MemberServiceStub(channel)
        try:
            response = stub.CreateMember(request, timeout=args.timeout)
        except grpc.RpcError as error:
            print("\n".join(format_error(error, status_pb2, error_details_pb2)),
                  file=sys.stderr)
            return 1
    print(json.dumps(json_format.MessageToDict(response, preserving_proto_field_name=True),
                     indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
