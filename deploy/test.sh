#!/usr/bin/env bash
# deploy/test.sh — install what is missing, build, and run the whole test suite against a throwaway
# PostgreSQL 15 cluster (mktemp -d, free port, fsync off) that is removed afterwards, whatever the outcome.
#
#   ./deploy/test.sh [--sanitize] [--no-build] [-- extra ctest args, e.g. -R Repository]
#
#   --sanitize   build in build-asan with -DPROFILES_SANITIZE=ON (ASan + UBSan) and test there
#   --no-build   only check the apt packages, test what is already built
#
# Exit code: ctest's. Environment: PROFILES_BUILD_DIR (default build), PROFILES_TEST_TIMEOUT (per-test
# timeout, default 300 s), PROFILES_TEST_JOBS (ctest -j, default 2).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${ROOT}"

BUILD_DIR="${PROFILES_BUILD_DIR:-build}"
SETUP_ARGS=()
CMAKE_ARGS=()
CTEST_EXTRA=()
while (($#)); do
  case "$1" in
    --sanitize)
      BUILD_DIR="build-asan"
      CMAKE_ARGS+=(-DPROFILES_SANITIZE=ON)
      ;;
    --no-build) SETUP_ARGS+=(--no-build) ;;
    -h | --help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    --) shift; CTEST_EXTRA=("$@"); break ;;
    *) echo "test.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done

if ((${#CMAKE_ARGS[@]})); then
  export PROFILES_BUILD_TYPE=RelWithDebInfo
  export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}"
  export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
fi
./deploy/setup.sh --build-dir "${BUILD_DIR}" "${SETUP_ARGS[@]}" -- "${CMAKE_ARGS[@]}"

# shellcheck source=deploy/postgres.sh
. "${ROOT}/deploy/postgres.sh"

# shellcheck disable=SC2317  # invoked by trap
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  pg_throwaway_stop || true
  exit "${rc}"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

pg_throwaway_start 55432
export PROFILES_TEST_DATABASE_URL="postgresql://postgres@127.0.0.1:${PG_THROWAWAY_PORT}/postgres"
echo "test.sh: PROFILES_TEST_DATABASE_URL=${PROFILES_TEST_DATABASE_URL}"

start=${SECONDS}
set +e
ctest --test-dir "${BUILD_DIR}" --output-on-failure -j"${PROFILES_TEST_JOBS:-2}" \
  --timeout "${PROFILES_TEST_TIMEOUT:-300}" "${CTEST_EXTRA[@]}"
rc=$?
set -e
echo "test.sh: ctest finished in $((SECONDS - start)) s with exit code ${rc}"
exit "${rc}"
