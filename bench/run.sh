#!/usr/bin/env bash
# bench/run.sh — the Profiles service against PostgreSQL's own limit, on the same data, in one run.
#
#   ./bench/run.sh [options]
#
#   --concurrency "C..."   concurrency levels of the main table (default "16 64")
#   --duration S           seconds per measured run (default 10); --warmup S before each gRPC run (2)
#   --profiles K           profiles in the data set, each with a 4 KiB PNG avatar (default 10000)
#   --sweep ["C..."]       the table at each level of a sweep (default "1 4 16 64"), plotted into
#                          docs/bench-throughput.png (req/s and p99 against concurrency)
#   --compare-large [K2]   then grow the data set to K2 profiles (default 1000000, inserted with SQL),
#                          measure the table again and print each figure's ratio K2 over K
#   --fanout "N..."        WatchProfiles fan-out at these stream counts (default "1 10000") with
#                          --fanout-writes W writes (default 30; 10 W below 1,000 streams);
#                          --no-fanout skips it
#   --soak S               S seconds of mixed reads and writes at C=64 (REST and gRPC), sampling the
#                          server's RSS every 10 s; prints RSS after warm-up, at the end and the growth
#   --no-table             skip the main table (e.g. only --fanout or --soak)
#   --all                  --sweep --compare-large --soak 600 (about 25 minutes here)
#   --seed api|sql|auto    create the profiles through the API or with SQL (auto: API up to 20000)
#   --server-bin PATH      use this profile_server instead of building it; --no-build builds nothing
#   --cache-bytes N        passed to profile_server when its --helpfull lists --cache-bytes
#   --server-args "..."    more profile_server flags; --time-limit S overrides the computed bound
#   --client-core          also the app core's benchmark of issue 8 (client_core_bench: first sync,
#                          drain of the outbox, local edit, opening the store, each against its
#                          reference), on a database of its own; --drain-limit S bounds its drain
#                          (default 600); --client-core-only: only it (= --client-core --no-table
#                          --no-fanout)
#
# Everything runs on this machine: a throwaway PostgreSQL 15 cluster (deploy/postgres.sh, fsync off),
# the schema from `profile_server --migrate-only`, the profiles, then for each concurrency C:
#   pgbench -M prepared -c C (service stopped): point read by primary key; conditional update with the
#   version carried from one write to the next, like a real optimistic writer;
#   profile_server --pool-size C: gRPC GetProfile/UpdateProfile (profile_loadgen, asynchronous), REST
#   GET/PUT/PATCH /user/{id} (wrk). Each with req/s, p50, p99 and the ratio to pgbench's figures.
# The report goes to BUILD_DIR/bench/results.txt; the figures also to results.tsv (one row per
# figure), sweep-K.dat (the plot's data), fanout.jsonl and soak-rss.tsv in the same folder.
# Every tool runs under a timeout, the whole run under a watchdog, and everything started here is
# stopped by PID on exit. See bench/README.md.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${ROOT}"

CONCURRENCY_LIST="16 64"
DURATION=10
WARMUP=2
PROFILES=10000
SWEEP=0
COMPARE_LARGE=0
LARGE_PROFILES=1000000
FANOUT_STREAMS="1 10000"
FANOUT_WRITES=30
DO_FANOUT=1
DO_TABLE=1
SOAK=0
SEED=auto
BUILD=1
SERVER_BIN=""
CACHE_BYTES=""
SERVER_ARGS=""
TIME_LIMIT=""
AVATAR_BYTES=4096
CLIENT_CORE=0
DRAIN_LIMIT=600
BUILD_DIR="${PROFILES_BUILD_DIR:-build}"

die() { echo "bench/run.sh: $*" >&2; exit 2; }
is_list() { [[ "$1" =~ ^[0-9]+([[:space:]]+[0-9]+)*$ ]]; }
while (($#)); do
  case "$1" in
    --concurrency) CONCURRENCY_LIST="$2"; shift ;;
    --duration) DURATION="$2"; shift ;;
    --warmup) WARMUP="$2"; shift ;;
    --profiles) PROFILES="$2"; shift ;;
    --sweep)
      SWEEP=1
      CONCURRENCY_LIST="1 4 16 64"
      if (($# > 1)) && is_list "$2"; then CONCURRENCY_LIST="$2"; shift; fi
      ;;
    --compare-large)
      COMPARE_LARGE=1
      if (($# > 1)) && [[ "$2" =~ ^[0-9]+$ ]]; then LARGE_PROFILES="$2"; shift; fi
      ;;
    --fanout) FANOUT_STREAMS="$2"; DO_FANOUT=1; shift ;;
    --fanout-writes) FANOUT_WRITES="$2"; shift ;;
    --no-fanout) DO_FANOUT=0 ;;
    --soak) SOAK="$2"; shift ;;
    --no-table) DO_TABLE=0 ;;
    --all) SWEEP=1; CONCURRENCY_LIST="1 4 16 64"; COMPARE_LARGE=1; SOAK=600 ;;
    --seed) SEED="$2"; shift ;;
    --server-bin) SERVER_BIN="$2"; shift ;;
    --no-build) BUILD=0 ;;
    --cache-bytes) CACHE_BYTES="$2"; shift ;;
    --server-args) SERVER_ARGS="$2"; shift ;;
    --time-limit) TIME_LIMIT="$2"; shift ;;
    --client-core) CLIENT_CORE=1 ;;
    --client-core-only) CLIENT_CORE=1; DO_TABLE=0; DO_FANOUT=0 ;;
    --drain-limit) DRAIN_LIMIT="$2"; shift ;;
    -h | --help) sed -n '2,39p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
  shift
done
is_list "${CONCURRENCY_LIST}" || die "--concurrency takes a list of numbers, e.g. \"16 64\""
is_list "${FANOUT_STREAMS}" || die "--fanout takes a list of stream counts, e.g. \"1 10000\""
for n in "${DURATION}" "${WARMUP}" "${PROFILES}" "${LARGE_PROFILES}" "${FANOUT_WRITES}" "${SOAK}" \
  "${DRAIN_LIMIT}"; do
  [[ "${n}" =~ ^[0-9]+$ ]] || die "'${n}' is not a whole number"
done
[[ "${SEED}" =~ ^(api|sql|auto)$ ]] || die "--seed takes api, sql or auto"
MAX_C=0
MIN_C=1000000
for c in ${CONCURRENCY_LIST}; do
  ((c >= 1)) || die "concurrency must be at least 1"
  ((c > MAX_C)) && MAX_C=${c}
  ((c < MIN_C)) && MIN_C=${c}
done
((DO_TABLE == 0)) || ((PROFILES >= MAX_C)) || die "--profiles must be at least the largest concurrency"
((SOAK == 0 || PROFILES >= 128)) || die "--soak needs at least 128 profiles"
((COMPARE_LARGE == 0 || LARGE_PROFILES > PROFILES)) || die "--compare-large needs more than --profiles"
((SOAK == 0 || SOAK >= 20)) || die "--soak needs at least 20 seconds"

