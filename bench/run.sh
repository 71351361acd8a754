#!/usr/bin/env bash
# bench/run.sh — one benchmark run: PostgreSQL's own limit (pgbench) against the Profiles service's GET and
# UPDATE throughput over gRPC (profile_loadgen) and REST (wrk), on the same data, same concurrency.
#
#   ./bench/run.sh [--concurrency C] [--duration S] [--profiles K] [--no-build]
#
# Defaults: C=16, S=10, K=1000. Everything runs on this machine: a throwaway PostgreSQL 15 cluster
# (mktemp -d, free port, fsync off, as deploy/test.sh), the schema created by `profile_server
# --migrate-only`, K profiles created through the service, then:
#   1. pgbench -M prepared -c C on the `profiles` table (service stopped): point read by primary key, and
#      the conditional update (SET ..., version = version + 1 WHERE id = $1 AND version = $2 RETURNING
#      version, the version tracked per client like a real optimistic writer);
#   2. profile_server with --pool-size C: profile_loadgen get/update (gRPC), wrk GET, PATCH and PUT (REST).
# The table shows each figure and its ratio to the matching pgbench figure. Results are also written to
# BUILD_DIR/bench/results.txt. Everything started here is stopped by PID on exit.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${ROOT}"

CONCURRENCY=16
DURATION=10
PROFILES=1000
BUILD_DIR="${PROFILES_BUILD_DIR:-build}"
SETUP_ARGS=()
while (($#)); do
  case "$1" in
    --concurrency) CONCURRENCY="$2"; shift ;;
    --duration) DURATION="$2"; shift ;;
    --profiles) PROFILES="$2"; shift ;;
    --no-build) SETUP_ARGS+=(--no-build) ;;
    -h | --help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench/run.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done
if ((PROFILES < CONCURRENCY)); then
  echo "bench/run.sh: --profiles must be at least --concurrency" >&2
  exit 2
fi

