"""Generated C++ (and Python) code from .proto files, with Debian's protoc.

The counterpart of proto/CMakeLists.txt's mxgate_generate: the same protoc
(3.21), plugin, -I folders and include paths, so `#include
"mx/platform/v1/member_service.grpc.pb.h"`, "google/rpc/status.pb.h" and
"grpc/health/v1/health.grpc.pb.h" work alike in both builds.
"""

PROTOC = "/usr/bin/protoc"
GRPC_CPP_PLUGIN = "/usr/bin/grpc_cpp_plugin"
GRPC_PYTHON_PLUGIN = "/usr/bin/grpc_python_plugin"

# google/rpc/{status,error_details}.proto: Debian's golang-github-gogo-googleapis-dev.
GOOGLEAPIS_PROTO_DIR = "/usr/share/gocode/src/github.com/gogo/googleapis"

# grpc/health/v1/health.proto: Debian's grpc-proto.
GRPC_PROTO_DIR = "/usr/share/grpc-proto"

# protoc's -I folders, in CMake's order; "proto" is this repository's.
PROTO_PATH = ["proto", GOOGLEAPIS_PROTO_DIR, GRPC_PROTO_DIR]

def protoc_command(out_flags, protos):
    """The genrule command running protoc on `protos` (paths under PROTO_PATH)."""
    return " ".join([PROTOC] + ["-I" + d for d in PROTO_PATH] + out_flags + protos)

def proto_cc_library(name, protos = [], grpc_protos = [], srcs = [], deps = [], **kwargs):
    """A cc_library of the C++ protoc makes from `protos` and `grpc_protos`.

    protos: paths as protoc sees them (mx/platform/v1/member.proto), for
        messages only (*.pb.h, *.pb.cc).
    grpc_protos: the same, with gRPC service code too (*.grpc.pb.h, .cc).
    srcs: this repository's files among them (labels), so a change rebuilds;
        the others are read from the system folders in PROTO_PATH.
    Generated files land in this package's output folder, which `includes`
    puts on the include path (as -isystem: no warnings from generated code).
    """
    stems = [p[:-len(".proto")] + ".pb" for p in protos + grpc_protos]
    stems += [p[:-len(".proto")] + ".grpc.pb" for p in grpc_protos]
    hdrs = [s + ".h" for s in stems]
    cc_srcs = [s + ".cc" for s in stems]
    out_flags = ["--cpp_out=$(RULEDIR)"]
    if grpc_protos:
        # protoc runs once per set of flags, as in CMake: the plugin sees only
        # the files that have services.
        commands = [
            protoc_command(out_flags, protos) if protos else None,
            protoc_command(out_flags + [
                "--grpc_out=$(RULEDIR)",
                "--plugin=protoc-gen-grpc=" + GRPC_CPP_PLUGIN,
            ], grpc_protos),
        ]
        cmd = " && ".join([c for c in commands if c])
    else:
        cmd = protoc_command(out_flags, protos)
    native.genrule(
        name = name + "_generate",
        srcs = srcs,
        outs = hdrs + cc_srcs,
        cmd = cmd,
        message = "protoc " + " ".join(protos + grpc_protos),
    )
    native.cc_library(
        name = name,
        srcs = cc_srcs,
        hdrs = hdrs,
        includes = ["."],
        deps = deps,
        **kwargs
    )