# ---- build ----
[[ "${BUILD_DIR}" == /* ]] || BUILD_DIR="${ROOT}/${BUILD_DIR}"
export CCACHE_DIR="${CCACHE_DIR:-${ROOT}/.cache/ccache}" CCACHE_BASEDIR="${CCACHE_BASEDIR:-${ROOT}}"
SERVER_NOTE=""
# Google Benchmark is only the client-core benchmark's (bench/CMakeLists.txt builds client_core_bench
# only where it is installed); installed here on first use, before configuring.
ensure_benchmark_library() {
  [[ "$(dpkg-query -W -f='${db:Status-Status}' libbenchmark-dev 2>/dev/null || true)" == installed ]] &&
    return 0
  local sudo=()
  [[ "$(id -u)" -eq 0 ]] || sudo=(sudo)
  echo "bench/run.sh: installing libbenchmark-dev for client_core_bench"
  "${sudo[@]}" apt-get update >/dev/null &&
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libbenchmark-dev >/dev/null
}
TOOL_TARGETS=(--target profile_loadgen --target watch_fanout)
if ((CLIENT_CORE)); then
  if ((BUILD)); then ensure_benchmark_library || die "libbenchmark-dev is missing and cannot be installed"; fi
  TOOL_TARGETS+=(--target client_core_bench)
fi
if ((BUILD)); then
  # The tools (and apt packages, configure) through setup.sh, as the rest of the project builds.
  ./deploy/setup.sh --build-dir "${BUILD_DIR}" "${TOOL_TARGETS[@]}"
  if [[ -z "${SERVER_BIN}" ]] && ! cmake --build "${BUILD_DIR}" -j"$(nproc)" --target profile_server; then
    # The service may be in the middle of a change: fall back, loudly (it is in the report's
    # header), to the binary the last good build left.
    [[ -x "${BUILD_DIR}/services/profile/profile_server" ]] || die "profile_server does not build"
    SERVER_NOTE="profile_server did NOT build; using the binary of $(date -u -r \
      "${BUILD_DIR}/services/profile/profile_server" +%Y-%m-%dT%H:%M:%SZ)"
    echo "bench/run.sh: WARNING: ${SERVER_NOTE}" >&2
  fi
fi
SERVER_BIN="${SERVER_BIN:-${BUILD_DIR}/services/profile/profile_server}"
LOADGEN_BIN="${BUILD_DIR}/bench/profile_loadgen"
FANOUT_BIN="${BUILD_DIR}/bench/watch_fanout"
CLIENT_CORE_BIN="${BUILD_DIR}/bench/client_core_bench"
for bin in "${SERVER_BIN}" "${LOADGEN_BIN}" "${FANOUT_BIN}"; do
  [[ -x "${bin}" ]] || die "${bin} was not built"
done
((CLIENT_CORE == 0)) || [[ -x "${CLIENT_CORE_BIN}" ]] || die "${CLIENT_CORE_BIN} was not built"
command -v wrk >/dev/null || die "wrk is not installed (deploy/setup.sh installs it)"
command -v curl >/dev/null || die "curl is not installed (deploy/setup.sh installs it)"

# gnuplot draws the sweep; installed here on first use (it is only the benchmark's).
ensure_gnuplot() {
  command -v gnuplot >/dev/null && return 0
  local sudo=()
  if [[ "$(id -u)" -ne 0 ]]; then
    command -v sudo >/dev/null || { echo "bench/run.sh: gnuplot missing and no root: no plot" >&2; return 1; }
    sudo=(sudo)
  fi
  echo "bench/run.sh: installing gnuplot-nox for the plot"
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends gnuplot-nox \
    >/dev/null 2>&1 || {
    "${sudo[@]}" apt-get update >/dev/null && "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
      apt-get install -y --no-install-recommends gnuplot-nox >/dev/null
  } || { echo "bench/run.sh: could not install gnuplot-nox: no plot" >&2; return 1; }
}
if ((SWEEP)); then ensure_gnuplot || SWEEP=0; fi

# The watch streams share connections, so even 10,000 need few descriptors; but a server may hold
# more per stream (pipes, timers): take the hard limit.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# ---- time bound ----
# Per concurrency level: two pgbench runs, five service runs, server start/stop.
per_level=$((7 * (DURATION + 4) + 2 * WARMUP + 15))
n_levels=$(wc -w <<<"${CONCURRENCY_LIST}")
estimate=$((30 + DO_TABLE * n_levels * per_level))
for n in ${FANOUT_STREAMS}; do ((DO_FANOUT == 0)) || estimate=$((estimate + 60 + n / 50)); done
((DO_FANOUT == 0)) || estimate=$((estimate + DURATION + 10))  # the commit-latency reference
((SOAK)) && estimate=$((estimate + SOAK + 30))
((COMPARE_LARGE)) && estimate=$((estimate + n_levels * per_level + LARGE_PROFILES / 2000 + 120))
((CLIENT_CORE)) && estimate=$((estimate + DRAIN_LIMIT + 900))
TIME_LIMIT="${TIME_LIMIT:-$((2 * estimate + 300))}"

# shellcheck source=deploy/postgres.sh
. "${ROOT}/deploy/postgres.sh"

WORK="$(mktemp -d -t profiles-bench.XXXXXX)"
SERVER_PID=""
TOOL_PIDS=()
WATCHDOG_PID=""
SLEEPER_PID=""
RESULTS_DIR="${BUILD_DIR}/bench"
mkdir -p "${RESULTS_DIR}"
RESULTS="${RESULTS_DIR}/results.txt"
RESULTS_TSV="${RESULTS_DIR}/results.tsv"
REPORT="${WORK}/report.txt"
: >"${REPORT}"

stop_pid() {  # PID: TERM, up to 10 s, then KILL
  local pid="$1" i
  kill -0 "${pid}" 2>/dev/null || { wait "${pid}" 2>/dev/null || true; return 0; }
  kill -TERM "${pid}" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do
    kill -0 "${pid}" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "${pid}" 2>/dev/null || true
  wait "${pid}" 2>/dev/null || true
}

stop_server() {
  [[ -n "${SERVER_PID}" ]] && stop_pid "${SERVER_PID}"
  SERVER_PID=""
}

# shellcheck disable=SC2317  # invoked by trap
cleanup() {
  local rc=$? pid
  trap - EXIT INT TERM
  for pid in "${TOOL_PIDS[@]}" ${SLEEPER_PID}; do stop_pid "${pid}"; done
  stop_server
  [[ -n "${WATCHDOG_PID}" ]] && stop_pid "${WATCHDOG_PID}"
  pg_throwaway_stop || true
  if ((rc != 0)) && [[ -s "${REPORT}" ]]; then
    cp "${REPORT}" "${RESULTS}"
    echo "bench/run.sh: stopped early (exit ${rc}); the figures so far are in ${RESULTS}" >&2
  fi
  rm -rf "${WORK}"
  exit "${rc}"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The watchdog TERMs this script once the time limit has passed; cleanup then stops everything.
(
  trap 'kill "${sleeper}" 2>/dev/null; exit 0' TERM
  sleep "${TIME_LIMIT}" &
  sleeper=$!
  wait "${sleeper}"
  echo "bench/run.sh: time limit of ${TIME_LIMIT} s reached; stopping" >&2
  kill -TERM $$
) &
WATCHDOG_PID=$!

# Runs a tool in the background under a timeout and waits for it (so INT/TERM are handled at once).
# Output goes to OUT. Returns the tool's exit status.
run_tool() {
  local limit="$1" out="$2" rc=0
  shift 2
  timeout --kill-after=10 "${limit}" "$@" >"${out}" 2>&1 &
  TOOL_PIDS=("$!")
  wait "${TOOL_PIDS[0]}" || rc=$?
  TOOL_PIDS=()
  return "${rc}"
}

log() { echo "bench/run.sh [+${SECONDS}s]: $*" >&2; }
say() { tee -a "${REPORT}"; }
# Runs a report section in this shell (not in a pipeline's subshell, which would keep the PIDs it
# starts from cleanup and hold off the traps), then prints and keeps what it wrote.
section() {
  "$@" >"${WORK}/section.txt"
  say <"${WORK}/section.txt"
}

pg_throwaway_start 55500
PG_DIR="${PG_THROWAWAY_DIR}"
pg_ensure_database "${PG_DIR}" profiles
export DATABASE_URL
DATABASE_URL="$(pg_url "${PG_DIR}" profiles)"
"${SERVER_BIN}" --database-url="${DATABASE_URL}" --migrate-only
psql_db() { pg_psql "${PG_DIR}" -d profiles "$@"; }

GRPC_PORT="$(pg_free_port 55600)"
HTTP_PORT="$(pg_free_port $((GRPC_PORT + 1)))"
GRPC_ADDRESS="127.0.0.1:${GRPC_PORT}"
HTTP_BASE="http://127.0.0.1:${HTTP_PORT}"

# Flags that exist only in newer servers are passed when its --help lists them.
# --helpfull: --help lists only the flags of a file named like the binary.
SERVER_HELP="$("${SERVER_BIN}" --helpfull 2>&1 || true)"
server_has_flag() { grep -Eq -- "--$1[ (=]" <<<"${SERVER_HELP}"; }
SERVER_FLAGS=()
if [[ -n "${CACHE_BYTES}" ]]; then
  if server_has_flag cache_bytes; then
    SERVER_FLAGS+=("--cache-bytes=${CACHE_BYTES}")
  else
    log "profile_server has no --cache-bytes; ignoring it"
  fi
fi
max_streams=0
for n in ${FANOUT_STREAMS}; do ((n > max_streams)) && max_streams=${n}; done
if ((DO_FANOUT)) && server_has_flag max_watch_streams; then
  SERVER_FLAGS+=("--max-watch-streams=$((max_streams + 64))")
fi
# The load tools send no bearer token yet: the benchmark server runs without auth (it listens on
# loopback only, where --auth=off is allowed). Token checks cost one HMAC per call; measuring them
# needs the tools to send tokens.
if server_has_flag auth; then
  SERVER_FLAGS+=("--auth=off")
fi
# The load tools are one caller making as many calls as the server takes: no per-caller limits.
if server_has_flag reads_per_second; then
  SERVER_FLAGS+=("--reads-per-second=0" "--writes-per-second=0")
fi
read -r -a EXTRA_SERVER_ARGS <<<"${SERVER_ARGS}"

start_server() {  # POOL_SIZE
  : >"${WORK}/server.log"
  "${SERVER_BIN}" --database-url="${DATABASE_URL}" --grpc-address="${GRPC_ADDRESS}" \
    --http-address="127.0.0.1:${HTTP_PORT}" --pool-size="$1" "${SERVER_FLAGS[@]}" \
    "${EXTRA_SERVER_ARGS[@]}" >>"${WORK}/server.log" 2>&1 &
  SERVER_PID=$!
  local deadline=$((SECONDS + 60))
  until curl -fsS -o /dev/null --max-time 2 "${HTTP_BASE}/readyz" 2>/dev/null; do
    if ! kill -0 "${SERVER_PID}" 2>/dev/null || ((SECONDS >= deadline)); then
      log "profile_server did not become ready; its log:"
      tail -n 30 "${WORK}/server.log" >&2
      return 1
    fi
    sleep 0.2
  done
}

rss_kib() { sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\).*/\1/p' "/proc/$1/status" 2>/dev/null || true; }
mib() { awk -v k="${1:-0}" 'BEGIN { printf "%.1f", k / 1024 }'; }

# Value of a numeric or (quote-free) string field in a one-line JSON object.
json_num() { sed -n "s/.*\"$2\":\\([0-9.-]*\\).*/\\1/p" <<<"$1" | head -n 1; }
json_str() { sed -n "s/.*\"$2\":\"\\([^\"]*\\)\".*/\\1/p" <<<"$1" | head -n 1; }
ratio() { awk -v a="${1:-0}" -v b="${2:-0}" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }

# ---- data ----
"${LOADGEN_BIN}" --avatar_bytes="${AVATAR_BYTES}" --print_avatar=hex >"${WORK}/avatar.hex"
"${LOADGEN_BIN}" --avatar_bytes="${AVATAR_BYTES}" --print_avatar=base64 >"${WORK}/avatar.b64"

# Profiles FROM..TO with SQL, in batches of 50,000 (one transaction each): the rows the service
# would write on create (version 1; avatar_sha256 from the table's generated column, exactly as
# its create does).
seed_sql() {
  local from="$1" to="$2" start=${SECONDS} a b
  for ((a = from; a <= to; a += 50000)); do
    b=$((a + 49999 < to ? a + 49999 : to))
    psql_db -v avatar="$(cat "${WORK}/avatar.hex")" -v from="${a}" -v to="${b}" <<'SQL'
INSERT INTO profiles (id, name, email, avatar, version)
SELECT ('00000000-0000-4000-8000-' || lpad(n::text, 12, '0'))::uuid, 'Bench user ' || n,
       'bench' || n || '@example.com', decode(:'avatar', 'hex'), 1
  FROM generate_series(:from::bigint, :to::bigint) AS n
ON CONFLICT (id) DO NOTHING;
SQL
    if (((b - from + 1) % 200000 == 0)); then log "  ${b} profiles inserted ($((SECONDS - start)) s)"; fi
  done
}

seed() {  # FROM TO
  local from="$1" to="$2" how="${SEED}" start=${SECONDS}
  if [[ "${how}" == auto ]]; then how=api; ((to <= 20000)) || how=sql; fi
  log "creating profiles ${from}..${to} with ${AVATAR_BYTES}-byte PNG avatars (${how})"
  if [[ "${how}" == api ]]; then
    start_server 16
    run_tool $((600 + to / 50)) "${WORK}/seed.txt" "${LOADGEN_BIN}" --target="${GRPC_ADDRESS}" \
      --profiles="${to}" --concurrency=32 --avatar_bytes="${AVATAR_BYTES}" --seed_only ||
      { cat "${WORK}/seed.txt" >&2; return 1; }
    stop_server
  else
    seed_sql "${from}" "${to}"
  fi
  # Hint bits, visibility map and statistics, so the first measured reads do not pay for them; then
  # the dirty pages to disk, so the kernel's write-back of gigabytes does not run during the runs.
  psql_db -c "VACUUM (ANALYZE) profiles"
  psql_db -c "CHECKPOINT"
  sync -f "${PG_DIR}"
  SEED_NOTE="profiles ${from}..${to} created with ${how} in $((SECONDS - start)) s"
  log "${SEED_NOTE}"
  echo "${SEED_NOTE}" >>"${WORK}/seed-notes.txt"
}

# Each profile's current version, as "n version" lines in PREFIX.all and PREFIX.<i> for the
# profiles with (n - 1) % PARTS == i: the load tools' writers start from these.
dump_versions() {
  local prefix="$1" parts="$2"
  psql_db -c "COPY (SELECT right(id::text, 12)::bigint, version FROM profiles
    WHERE id BETWEEN '00000000-0000-4000-8000-000000000000' AND '00000000-0000-4000-8000-999999999999')
    TO STDOUT WITH (DELIMITER ' ')" >"${prefix}.all"
  rm -f "${prefix}".[0-9]*
  awk -v parts="${parts}" -v prefix="${prefix}" '{ print > (prefix "." (($1 - 1) % parts)) }' "${prefix}.all"
}

# ---- one level: pgbench, then the service ----
declare -A RPS P50 P99 NOTE
FIGURE_KEYS=(pgb_read grpc_get rest_get pgb_update grpc_update rest_put rest_patch)
declare -A LABEL=(
  [pgb_read]="pgbench point read (PK)"
  [grpc_get]="gRPC GetProfile"
  [rest_get]="REST GET /user/{id}"
  [pgb_update]="pgbench conditional update"
  [grpc_update]="gRPC UpdateProfile (name)"
  [rest_put]="REST PUT /user/{id} (+avatar)"
  [rest_patch]="REST PATCH /user/{id} (name)"
)
declare -A REFERENCE=(
  [pgb_read]=pgb_read [grpc_get]=pgb_read [rest_get]=pgb_read
  [pgb_update]=pgb_update [grpc_update]=pgb_update [rest_put]=pgb_update [rest_patch]=pgb_update
)

record() {  # K C KEY JSON-LINE NOTE
  local id="$1 $2 $3"
  RPS[${id}]="$(json_num "$4" rps)"
  P50[${id}]="$(json_num "$4" p50_ms)"
  P99[${id}]="$(json_num "$4" p99_ms)"
  NOTE[${id}]="$5"
}

# Percentile (ms) of the latencies (µs, field 3) in pgbench's per-transaction logs.
log_percentile() {
  local prefix="$1" q="$2"
  cat "${prefix}".* | awk '{print $3}' | sort -n |
    awk -v q="${q}" '{v[NR] = $1} END {if (NR == 0) {print 0; exit} i = int(q * (NR - 1) + 0.5) + 1; printf "%.3f", v[i] / 1000}'
}

run_pgbench() {  # K C NAME SCRIPT [pgbench args]
  local k="$1" c="$2" name="$3" script="$4" out="${WORK}/pgbench-$3-$2.txt" prefix="${WORK}/pgb-$3-$2-$1" tps
  shift 4
  log "pgbench ${name} (${DURATION} s, ${c} clients, ${k} profiles)"
  rm -f "${prefix}".*
  run_tool $((DURATION + 120)) "${out}" "${PG_BIN}/pgbench" -h 127.0.0.1 -p "${PG_THROWAWAY_PORT}" \
    -U postgres -n -M prepared -c "${c}" -j "$(($(nproc) < c ? $(nproc) : c))" -T "${DURATION}" \
    -f "${script}" -l --log-prefix="${prefix}" "$@" profiles || {
    cat "${out}" >&2
    return 1
  }
  tps="$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "${out}" | head -n 1)"
  local failed aborted
  failed="$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "${out}")"
  aborted="$(grep -c 'client [0-9]* aborted' "${out}" || true)"
  ((aborted == 0)) || { log "warning: pgbench ${name}: ${aborted} clients aborted:"; grep aborted "${out}" | head -n 3 >&2; }
  record "${k}" "${c}" "pgb_${name}" \
    "{\"rps\":${tps:-0},\"p50_ms\":$(log_percentile "${prefix}" 0.50),\"p99_ms\":$(log_percentile "${prefix}" 0.99)}" \
    "-M prepared; ${failed:-0} failed, ${aborted} clients aborted"
}

loadgen() {  # K C KEY MODE [flags]
  local k="$1" c="$2" key="$3" mode="$4" out="${WORK}/loadgen-$3-$2.txt" line
  shift 4
  log "profile_loadgen ${mode} (${DURATION} s, ${c} outstanding calls, ${k} profiles)"
  run_tool $((DURATION + WARMUP + 120 + k / 5000)) "${out}" "${LOADGEN_BIN}" --target="${GRPC_ADDRESS}" \
    --mode="${mode}" --concurrency="${c}" --threads="$(($(nproc) < c ? $(nproc) : c))" \
    --duration="${DURATION}" --warmup="${WARMUP}" --profiles="${k}" "$@" || true
  grep -v '^JSON ' "${out}" >&2 || true
  line="$(grep '^JSON ' "${out}" | sed 's/^JSON //')"
  [[ -n "${line}" ]] || { log "profile_loadgen ${mode} printed no result"; return 1; }
  local note
  note="$(json_num "${line}" errors) errors"
  [[ "${mode}" == get ]] || note="$(json_num "${line}" aborted) aborted, ${note}"
  record "${k}" "${c}" "${key}" "${line}" "${note}; client CPU $(json_num "${line}" client_cpu_percent)%"
}

wrk_run() {  # K C KEY SCRIPT [script args]
  local k="$1" c="$2" key="$3" script="$4" out="${WORK}/wrk-$3-$2.txt" line threads
  shift 4
  threads=$(($(nproc) < c ? $(nproc) : c))
  log "wrk ${key} (${DURATION} s, ${c} connections, ${k} profiles)"
  run_tool $((DURATION + 120)) "${out}" wrk -t"${threads}" -c"${c}" -d"${DURATION}s" --timeout 10s \
    -s "${ROOT}/bench/wrk/${script}" "${HTTP_BASE}" -- profiles="${k}" threads="${threads}" "$@" || true
  line="$(grep '^JSON ' "${out}" | sed 's/^JSON //')"
  [[ -n "${line}" ]] || { cat "${out}" >&2; log "wrk ${key} printed no result"; return 1; }
  record "${k}" "${c}" "${key}" "${line}" \
    "$(($(json_num "${line}" requests) - $(json_num "${line}" ok))) non-2xx, $(json_num "${line}" socket_errors) socket errors"
}

# pgbench's scripts over K profiles: read.sql, a point read; update.sql, the conditional update.
write_pgbench_scripts() {  # K
  local k="$1"
  local id_expr="('00000000-0000-4000-8000-' || lpad(:n::text, 12, '0'))::uuid"
  cat >"${WORK}/read.sql" <<EOF
\\set n random(1, ${k})
SELECT id, name, email, avatar, avatar_sha256, version, updated_at FROM profiles WHERE id = ${id_expr};
EOF
  # Each client owns profile n = client_id + 1: it reads its version once, then carries the version
  # each write returns into the next write, like the service's writers.
  cat >"${WORK}/update.sql" <<EOF
\\set n :client_id + 1
\\set r random(1, 1000000000)
\\if :v = 0
SELECT version AS v FROM profiles WHERE id = ${id_expr} \\gset
\\endif
UPDATE profiles SET name = 'pgbench ' || :r, version = version + 1, updated_at = now()
  WHERE id = ${id_expr} AND version = :v RETURNING version AS v \\gset
EOF
}

measure_level() {  # K C
  local k="$1" c="$2" wrk_threads=$(($(nproc) < $2 ? $(nproc) : $2))
  write_pgbench_scripts "${k}"
  run_pgbench "${k}" "${c}" read "${WORK}/read.sql"
  run_pgbench "${k}" "${c}" update "${WORK}/update.sql" -D v=0

  start_server "${c}"
  loadgen "${k}" "${c}" grpc_get get
  wrk_run "${k}" "${c}" rest_get get_user.lua
  dump_versions "${WORK}/versions" "${wrk_threads}"
  loadgen "${k}" "${c}" grpc_update update --versions_file="${WORK}/versions.all"
  dump_versions "${WORK}/versions" "${wrk_threads}"
  wrk_run "${k}" "${c}" rest_put put_user.lua method=PUT versions="${WORK}/versions" avatar="${WORK}/avatar.b64"
  dump_versions "${WORK}/versions" "${wrk_threads}"
  wrk_run "${k}" "${c}" rest_patch put_user.lua method=PATCH versions="${WORK}/versions"
  stop_server
}

TSV_HEADER="profiles\tconcurrency\tkey\twhat\treq_per_s\tp50_ms\tp99_ms\treference\treq_ratio\tp99_ratio\tnotes"
write_table() {  # K
  local k="$1" c key id ref_id
  printf '\n%s profiles (%s-byte PNG avatars), %s s per run\n' "${k}" "${AVATAR_BYTES}" "${DURATION}"
  printf '%-32s %4s %9s %8s %8s %9s %9s  %s\n' "what" "C" "req/s" "p50 ms" "p99 ms" "req/s÷pg" "p99÷pg" "notes"
  for c in ${CONCURRENCY_LIST}; do
    for key in "${FIGURE_KEYS[@]}"; do
      id="${k} ${c} ${key}"
      ref_id="${k} ${c} ${REFERENCE[${key}]}"
      [[ -n "${RPS[${id}]:-}" ]] || continue
      printf '%-32s %4s %9.0f %8s %8s %9s %9s  %s\n' "${LABEL[${key}]}" "${c}" "${RPS[${id}]}" "${P50[${id}]}" \
        "${P99[${id}]}" "$(ratio "${RPS[${id}]}" "${RPS[${ref_id}]:-}")" \
        "$(ratio "${P99[${id}]}" "${P99[${ref_id}]:-}")" "${NOTE[${id}]}"
      printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "${k}" "${c}" "${key}" "${LABEL[${key}]}" \
        "${RPS[${id}]}" "${P50[${id}]}" "${P99[${id}]}" "${REFERENCE[${key}]}" \
        "$(ratio "${RPS[${id}]}" "${RPS[${ref_id}]:-}")" "$(ratio "${P99[${id}]}" "${P99[${ref_id}]:-}")" \
        "${NOTE[${id}]}" >>"${RESULTS_TSV}"
    done
    echo
  done | sed '$d'
  echo "req/s counts successful requests only (2xx / OK); req/s÷pg and p99÷pg compare each figure with"
  echo "pgbench's point read (reads) or conditional update (writes) at the same concurrency."
}

plot_sweep() {  # K
  local k="$1" data="${RESULTS_DIR}/sweep-${1}.dat" png="${ROOT}/docs/bench-throughput.png" c key id
  {
    printf '# concurrency'
    for key in "${FIGURE_KEYS[@]}"; do printf '\t%s_rps\t%s_p99' "${key}" "${key}"; done
    echo
    for c in ${CONCURRENCY_LIST}; do
      printf '%s' "${c}"
      for key in "${FIGURE_KEYS[@]}"; do
        id="${k} ${c} ${key}"
        printf '\t%s\t%s' "${RPS[${id}]:-NaN}" "${P99[${id}]:-NaN}"
      done
      echo
    done
  } >"${data}"
  local terminal="pngcairo size 1200,600 font 'DejaVu Sans,10'"
  gnuplot -e "set terminal" 2>&1 | grep -q pngcairo || terminal="png size 1200,600"
  # Columns: 1 C, then rps/p99 pairs in FIGURE_KEYS order (pgb_read 2/3, grpc_get 4/5, rest_get 6/7,
  # pgb_update 8/9, grpc_update 10/11, rest_put 12/13, rest_patch 14/15).
  gnuplot <<EOF
set terminal ${terminal}
set output '${png}'
set datafile missing 'NaN'
set multiplot layout 1,2 title "Profiles service (${SERVER_LABEL}) vs PostgreSQL on the same table: ${k} profiles, 4 KiB avatars, ${DURATION} s per point, $(nproc) cores, $(date -u +%Y-%m-%d)"
set logscale x 2
set xlabel 'concurrency (requests in flight)'
set xtics (${CONCURRENCY_LIST// /, })
set xrange [${MIN_C} / 1.5 : ${MAX_C} * 1.5]
set grid
set bmargin 8
set key at screen 0.5, screen 0.06 center center horizontal maxrows 3 font ',9' width 2
set ylabel 'successful requests per second'
set yrange [0:*]
plot '${data}' using 1:2 with linespoints dt 2 lw 2 lc rgb '#777777' pt 6 title 'pgbench point read', \
     '' using 1:4 with linespoints lw 2 lc rgb '#1f77b4' pt 7 title 'gRPC GetProfile', \
     '' using 1:6 with linespoints lw 2 lc rgb '#2ca02c' pt 5 title 'REST GET', \
     '' using 1:8 with linespoints dt 2 lw 2 lc rgb '#000000' pt 4 title 'pgbench conditional update', \
     '' using 1:10 with linespoints lw 2 lc rgb '#d62728' pt 9 title 'gRPC UpdateProfile', \
     '' using 1:12 with linespoints lw 2 lc rgb '#ff7f0e' pt 11 title 'REST PUT'
set ylabel 'p99 latency (ms)'
set logscale y
set yrange [*:*]
unset key
plot '${data}' using 1:3 with linespoints dt 2 lw 2 lc rgb '#777777' pt 6 title 'pgbench point read', \
     '' using 1:5 with linespoints lw 2 lc rgb '#1f77b4' pt 7 title 'gRPC GetProfile', \
     '' using 1:7 with linespoints lw 2 lc rgb '#2ca02c' pt 5 title 'REST GET', \
     '' using 1:9 with linespoints dt 2 lw 2 lc rgb '#000000' pt 4 title 'pgbench conditional update', \
     '' using 1:11 with linespoints lw 2 lc rgb '#d62728' pt 9 title 'gRPC UpdateProfile', \
     '' using 1:13 with linespoints lw 2 lc rgb '#ff7f0e' pt 11 title 'REST PUT'
unset multiplot
EOF
  echo "plot: ${png} (data ${data})"
}

# ---- fan-out ----
# "met" when 0 < B <= LIMIT * A.
within() { awk -v a="${1:-0}" -v b="${2:-0}" -v l="$3" 'BEGIN { print (a > 0 && b > 0 && b <= l * a) ? "met" : "NOT met" }'; }
run_fanout() {
  local n out line first="" last="" writes
  echo
  echo "WatchProfiles fan-out: writes of one profile, one at a time; latency from the write's answer (ack)"
  echo "to the event at each stream (0 if it came first), and from sending the write; server RSS before"
  echo "opening the streams and with all of them open. Below 1,000 streams ${FANOUT_WRITES}0 writes, so that"
  echo "p99 is not simply the slowest of a few."
  # The reference: PostgreSQL's own commit latency for the same kind of write (one client, the
  # conditional update of one profile, service stopped), so that the fan-out's latencies read as a
  # multiple of what the database itself takes, whatever this machine's speed today.
  write_pgbench_scripts "${PROFILES}"
  run_pgbench "${PROFILES}" 1 commit "${WORK}/update.sql" -D v=0
  local commit_p50="${P50["${PROFILES} 1 pgb_commit"]:-0}" commit_p99="${P99["${PROFILES} 1 pgb_commit"]:-0}"
  echo "The database's commit latency (pgbench, 1 client, the same conditional update of one profile):"
  echo "p50 ${commit_p50} ms, p99 ${commit_p99} ms; the last two columns divide the ack latencies by it."
  printf '%-8s %9s %9s %9s %10s %10s %16s %7s %10s %10s %9s %9s  %s\n' "streams" "ack p50" "ack p99" "ack max" \
    "send p50" "send p99" "events" "open s" "RSS before" "RSS open" "p50/commit" "p99/commit" "notes"
  for n in ${FANOUT_STREAMS}; do
    start_server 16
    out="${WORK}/fanout-${n}.txt"
    writes=${FANOUT_WRITES}
    ((n >= 1000)) || writes=$((FANOUT_WRITES * 10))
    log "watch_fanout with ${n} streams, ${writes} writes"
    run_tool $((300 + n / 20 + writes)) "${out}" "${FANOUT_BIN}" --target="${GRPC_ADDRESS}" --streams="${n}" \
      --writes="${writes}" --server_pid="${SERVER_PID}" --open_timeout=$((120 + n / 100)) || true
    grep -v '^JSON ' "${out}" >&2 || true
    line="$(grep '^JSON ' "${out}" | sed 's/^JSON //')"
    stop_server
    if [[ -z "${line}" ]]; then
      printf '%-8s %s\n' "${n}" "no result (see the log above)"
      continue
    fi
    printf '%-8s %9s %9s %9s %10s %10s %16s %7s %9sM %9sM %9sx %9sx  %s\n' "${n}" "$(json_num "${line}" p50_ms)" \
      "$(json_num "${line}" p99_ms)" "$(json_num "${line}" max_ms)" "$(json_num "${line}" send_p50_ms)" \
      "$(json_num "${line}" send_p99_ms)" "$(json_num "${line}" events)/$(json_num "${line}" expected)" \
      "$(json_num "${line}" open_s)" "$(mib "$(json_num "${line}" server_rss_before_kib)")" \
      "$(mib "$(json_num "${line}" server_rss_open_kib)")" \
      "$(ratio "$(json_num "${line}" p50_ms)" "${commit_p50}")" "$(ratio "$(json_num "${line}" p99_ms)" "${commit_p99}")" \
      "$(json_num "${line}" failed) failed, $(json_num "${line}" before_ack) before the ack; writes took $(json_num "${line}" writes_s) s, CPU server $(json_num "${line}" server_cpu_s) s, watch_fanout $(json_num "${line}" client_cpu_s) s; client RSS $(mib "$(json_num "${line}" client_rss_kib)")M$(
        e="$(json_str "${line}" error)"; [[ -z "${e}" ]] || printf '; %s' "${e}")"
    printf '%s\n' "${line}" >>"${RESULTS_DIR}/fanout.jsonl"
    # Only a complete measurement (every event received) enters the ratio.
    if [[ "$(json_num "${line}" events)" == "$(json_num "${line}" expected)" && "$(json_num "${line}" events)" != 0 ]]; then
      [[ -n "${first}" ]] || first="${line}"
      last="${line}"
    fi
  done
  if [[ -n "${first}" && "${last}" != "${first}" ]]; then
    local a b
    a="$(json_num "${first}" streams)"
    b="$(json_num "${last}" streams)"
    echo "p99 at ${b} streams / p99 at ${a}: from the ack $(ratio "$(json_num "${last}" p99_ms)" "$(json_num "${first}" p99_ms)")" \
      "(target at most 5: $(within "$(json_num "${first}" p99_ms)" "$(json_num "${last}" p99_ms)" 5))," \
      "from sending $(ratio "$(json_num "${last}" send_p99_ms)" "$(json_num "${first}" send_p99_ms)")" \
      "($(within "$(json_num "${first}" send_p99_ms)" "$(json_num "${last}" send_p99_ms)" 5))"
  elif (($(wc -w <<<"${FANOUT_STREAMS}") < 2)); then
    echo "p99 ratio: needs two stream counts (--fanout \"1 10000\")"
  else
    echo "p99 ratio: not measured (a stream count did not receive every event)"
  fi
}

# ---- soak ----
run_soak() {
  local k="${PROFILES}" half=$((PROFILES / 2)) warm=60 t=0 rss rss_warm="" rss_end="" wrk_threads start warm_t=0 end_t=0
  ((SOAK >= 240)) || warm=$((SOAK / 4 / 10 * 10))
  ((warm >= 10)) || warm=10
  wrk_threads=$(($(nproc) < 32 ? $(nproc) : 32))
  start_server 64
  dump_versions "${WORK}/soak-versions" "${wrk_threads}"
  log "soak: ${SOAK} s at C=64 (wrk 32 connections mixed REST + profile_loadgen 32 calls mixed gRPC)"
  # Writes: gRPC to profiles 1..K/2, REST to K/2+1..K, so the two writers never conflict.
  timeout --kill-after=10 $((SOAK + 120)) wrk -t"${wrk_threads}" -c32 -d"${SOAK}s" --timeout 10s \
    -s "${ROOT}/bench/wrk/mixed_user.lua" "${HTTP_BASE}" -- profiles="${k}" threads="${wrk_threads}" \
    reads=90 method=PATCH write_from=$((half + 1)) versions="${WORK}/soak-versions" \
    >"${WORK}/soak-wrk.txt" 2>&1 &
  TOOL_PIDS+=("$!")
  timeout --kill-after=10 $((SOAK + 120 + k / 5000)) "${LOADGEN_BIN}" --target="${GRPC_ADDRESS}" \
    --mode=mixed --read_percent=90 --concurrency=32 --threads=2 --duration="${SOAK}" --warmup=0 \
    --profiles="${k}" --write_profiles="${half}" --versions_file="${WORK}/soak-versions.all" \
    >"${WORK}/soak-loadgen.txt" 2>&1 &
  TOOL_PIDS+=("$!")
  printf 'seconds\tserver_rss_kib\n' >"${RESULTS_DIR}/soak-rss.tsv"
  local series=""
  start=${SECONDS}
  while kill -0 "${TOOL_PIDS[0]}" 2>/dev/null || kill -0 "${TOOL_PIDS[1]}" 2>/dev/null; do
    sleep 10 &
    SLEEPER_PID=$!
    wait "${SLEEPER_PID}" || true
    SLEEPER_PID=""
    t=$((SECONDS - start))
    rss="$(rss_kib "${SERVER_PID}")"
    [[ -n "${rss}" ]] || { log "profile_server is gone"; break; }
    printf '%s\t%s\n' "${t}" "${rss}" >>"${RESULTS_DIR}/soak-rss.tsv"
    series+=" $(mib "${rss}")"
    [[ -n "${rss_warm}" ]] || ((t < warm)) || { rss_warm="${rss}"; warm_t=${t}; }
    rss_end="${rss}"
    end_t=${t}
  done
  local pid
  for pid in "${TOOL_PIDS[@]}"; do wait "${pid}" 2>/dev/null || true; done
  TOOL_PIDS=()
  stop_server
  local wline gline
  wline="$(grep '^JSON ' "${WORK}/soak-wrk.txt" | sed 's/^JSON //' || true)"
  gline="$(grep '^JSON ' "${WORK}/soak-loadgen.txt" | sed 's/^JSON //' || true)"
  [[ -n "${wline}" ]] || { log "wrk printed no result:"; tail -n 5 "${WORK}/soak-wrk.txt" >&2; }
  [[ -n "${gline}" ]] || { log "profile_loadgen printed no result:"; tail -n 5 "${WORK}/soak-loadgen.txt" >&2; }
  echo
  echo "Soak: ${SOAK} s at C=64 (REST 32 connections + gRPC 32 calls, 90 % reads, 10 % writes), ${k} profiles"
  printf '  REST (wrk mixed_user.lua):  %s req/s, p50 %s ms, p99 %s ms, %s non-2xx\n' "$(json_num "${wline}" rps)" \
    "$(json_num "${wline}" p50_ms)" "$(json_num "${wline}" p99_ms)" \
    "$(awk -v a="$(json_num "${wline}" requests)" -v b="$(json_num "${wline}" ok)" 'BEGIN { print a - b }')"
  printf '  gRPC (profile_loadgen):     %s req/s, p50 %s ms, p99 %s ms, %s aborted, %s errors\n' \
    "$(json_num "${gline}" rps)" "$(json_num "${gline}" p50_ms)" "$(json_num "${gline}" p99_ms)" \
    "$(json_num "${gline}" aborted)" "$(json_num "${gline}" errors)"
  echo "  server RSS every 10 s (MiB):${series}"
  [[ -n "${rss_warm}" ]] || { rss_warm="${rss_end}"; warm_t=${end_t}; }
  if [[ -n "${rss_warm}" && -n "${rss_end}" ]]; then
    echo "  server RSS after warm-up (${warm_t} s): $(mib "${rss_warm}") MiB; at the end (${end_t} s): $(mib "${rss_end}") MiB;" \
      "growth $(awk -v a="${rss_warm}" -v b="${rss_end}" 'BEGIN { printf "%+.1f MiB (%+.1f %%)", (b - a) / 1024, 100 * (b - a) / a }')"
  fi
}

# ---- client core (issue 8) ----
# bench/client_core_bench.cc: the app's core against references measured in the same run. On a
# database of its own (the main data set and its versions stay as they are): 1,000 profiles for the
# first sync's small case, then 10,000 (4 KiB PNG avatars, created through the API) for the rest.
CLIENT_CORE_SMALL=1000
CLIENT_CORE_PROFILES=10000

# "met" when the larger of A and B is at most LIMIT times the smaller.
flat_within() {
  awk -v a="${1:-0}" -v b="${2:-0}" -v l="$3" \
    'BEGIN { if (a <= 0 || b <= 0) { print "-"; exit } r = a > b ? a / b : b / a; print (r <= l) ? "met" : "NOT met" }'
}

client_core_seed() {  # K: profiles 1..K exist (those that do are left alone)
  log "client core: creating profiles 1..$1 through the API"
  run_tool $((600 + $1 / 50)) "${WORK}/client-core-seed.txt" "${LOADGEN_BIN}" --target="${GRPC_ADDRESS}" \
    --profiles="$1" --concurrency=32 --avatar_bytes="${AVATAR_BYTES}" --seed_only ||
    { cat "${WORK}/client-core-seed.txt" >&2; return 1; }
}

client_core_run() {  # K OUT [flags]: client_core_bench against the server holding K profiles
  local k="$1" out="$2"
  shift 2
  log "client_core_bench with ${k} profiles $*"
  run_tool $((DRAIN_LIMIT + 1200)) "${out}" env QT_QPA_PLATFORM=offscreen "${CLIENT_CORE_BIN}" \
    --server="${GRPC_ADDRESS}" --database_url="${CLIENT_CORE_URL}" --profiles="${k}" \
    --drain_time_limit="${DRAIN_LIMIT}" --work_dir="${WORK}" "$@" || {
    tail -n 30 "${out}" >&2
    log "client_core_bench failed"
    return 1
  }
}

run_client_core() {
  local db=client_core saved_url="${DATABASE_URL}" small="${WORK}/client-core-${CLIENT_CORE_SMALL}.txt"
  local full="${WORK}/client-core-${CLIENT_CORE_PROFILES}.txt" line_small line_full loadgen_line
  local app_small app_full ref_small ref_full
  pg_ensure_database "${PG_DIR}" "${db}" >&2
  CLIENT_CORE_URL="$(pg_url "${PG_DIR}" "${db}")"
  "${SERVER_BIN}" --database-url="${CLIENT_CORE_URL}" --migrate-only >&2
  DATABASE_URL="${CLIENT_CORE_URL}"
  start_server 16 || { DATABASE_URL="${saved_url}"; return 1; }
  DATABASE_URL="${saved_url}"

  client_core_seed "${CLIENT_CORE_SMALL}"
  # Nine rounds, not three: one listing of 1,000 takes about 60 ms here, so a single scheduling
  # hiccup on this 2-core machine swung a median of three by 2x (40 to 126 us per profile).
  client_core_run "${CLIENT_CORE_SMALL}" "${small}" --benchmark_filter='^FirstSync/' --sync_rounds=9
  client_core_seed "${CLIENT_CORE_PROFILES}"
  client_core_run "${CLIENT_CORE_PROFILES}" "${full}"
  # The project's load tool on the same data, for comparison with the drain's own reference (it sends
  # no mutation_id, so the service records none).
  log "client core: profile_loadgen update at C=16 (for the record)"
  run_tool $((DURATION + WARMUP + 120)) "${WORK}/client-core-loadgen.txt" "${LOADGEN_BIN}" \
    --target="${GRPC_ADDRESS}" --mode=update --concurrency=16 --threads=2 --duration="${DURATION}" \
    --warmup="${WARMUP}" --profiles="${CLIENT_CORE_PROFILES}" || true
  loadgen_line="$(grep '^JSON ' "${WORK}/client-core-loadgen.txt" | sed 's/^JSON //' || true)"
  stop_server

  line_small="$(grep '^JSON ' "${small}" | sed 's/^JSON //')"
  line_full="$(grep '^JSON ' "${full}" | sed 's/^JSON //')"
  app_small="$(json_num "${line_small}" "first_sync_${CLIENT_CORE_SMALL}_app_us_per_profile")"
  app_full="$(json_num "${line_full}" "first_sync_${CLIENT_CORE_PROFILES}_app_us_per_profile")"
  ref_small="$(json_num "${line_small}" "first_sync_${CLIENT_CORE_SMALL}_ref_us_per_profile")"
  ref_full="$(json_num "${line_full}" "first_sync_${CLIENT_CORE_PROFILES}_ref_us_per_profile")"
  echo
  echo "Client core (issue 8): apps/qml-client at $(git -C "${ROOT}" rev-parse --short HEAD 2>/dev/null || echo '?')$(
    [[ -z "$(git -C "${ROOT}" status --porcelain -- apps 2>/dev/null)" ]] || echo ' + uncommitted changes')," \
    "load average $(cut -d' ' -f1-3 /proc/loadavg) at the end"
  # Each run's own table (figure, reference, ratio, target); the second holds items 1 to 4.
  sed -n '/^Client core (issue 8)/,/^JSON /p' "${small}" | sed '1d;$d'
  sed -n '/^Client core (issue 8)/,/^JSON /p' "${full}" | sed '1,2d;$d'
  # The marginal cost (the profiles beyond the first K1, over their number) tells a fixed cost (the
  # connection, the health check, the store's creation) from one that grows with the data.
  marginal() {
    awk -v a="${1:-0}" -v b="${2:-0}" -v k1="${CLIENT_CORE_SMALL}" -v k2="${CLIENT_CORE_PROFILES}" \
      'BEGIN { if (a > 0 && b > 0) printf "%.1f", (b * k2 - a * k1) / (k2 - k1); else print "-" }'
  }
  # Bare ListProfiles may show a fixed cost of its own (the connection, the server's first reads; 0-17
  # ms in the runs of 2026-12-01, 70-140 ms in busier runs before) that no client can avoid. Net of it,
  # the app's per-profile cost says whether its own work grows faster than the data.
  fixed_ms() {
    awk -v a="${1:-0}" -v b="${2:-0}" -v k1="${CLIENT_CORE_SMALL}" -v k2="${CLIENT_CORE_PROFILES}" \
      'BEGIN { if (a > 0 && b > 0) printf "%.1f", (a * k1 - k1 * (b * k2 - a * k1) / (k2 - k1)) / 1000; else print "-" }'
  }
  net_flatness() {
    awk -v a="${1:-0}" -v b="${2:-0}" -v ra="${3:-0}" -v rb="${4:-0}" -v k1="${CLIENT_CORE_SMALL}" \
      -v k2="${CLIENT_CORE_PROFILES}" 'BEGIN {
        if (a <= 0 || b <= 0 || ra <= 0 || rb <= 0) { print "-"; exit }
        fixed = ra * k1 - k1 * (rb * k2 - ra * k1) / (k2 - k1)
        small = (a * k1 - fixed) / k1; full = (b * k2 - fixed) / k2
        if (small <= 0 || full <= 0) { print "-"; exit }
        r = small > full ? small / full : full / small
        printf "%.2f (%.1f / %.1f us; flat within 1.3: %s)", small / full, small, full, (r <= 1.3) ? "met" : "NOT met"
      }'
  }
  printf '%s\n' "1. first sync, cost per profile at ${CLIENT_CORE_SMALL} / at ${CLIENT_CORE_PROFILES}:" \
    "   app $(ratio "${app_small}" "${app_full}") (${app_small} / ${app_full} us; flat within 1.3: $(flat_within "${app_small}" "${app_full}" 1.3)); marginal cost of profiles $((CLIENT_CORE_SMALL + 1))..${CLIENT_CORE_PROFILES}: $(marginal "${app_small}" "${app_full}") us," \
    "   bare ListProfiles $(ratio "${ref_small}" "${ref_full}") (${ref_small} / ${ref_full} us, for comparison); marginal: $(marginal "${ref_small}" "${ref_full}") us" \
    "   app net of the fixed cost bare ListProfiles shows too (server and connection start, $(fixed_ms "${ref_small}" "${ref_full}") ms): $(net_flatness "${app_small}" "${app_full}" "${ref_small}" "${ref_full}")"
  [[ -z "${loadgen_line}" ]] ||
    echo "profile_loadgen update, C=16, ${DURATION} s (no mutation_id): $(json_num "${loadgen_line}" rps) req/s, $(json_num "${loadgen_line}" aborted) aborted, $(json_num "${loadgen_line}" errors) errors"
  echo "Google Benchmark's own output: ${RESULTS_DIR}/client-core-*.txt"
  cp "${small}" "${full}" "${RESULTS_DIR}/"
  printf '%s\n%s\n' "${line_small}" "${line_full}" >"${RESULTS_DIR}/client-core.jsonl"
}