./deploy/setup.sh --build-dir "${BUILD_DIR}" --target profile_server --target profile_loadgen "${SETUP_ARGS[@]}"
[[ "${BUILD_DIR}" == /* ]] || BUILD_DIR="${ROOT}/${BUILD_DIR}"
SERVER_BIN="${BUILD_DIR}/services/profile/profile_server"
LOADGEN_BIN="${BUILD_DIR}/bench/profile_loadgen"
for bin in "${SERVER_BIN}" "${LOADGEN_BIN}"; do
  [[ -x "${bin}" ]] || { echo "bench/run.sh: ${bin} was not built" >&2; exit 1; }
done
command -v wrk >/dev/null || { echo "bench/run.sh: wrk is not installed" >&2; exit 1; }

# shellcheck source=deploy/postgres.sh
. "${ROOT}/deploy/postgres.sh"

WORK="$(mktemp -d -t profiles-bench.XXXXXX)"
SERVER_PID=""

stop_server() {
  if [[ -n "${SERVER_PID}" ]] && kill -0 "${SERVER_PID}" 2>/dev/null; then
    kill -TERM "${SERVER_PID}" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
      kill -0 "${SERVER_PID}" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "${SERVER_PID}" 2>/dev/null || true
    wait "${SERVER_PID}" 2>/dev/null || true
  fi
  SERVER_PID=""
}

# shellcheck disable=SC2317  # invoked by trap
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_server
  pg_throwaway_stop || true
  rm -rf "${WORK}"
  exit "${rc}"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

pg_throwaway_start 55500
PG_DIR="${PG_THROWAWAY_DIR}"
pg_ensure_database "${PG_DIR}" profiles
export DATABASE_URL
DATABASE_URL="$(pg_url "${PG_DIR}" profiles)"
"${SERVER_BIN}" --database-url="${DATABASE_URL}" --migrate-only

GRPC_PORT="$(pg_free_port 55600)"
HTTP_PORT="$(pg_free_port $((GRPC_PORT + 1)))"
GRPC_ADDRESS="127.0.0.1:${GRPC_PORT}"
HTTP_BASE="http://127.0.0.1:${HTTP_PORT}"

start_server() {
  "${SERVER_BIN}" --database-url="${DATABASE_URL}" --grpc-address="${GRPC_ADDRESS}" \
    --http-address="127.0.0.1:${HTTP_PORT}" --pool-size="${CONCURRENCY}" >>"${WORK}/server.log" 2>&1 &
  SERVER_PID=$!
  local deadline=$((SECONDS + 60))
  until curl -fsS -o /dev/null --max-time 2 "${HTTP_BASE}/readyz" 2>/dev/null; do
    if ! kill -0 "${SERVER_PID}" 2>/dev/null || ((SECONDS >= deadline)); then
      echo "bench/run.sh: profile_server did not become ready; its log:" >&2
      tail -n 30 "${WORK}/server.log" >&2
      return 1
    fi
    sleep 0.2
  done
}

# Value of a numeric field in a one-line JSON object.
json_num() { sed -n "s/.*\"$2\":\\([0-9.]*\\).*/\\1/p" <<<"$1"; }

# Percentile (ms) of the latencies (µs, field 3) in pgbench's per-transaction logs.
log_percentile() {
  local prefix="$1" q="$2"
  cat "${prefix}".* | awk '{print $3}' | sort -n |
    awk -v q="${q}" '{v[NR] = $1} END {if (NR == 0) {print 0; exit} i = int(q * (NR - 1) + 0.5) + 1; printf "%.3f", v[i] / 1000}'
}

echo "bench/run.sh: creating ${PROFILES} profiles through the service"
start_server
"${LOADGEN_BIN}" --target="${GRPC_ADDRESS}" --profiles="${PROFILES}" --concurrency="${CONCURRENCY}" --seed_only
stop_server

# ---- 1. pgbench on the same table, service stopped ----
ID_EXPR="('00000000-0000-4000-8000-' || lpad(:n::text, 12, '0'))::uuid"
columns="$(pg_psql "${PG_DIR}" -d profiles -tA -c \
  "SELECT string_agg(column_name, ',' ORDER BY ordinal_position) FROM information_schema.columns
   WHERE table_name = 'profiles' AND column_name IN
   ('id','name','email','avatar','avatar_sha256','version','updated_at')")"
# The change-stream position columns of the schema (see services/profile/storage/change_cursor.h), when present,
# are written exactly as the service writes them.
extra_set=""
if [[ "$(pg_psql "${PG_DIR}" -d profiles -tA -c "SELECT count(*) FROM information_schema.columns
    WHERE table_name = 'profiles' AND column_name IN ('change_txid', 'change_seq')")" == 2 ]]; then
  extra_set=", change_txid = pg_current_xact_id(), change_seq = nextval('profile_change_seq')"
fi
cat >"${WORK}/read.sql" <<EOF
\\set n random(1, ${PROFILES})
SELECT ${columns:-*} FROM profiles WHERE id = ${ID_EXPR};
EOF
# Each client owns profile n = client_id + 1 and carries its version from one write to the next.
cat >"${WORK}/update.sql" <<EOF
\\set n :client_id + 1
\\set r random(1, 1000000000)
UPDATE profiles SET name = 'pgbench ' || :r, version = version + 1, updated_at = now()${extra_set}
  WHERE id = ${ID_EXPR} AND version = :v RETURNING version AS v \\gset
EOF
start_version="$(pg_psql "${PG_DIR}" -d profiles -tA -c "SELECT CASE WHEN count(DISTINCT version) = 1 THEN
  min(version) END FROM profiles WHERE id IN (SELECT ('00000000-0000-4000-8000-' || lpad(n::text, 12, '0'))::uuid
  FROM generate_series(1, ${CONCURRENCY}) n)")"
[[ -n "${start_version}" ]] || { echo "bench/run.sh: profiles 1..C differ in version" >&2; exit 1; }

PGBENCH=("${PG_BIN}/pgbench" -h 127.0.0.1 -p "${PG_THROWAWAY_PORT}" -U postgres -n -M prepared
  -c "${CONCURRENCY}" -j "$(nproc)" -T "${DURATION}" profiles)
run_pgbench() {
  local name="$1" script="$2" out="${WORK}/pgbench-$1.txt"
  shift 2
  (cd "${WORK}" && "${PGBENCH[@]}" -f "${script}" -l --log-prefix="${WORK}/pgb-${name}" "$@") >"${out}" 2>&1 || {
    cat "${out}" >&2
    return 1
  }
  sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "${out}" | head -n 1
}
echo "bench/run.sh: pgbench point read (${DURATION} s, ${CONCURRENCY} clients)"
PGB_READ_RPS="$(run_pgbench read "${WORK}/read.sql")"
PGB_READ_P50="$(log_percentile "${WORK}/pgb-read" 0.50)"
PGB_READ_P99="$(log_percentile "${WORK}/pgb-read" 0.99)"
echo "bench/run.sh: pgbench conditional update (${DURATION} s, ${CONCURRENCY} clients)"
PGB_UPD_RPS="$(run_pgbench update "${WORK}/update.sql" -D v="${start_version}")"
PGB_UPD_P50="$(log_percentile "${WORK}/pgb-update" 0.50)"
PGB_UPD_P99="$(log_percentile "${WORK}/pgb-update" 0.99)"
failed="$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "${WORK}/pgbench-update.txt")"
if grep -q 'client [0-9]* aborted' "${WORK}/pgbench-update.txt"; then
  echo "bench/run.sh: warning: pgbench update clients aborted (version mismatch?):" >&2
  grep 'aborted' "${WORK}/pgbench-update.txt" | head -n 3 >&2
fi

# ---- 2. the service ----
start_server
declare -A RPS P50 P99 NOTE
record() {  # key json-line
  local key="$1" line="$2"
  RPS[${key}]="$(json_num "${line}" rps)"
  P50[${key}]="$(json_num "${line}" p50_ms)"
  P99[${key}]="$(json_num "${line}" p99_ms)"
}
loadgen() {
  local mode="$1" out
  echo "bench/run.sh: profile_loadgen ${mode} (${DURATION} s, ${CONCURRENCY} workers)" >&2
  out="$("${LOADGEN_BIN}" --target="${GRPC_ADDRESS}" --mode="${mode}" --concurrency="${CONCURRENCY}" \
    --duration="${DURATION}" --profiles="${PROFILES}" 2>>"${WORK}/loadgen.log")" || true
  grep -v '^JSON ' <<<"${out}" >&2 || true
  grep '^JSON ' <<<"${out}" | sed 's/^JSON //'
}
wrk_run() {
  local name="$1" script="$2" threads="$3"
  shift 3
  echo "bench/run.sh: wrk ${name} (${DURATION} s, ${CONCURRENCY} connections)" >&2
  wrk -t"${threads}" -c"${CONCURRENCY}" -d"${DURATION}s" -s "${ROOT}/bench/wrk/${script}" "${HTTP_BASE}" -- "$@" \
    2>&1 | tee "${WORK}/wrk-${name}.txt" | grep '^JSON ' | sed 's/^JSON //'
}
line="$(loadgen get)"; record grpc_get "${line}"; NOTE[grpc_get]="$(json_num "${line}" errors) errors"
line="$(loadgen update)"; record grpc_update "${line}"
NOTE[grpc_update]="$(json_num "${line}" aborted) aborted, $(json_num "${line}" errors) errors"
wrk_threads=$(( $(nproc) < CONCURRENCY ? $(nproc) : CONCURRENCY ))
line="$(wrk_run get get_user.lua "${wrk_threads}" "${PROFILES}")"; record wrk_get "${line}"
NOTE[wrk_get]="$(( $(json_num "${line}" requests) - $(json_num "${line}" ok) )) non-2xx"
line="$(wrk_run patch put_user.lua "${CONCURRENCY}" "${PROFILES}" "${CONCURRENCY}" PATCH)"; record wrk_patch "${line}"
NOTE[wrk_patch]="$(( $(json_num "${line}" requests) - $(json_num "${line}" ok) )) non-2xx"
line="$(wrk_run put put_user.lua "${CONCURRENCY}" "${PROFILES}" "${CONCURRENCY}" PUT)"; record wrk_put "${line}"
NOTE[wrk_put]="$(( $(json_num "${line}" requests) - $(json_num "${line}" ok) )) non-2xx"
stop_server

ratio() { awk -v a="${1:-0}" -v b="${2:-0}" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
RESULTS="${BUILD_DIR}/bench/results.txt"
mkdir -p "$(dirname "${RESULTS}")"
{
  echo "Profiles benchmark $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(nproc) cores ($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n 1))"
  echo "concurrency ${CONCURRENCY}, ${DURATION} s per run, ${PROFILES} profiles, PostgreSQL 15 (fsync off), all on this machine"
  echo
  printf '%-38s %10s %9s %9s %10s  %s\n' "what" "req/s" "p50 ms" "p99 ms" "vs pgbench" "notes"
  printf '%-38s %10.0f %9s %9s %10s  %s\n' "pgbench point read (PK)" "${PGB_READ_RPS:-0}" "${PGB_READ_P50}" "${PGB_READ_P99}" "1.00" "-M prepared"
  printf '%-38s %10.0f %9s %9s %10s  %s\n' "gRPC GetProfile (profile_loadgen)" "${RPS[grpc_get]:-0}" "${P50[grpc_get]}" "${P99[grpc_get]}" "$(ratio "${RPS[grpc_get]}" "${PGB_READ_RPS}")" "${NOTE[grpc_get]}"
  printf '%-38s %10.0f %9s %9s %10s  %s\n' "REST GET /user/{id} (wrk)" "${RPS[wrk_get]:-0}" "${P50[wrk_get]}" "${P99[wrk_get]}" "$(ratio "${RPS[wrk_get]}" "${PGB_READ_RPS}")" "${NOTE[wrk_get]}"
  printf '%-38s %10.0f %9s %9s %10s  %s\n' "pgbench conditional update" "${PGB_UPD_RPS:-0}" "${PGB_UPD_P50}" "${PGB_UPD_P99}" "1.00" "${failed:-0} failed"
  printf '%-38s %10.0f %9s %9s %10s  %s\n' "gRPC UpdateProfile (profile_loadgen)" "${RPS[grpc_update]:-0}" "${P50[grpc_update]}" "${P99[grpc_update]}" "$(ratio "${RPS[grpc_update]}" "${PGB_UPD_RPS}")" "${NOTE[grpc_update]}"
  printf '%-38s %10.0f %9s %9s %10s  %s\n' "REST PATCH /user/{id} (wrk)" "${RPS[wrk_patch]:-0}" "${P50[wrk_patch]}" "${P99[wrk_patch]}" "$(ratio "${RPS[wrk_patch]}" "${PGB_UPD_RPS}")" "${NOTE[wrk_patch]}"
  printf '%-38s %10.0f %9s %9s %10s  %s\n' "REST PUT /user/{id} (wrk)" "${RPS[wrk_put]:-0}" "${P50[wrk_put]}" "${P99[wrk_put]}" "$(ratio "${RPS[wrk_put]}" "${PGB_UPD_RPS}")" "${NOTE[wrk_put]}"
  echo
  echo "req/s counts successful requests only (2xx / OK); ratios are req/s over the matching pgbench tps."
} | tee "${RESULTS}"
echo "bench/run.sh: written to ${RESULTS}"
