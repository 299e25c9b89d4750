# Shared by scripts/run and scripts/test: install what is missing, build.
# Sourced, not run. Everything it does is printed, and it is idempotent.

MXGATE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MXGATE_BUILD="${MXGATE_BUILD:-$MXGATE_ROOT/build}"
MXGATE_CMAKE_ARGS=()

# Debian 12 packages the build, the tests and the scripts need.
MXGATE_APT_PACKAGES=(
  build-essential cmake ninja-build pkg-config
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev libcurl4-openssl-dev rapidjson-dev libcpp-httplib-dev
  libgtest-dev libgmock-dev grpc-proto golang-github-gogo-googleapis-dev
  libssl-dev python3 python3-yaml python3-grpcio python3-protobuf ca-certificates openssl
  prometheus-cpp-dev
  nginx-light  # tests/deploy/nginx_scale_out_test.py runs deploy/nginx
  clang libclang-rt-14-dev  # the libFuzzer targets of tests/fuzz
  libbenchmark-dev  # bench/micro
  bazel-bootstrap bazel-rules-java  # scripts/bazel_test: the Bazel build, offline
  clang-format-14 clang-tidy-14 cppcheck  # scripts/test: format, tidy and cppcheck stages
)

# What node_modules must hold (package.json's devDependencies): buf, and
# the libraries of the Node example clients (client/node).
MXGATE_NPM_MODULES=(
  .bin/buf @grpc/grpc-js @grpc/proto-loader grpc-js-reflection-client protobufjs
)

say() { printf '==> %s\n' "$*" >&2; }

install_deps() {
  local missing=()
  # Node and npm: Debian's, unless the machine already has a Node with npm
  # (NodeSource's nodejs bundles npm and conflicts with Debian's npm).
  command -v npm >/dev/null || missing+=(nodejs npm)
  for package in "${MXGATE_APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'ok installed' \
      || missing+=("$package")
  done
  if ((${#missing[@]})); then
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    say "apt: installing ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
      "${missing[@]}" >/dev/null
  else
    say "apt: all ${#MXGATE_APT_PACKAGES[@]} packages present"
  fi
  install_npm_modules
}

# npm ci (exactly package-lock.json) when a module is missing or the lock
# file changed since the last install (npm writes node_modules/.package-lock.json).
install_npm_modules() {
  local modules="$MXGATE_ROOT/node_modules" reason="" module
  for module in "${MXGATE_NPM_MODULES[@]}"; do
    [ -e "$modules/$module" ] || { reason="node_modules/$module is missing"; break; }
  done
  if [ -z "$reason" ] && [ "$MXGATE_ROOT/package-lock.json" -nt "$modules/.package-lock.json" ]; then
    reason="package-lock.json is newer than node_modules"
  fi
  if [ -n "$reason" ]; then
    say "npm: $reason; installing package-lock.json (npm ci: buf, @grpc/grpc-js, ...)"
    (cd "$MXGATE_ROOT" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  else
    say "npm: all ${#MXGATE_NPM_MODULES[@]} modules present and up to date"
  fi
}

build() {
  say "cmake: configuring and building in ${MXGATE_BUILD#"$MXGATE_ROOT"/}"
  cmake -S "$MXGATE_ROOT" -B "$MXGATE_BUILD" -G Ninja "${MXGATE_CMAKE_ARGS[@]}" >/dev/null
  cmake --build "$MXGATE_BUILD" -j"$(nproc)"
}
