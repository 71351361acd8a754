#!/usr/bin/env bash
# The run command (deploy/run.sh) as a user runs it, on a machine state of its own: a fresh PostgreSQL
# cluster, fresh secrets, free ports. Checks what it promises about trust (issue 9): the demo token works
# and nothing works without one; the database trusts nobody, the service connects as a role that owns its
# database and is not a superuser; every secret is readable by its owner only; Ctrl-C (SIGTERM here)
# stops the server and the PostgreSQL it started.
#
#   tests/e2e/run_command_test.sh BUILD_DIR
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BUILD_DIR="$(cd "$1" && pwd)"
# shellcheck source=deploy/postgres.sh
. "${ROOT}/deploy/postgres.sh"

fail() {
  echo "run_command_test: FAIL: $*" >&2
  echo "--- run.sh output:" >&2
  cat "${WORK}/run.log" >&2 || true
  exit 1
}

# A port free now, from $1 up: below the kernel's ephemeral range, so that no other test's connection
# takes it before run.sh's server binds it (see PG_PORT_FROM below).
free_port() {
  python3 - "$1" <<'PY'
import socket, sys
port = int(sys.argv[1])
while True:
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
        print(port)
        break
    except OSError:
        port += 1
    finally:
        s.close()
PY
}

WORK="$(mktemp -d -t profiles-run-test.XXXXXX)"
chmod 755 "${WORK}" # the cluster's owner (postgres, as root) must reach its folder inside
RUN_PID=""
# shellcheck disable=SC2317  # invoked by trap
cleanup() {
  if [[ -n "${RUN_PID}" ]] && kill -0 "${RUN_PID}" 2>/dev/null; then
    kill -TERM "${RUN_PID}" 2>/dev/null || true
    wait "${RUN_PID}" 2>/dev/null || true
  fi
  pg_cluster_stop "${WORK}/pg" >/dev/null 2>&1 || true
  rm -rf "${WORK}"
}
trap cleanup EXIT

GRPC_PORT="$(free_port 26051)"
HTTP_PORT="$(free_port 26080)"
BASE="http://127.0.0.1:${HTTP_PORT}"
DEMO_USER=6f1c1d8e-3b0a-4c55-9a43-2f6d2c1e0a01

# The cluster's port lies below the kernel's ephemeral range (32768 and up): there, any of the other
# tests' client connections may hold the port as its local one, and PostgreSQL's bind failed with
# "Address already in use" although nothing listened on it (seen in both passes of one CI run).
PG_PORT_FROM=25432
# The log exists before run.sh starts: the background job opens it only once forked, and a tail started
# first found no file and gave up (seen once on a loaded CI machine).
: >"${WORK}/run.log"
env -u DISPLAY -u WAYLAND_DISPLAY -u DATABASE_URL -u PROFILES_AUTH_KEY_FILE \
  PROFILES_STATE_DIR="${WORK}/state" PROFILES_DATA_DIR="${WORK}/pg" \
  PROFILES_PG_PORT="$(pg_free_port "${PG_PORT_FROM}")" PROFILES_BUILD_DIR="${BUILD_DIR}" \
  "${ROOT}/deploy/run.sh" --no-build --grpc-address "127.0.0.1:${GRPC_PORT}" \
  --http-address "127.0.0.1:${HTTP_PORT}" >"${WORK}/run.log" 2>&1 &
RUN_PID=$!

# Waits for the line that says it is up (or for run.sh to end without it). Without pipefail: tail ends
# by SIGPIPE once grep has found the line.
if ! (
  set +o pipefail
  timeout 180 tail -n +1 --pid="${RUN_PID}" -f "${WORK}/run.log" | grep -q -m 1 "Profiles is running"
); then
  fail "run.sh did not say 'Profiles is running'"
fi

AUTH="${WORK}/state/auth"
for secret in profiles.key demo-user.token db.pgpass admin.header; do
  [[ -f "${AUTH}/${secret}" ]] || fail "no ${AUTH}/${secret}"
  [[ "$(stat -c %a "${AUTH}/${secret}")" == 600 ]] || fail "${secret} is mode $(stat -c %a "${AUTH}/${secret}")"
done
[[ "$(stat -c %a "${AUTH}")" == 700 ]] || fail "${AUTH} is mode $(stat -c %a "${AUTH}")"

TOKEN="$(cat "${AUTH}/demo-user.token")"
code="$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer ${TOKEN}" "${BASE}/user/${DEMO_USER}")"
[[ "${code}" == 200 ]] || fail "GET with the demo token answered ${code}"
code="$(curl -s -o /dev/null -w '%{http_code}' "${BASE}/user/${DEMO_USER}")"
[[ "${code}" == 401 ]] || fail "GET without a token answered ${code}"
code="$(curl -s -o /dev/null -w '%{http_code}' -X PATCH -H "Authorization: Bearer ${TOKEN}" \
  -H 'Content-Type: application/json' -H 'If-Match: "1"' -d '{"name":"Ada King"}' "${BASE}/user/${DEMO_USER}")"
[[ "${code}" == 200 ]] || fail "Ada's PATCH of her own profile answered ${code}"

port="$(pg_cluster_port "${WORK}/pg")" || fail "no PostgreSQL running in ${WORK}/pg"
if PGPASSWORD="" "${PG_BIN}/psql" -X -w -h 127.0.0.1 -p "${port}" -U postgres -d profiles -c 'SELECT 1' \
  >/dev/null 2>&1; then
  fail "the superuser connects over TCP without a password"
fi
grep -Eq '^[^#]*trust' "${WORK}/pg/data/pg_hba.conf" && fail "pg_hba.conf still trusts someone"
users="$(pg_admin_psql "${WORK}/pg" -d profiles -tA -c \
  "SELECT string_agg(DISTINCT a.usename || ':' || r.rolsuper, ',') FROM pg_stat_activity a
   JOIN pg_roles r ON r.rolname = a.usename WHERE a.datname = 'profiles' AND a.pid <> pg_backend_pid()")"
[[ "${users}" == "profiles:false" ]] || fail "the service's connections are '${users}', not profiles:false"
owners="$(pg_admin_psql "${WORK}/pg" -d profiles -tA -c \
  "SELECT string_agg(DISTINCT pg_get_userbyid(c.relowner), ',') FROM pg_class c
   JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public'")"
[[ "${owners}" == profiles ]] || fail "the schema's objects belong to '${owners}'"

server_pid="$(pgrep -f -- "--http-address=127.0.0.1:${HTTP_PORT}" | head -n 1)" || fail "no profile_server"
pg_pid="$(pg_cluster_pid "${WORK}/pg")"
kill -TERM "${RUN_PID}"
wait "${RUN_PID}" || true
RUN_PID=""
kill -0 "${server_pid}" 2>/dev/null && fail "profile_server ${server_pid} still runs after run.sh stopped"
kill -0 "${pg_pid}" 2>/dev/null && fail "PostgreSQL ${pg_pid} still runs after run.sh stopped"
echo "run_command_test: passed"