# ---- the run ----
RUN_START=${SECONDS}
REVISION="main $(git -C "${ROOT}" rev-parse --short HEAD 2>/dev/null || echo '?')"
[[ -z "$(git -C "${ROOT}" status --porcelain -- services proto 2>/dev/null)" ]] || REVISION+=" + uncommitted changes"
# What was measured: this checkout's server, or (--server-bin) a binary built who knows when.
SERVER_BUILT="$(date -u -r "${SERVER_BIN}" +%Y-%m-%dT%H:%MZ)"
if [[ "${SERVER_BIN}" == "${BUILD_DIR}/services/profile/profile_server" && -z "${SERVER_NOTE}" ]]; then
  SERVER_LABEL="${REVISION}"
else
  SERVER_LABEL="profile_server built ${SERVER_BUILT}"
fi
{
  echo "Profiles benchmark $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(nproc) cores ($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n 1)), load average $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "checkout: ${REVISION} (services/, proto/); server: ${SERVER_BIN#"${ROOT}/"} (built ${SERVER_BUILT}) ${SERVER_FLAGS[*]} ${SERVER_ARGS}"
  [[ -z "${SERVER_NOTE}" ]] || echo "WARNING: ${SERVER_NOTE}"
  echo "PostgreSQL 15 (fsync off), service, load tools all on this machine; options: concurrency \"${CONCURRENCY_LIST}\", ${DURATION} s per run, ${PROFILES} profiles, time limit ${TIME_LIMIT} s"
} | say
printf '%b\n' "${TSV_HEADER}" >"${RESULTS_TSV}"
rm -f "${RESULTS_DIR}/fanout.jsonl"

seed 1 "${PROFILES}"
if ((DO_TABLE)); then
  for c in ${CONCURRENCY_LIST}; do measure_level "${PROFILES}" "${c}"; done
  section write_table "${PROFILES}"
  ((SWEEP == 0)) || section plot_sweep "${PROFILES}"
fi
((DO_FANOUT == 0)) || section run_fanout
((SOAK == 0)) || section run_soak
((CLIENT_CORE == 0)) || section run_client_core
if ((COMPARE_LARGE)); then
  SEED_SAVED="${SEED}"
  [[ "${SEED}" == api ]] || SEED=sql
  seed $((PROFILES + 1)) "${LARGE_PROFILES}"
  SEED="${SEED_SAVED}"
  for c in ${CONCURRENCY_LIST}; do measure_level "${LARGE_PROFILES}" "${c}"; done
  section write_table "${LARGE_PROFILES}"
  {
    echo
    echo "${LARGE_PROFILES} profiles against ${PROFILES} (ratio of the two figures; below 1 = slower with more data)"
    printf '%-32s %4s %12s %12s %12s\n' "what" "C" "req/s ratio" "p50 ratio" "p99 ratio"
    for c in ${CONCURRENCY_LIST}; do
      for key in "${FIGURE_KEYS[@]}"; do
        small="${PROFILES} ${c} ${key}"
        large="${LARGE_PROFILES} ${c} ${key}"
        [[ -n "${RPS[${large}]:-}" && -n "${RPS[${small}]:-}" ]] || continue
        printf '%-32s %4s %12s %12s %12s\n' "${LABEL[${key}]}" "${c}" "$(ratio "${RPS[${large}]}" "${RPS[${small}]}")" \
          "$(ratio "${P50[${large}]}" "${P50[${small}]}")" "$(ratio "${P99[${large}]}" "${P99[${small}]}")"
      done
    done
  } | say
fi
{
  echo
  sed 's/^/data: /' "${WORK}/seed-notes.txt"
  echo "run took $((SECONDS - RUN_START)) s"
} | say
cp "${REPORT}" "${RESULTS}"
echo "bench/run.sh: written to ${RESULTS} (figures: ${RESULTS_TSV})"
