"""The project's Bazel macros: the counterparts of its CMake functions.

mxgate_library   service/CMakeLists.txt's mxgate_library: one file, one target.
mxgate_tests     tests/CMakeLists.txt's mxgate_tests: a cc_test per *_test.cc.
mxgate_script_test  a Python or Node test registered with add_test.

scripts/check_build_lists.py reads BUILD.bazel files by running them as
Python with stand-ins for these macros' native calls: keep them plain
Starlark (no `rule()`, no `struct`), and keep the version below equal to
CMakeLists.txt's project(VERSION), which it checks too.
"""

# The version in `User-Agent: mxgate/<version>` (CMakeLists.txt: project()).
MXGATE_VERSION = "0.1.0"

# As CMake's MXGATE_WARNINGS: warnings are errors on the project's own code.
# Generated and system headers come through -isystem and stay quiet.
MXGATE_COPTS = ["-Wall", "-Wextra", "-Werror"]

# As CMake's add_compile_definitions. Bazel splits defines as a shell
# would, so a quote that must reach the compiler is escaped.
MXGATE_LOCAL_DEFINES = ['MXGATE_VERSION=\\"%s\\"' % MXGATE_VERSION]

# Where tests find what the build made, relative to the runfiles root (a
# test's working directory): the copies made by //tests:binaries, and the
# stubs of //client:python_stubs. CMake's are build/bin and build/python.
TEST_BIN_DIR = "tests/bin"
TEST_PYTHON_STUBS_DIR = "client/python_stubs"

# What every test may read, in runfiles: MXGATE_SOURCE_DIR/README.md,
# MXGATE_TESTDATA_DIR and MXGATE_SPEC_DIR.
_TEST_FILES = ["//:README.md", "//tests:testdata", "//third_party/mx-openapi:specs"]

# The three binaries integration tests start, as //tests:binaries copies.
_TEST_BINARIES = ["//tests:bin/mxgate", "//tests:bin/mx-sandbox", "//tests:bin/mxgate-cli"]

def mxgate_library(name, deps = [], **kwargs):
    """`name.cc` and `name.h` in this folder as one library, like CMake's."""
    native.cc_library(
        name = name,
        srcs = [name + ".cc"],
        hdrs = [name + ".h"],
        copts = MXGATE_COPTS,
        local_defines = MXGATE_LOCAL_DEFINES,
        deps = deps,
        **kwargs
    )

def mxgate_tests(folder, deps, data = [], exclusive = []):
    """A cc_test per `folder/*_test.cc`, named after the file, as in CMake.

    Each test also gets the headers tests share (//tests:test_helpers),
    GoogleTest and GoogleMock, and the compile definitions
    tests/CMakeLists.txt gives, here as paths relative to the runfiles root,
    which is where Bazel starts a test. The tests named in `exclusive` run
    alone (tags = ["exclusive"], CMake's RUN_SERIAL).
    """
    for src in native.glob([folder + "/*_test.cc"]):
        name = src[len(folder) + 1:-len(".cc")]
        native.cc_test(
            name = name,
            srcs = [src],
            copts = MXGATE_COPTS,
            local_defines = MXGATE_LOCAL_DEFINES + [
                'MXGATE_SOURCE_DIR=\\".\\"',
                'MXGATE_TESTDATA_DIR=\\"tests/testdata\\"',
                'MXGATE_BIN_DIR=\\"%s\\"' % TEST_BIN_DIR,
                'MXGATE_SPEC_DIR=\\"third_party/mx-openapi\\"',
            ],
            deps = deps + ["//tests:test_helpers", "@system//:gmock", "@system//:gtest_main"],
            data = _TEST_FILES + data,
            # Static, as CMake's libraries: no .so per library to build.
            linkstatic = True,
            # 60 s for the whole binary: the slowest takes under 10 s.
            size = "small",
            tags = ["exclusive"] if name in exclusive else [],
        )

def mxgate_script_test(name, interpreter, script, args = [], data = [], **kwargs):
    """A test script run as tests/CMakeLists.txt's add_test runs it.

    //bazel:script_test.sh builds a copy of the source tree in which
    build/bin and build/python are Bazel's, and replaces @SOURCE_DIR@,
    @BIN_DIR@ and @PYTHON_STUBS_DIR@ in `args` with its paths. Other
    arguments (tags, size) go to the sh_test; size is small (60 s) unless
    given.
    """
    kwargs.setdefault("size", "small")
    native.sh_test(
        name = name,
        srcs = ["//bazel:script_test.sh"],
        args = [TEST_BIN_DIR, TEST_PYTHON_STUBS_DIR, interpreter, "$(location %s)" % script] + args,
        data = [
            script,
            "//:package.json",
            "//:package-lock.json",
            "//client:python_stubs",
            "//tests:pylib",
        ] + _TEST_FILES + _TEST_BINARIES + data,
        **kwargs
    )
