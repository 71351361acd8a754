#!/usr/bin/env bash
# deploy/setup.sh — install what is missing (Debian 12 apt packages), then configure and build.
#
#   ./deploy/setup.sh [--no-build] [--build-dir DIR] [--target T]... [-- extra cmake configure args]
#
# Idempotent: apt-get runs only when dpkg-query reports a package as not installed; the build is
# incremental, and ccache keeps its cache in .cache/ccache inside the project so fresh CI clones of the
# same workspace rebuild fast. Environment: PROFILES_BUILD_DIR (default build), PROFILES_BUILD_TYPE
# (default Release), PROFILES_JOBS (default nproc).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${ROOT}"

BUILD_DIR="${PROFILES_BUILD_DIR:-build}"
BUILD_TYPE="${PROFILES_BUILD_TYPE:-Release}"
JOBS="${PROFILES_JOBS:-$(nproc)}"
DO_BUILD=1
TARGETS=()
CMAKE_EXTRA=()

usage() { sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; }

while (($#)); do
  case "$1" in
    --no-build) DO_BUILD=0 ;;
    --build-dir) BUILD_DIR="$2"; shift ;;
    --target) TARGETS+=("$2"); shift ;;
    -h | --help) usage; exit 0 ;;
    --) shift; CMAKE_EXTRA=("$@"); break ;;
    *) echo "setup.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done

PACKAGES=(
  build-essential cmake ninja-build pkg-config ccache
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libabsl-dev grpc-proto
  libpqxx-dev postgresql-15 postgresql-15-wal2json postgresql-contrib libgtest-dev libgmock-dev libbenchmark-dev
  qt6-base-dev qt6-declarative-dev qt6-declarative-dev-tools qt6-qpa-plugins libqt6network6
  qt6-image-formats-plugins
  qml6-module-qtquick qml6-module-qtquick-controls qml6-module-qtquick-templates
  qml6-module-qtquick-layouts qml6-module-qtquick-dialogs qml6-module-qtquick-window
  qml6-module-qtqml qml6-module-qtqml-models qml6-module-qtqml-workerscript
  qml6-module-qt-labs-folderlistmodel qml6-module-qtcore qml6-module-qttest
  libboost-dev libcpp-httplib-dev zlib1g-dev nginx wrk xvfb xauth libgl1-mesa-dri curl
  fonts-roboto fonts-material-design-icons-iconfont
  chromium libjwt-dev libssl-dev openssl
  libpng-dev libjpeg62-turbo-dev libwebp-dev libgif-dev
  clang libclang-rt-14-dev
  prometheus-cpp-dev
  python3-yaml
)
# chromium: tests/e2e/browser_cors_test.cc calls the REST API from a web page in a real browser.
# libjwt-dev, libssl-dev: bearer tokens (services/profile/auth/).
# clang, libclang-rt-14-dev: the libFuzzer targets (tests/fuzz; libclang_rt.fuzzer-x86_64.a is in
# libclang-rt-14-dev), built in build-fuzz/ by deploy/test.sh.
# libpng-dev, libjpeg62-turbo-dev, libwebp-dev, libgif-dev: decoding and stripping uploaded pictures
# (services/profile/pictures/) and making test pictures (tests/support/test_images.cc).
# prometheus-cpp-dev: the metrics behind GET /metrics (services/profile/metrics/; core library only).
# postgresql-15-wal2json: the logical decoding output plugin the change feed reads its replication
# slot with (services/profile/storage/wal_sequencer.h); deploy/postgres.sh starts every cluster with
# wal_level=logical.
# python3-yaml: tests/deploy/deploy_check.py reads the compose file and the Kubernetes manifests.
# Note: on Debian 12 pgbench ships in postgresql-15 itself (/usr/lib/postgresql/15/bin/pgbench);
# postgresql-contrib is a small metapackage kept for the extensions.

missing=()
for pkg in "${PACKAGES[@]}"; do
  status="$(dpkg-query -W -f='${db:Status-Status}' "${pkg}" 2>/dev/null || true)"
  if [[ "${status}" != "installed" ]]; then
    missing+=("${pkg}")
  fi
done

SUDO=()
if [[ "$(id -u)" -ne 0 ]] && command -v sudo >/dev/null 2>&1; then
  SUDO=(sudo)
fi
if ((${#missing[@]})); then
  echo "setup.sh: installing ${#missing[@]} missing package(s): ${missing[*]}"
  if [[ "$(id -u)" -ne 0 && ${#SUDO[@]} -eq 0 ]]; then
    echo "setup.sh: these packages are missing and you are not root and sudo is not available:" >&2
    echo "  ${missing[*]}" >&2
    echo "Install them as root with: apt-get update && apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 1
  fi
  "${SUDO[@]}" apt-get update
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
else
  echo "setup.sh: all ${#PACKAGES[@]} apt packages already installed"
fi

# tests/grpc-js: a grpc-js client with default settings, for the end-to-end tests. Debian's nodejs/npm
# only when the machine has no Node.js of its own.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "setup.sh: installing Node.js and npm for tests/grpc-js"
  "${SUDO[@]}" apt-get update
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nodejs npm
fi
if [[ ! -d tests/grpc-js/node_modules || tests/grpc-js/package-lock.json -nt tests/grpc-js/node_modules ]]; then
  echo "setup.sh: installing tests/grpc-js's npm packages"
  npm ci --prefix tests/grpc-js --no-audit --no-fund --loglevel=error
  touch tests/grpc-js/node_modules
fi

if ((DO_BUILD == 0)); then
  exit 0
fi

export CCACHE_DIR="${CCACHE_DIR:-${ROOT}/.cache/ccache}"
export CCACHE_MAXSIZE="${CCACHE_MAXSIZE:-2G}"
# Different checkouts (CI clones) share hits when paths are rewritten relative to the project.
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-${ROOT}}"
mkdir -p "${CCACHE_DIR}"

echo "setup.sh: configuring ${BUILD_DIR} (${BUILD_TYPE})"
cmake -S . -B "${BUILD_DIR}" -G Ninja -DCMAKE_BUILD_TYPE="${BUILD_TYPE}" "${CMAKE_EXTRA[@]}" >/dev/null

build_args=(--build "${BUILD_DIR}" -j"${JOBS}")
if ((${#TARGETS[@]})); then
  build_args+=(--target "${TARGETS[@]}")
fi
echo "setup.sh: building (${JOBS} jobs${TARGETS[*]:+, targets: ${TARGETS[*]}})"
start=${SECONDS}
cmake "${build_args[@]}"
echo "setup.sh: build done in $((SECONDS - start)) s"
