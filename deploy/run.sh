#!/usr/bin/env bash
# deploy/run.sh — install what is missing, build, start the project's own PostgreSQL, run the Profiles
# service with a few demo profiles, and keep it running until Ctrl-C.
#
#   ./deploy/run.sh [--database-url URL] [--grpc-address HOST:PORT] [--http-address HOST:PORT]
#                   [--pool-size N] [--no-build] [--no-seed] [-- extra profile_server flags]
#
#   --database-url URL  use an existing PostgreSQL (also DATABASE_URL); no local cluster is started
#   --no-build          skip the build (the apt check still runs)
#   --no-seed           do not create the demo profiles
#
# Sign-in is on: a token key is made for the machine on first run (PROFILES_AUTH_KEY_FILE, default
# <data>/auth/profiles.key) and a token for the demo user is minted and printed with how to use it.
#
# Without a database URL, a local PostgreSQL 15 cluster owned by the project is used: created on first run,
# with no trust (passwords over TCP; the service connects as the role `profiles`, which owns its database
# and is not a superuser; its password is made once into <data>/auth/db.pgpass),
# its data kept across runs in PROFILES_DATA_DIR (default /var/lib/profiles/postgres as root, else
# ${XDG_DATA_HOME:-~/.local/share}/profiles/postgres); reused when it is already running. Its port is
# PROFILES_PG_PORT (default 55433, or the next free one). Ctrl-C stops the server and the PostgreSQL that
# this script started.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${ROOT}"

DATABASE_URL="${DATABASE_URL:-}"
GRPC_ADDRESS="${PROFILES_GRPC_ADDRESS:-127.0.0.1:50051}"
HTTP_ADDRESS="${PROFILES_HTTP_ADDRESS:-127.0.0.1:8080}"
POOL_SIZE="${PROFILES_POOL_SIZE:-16}"
BUILD_DIR="${PROFILES_BUILD_DIR:-build}"
SETUP_ARGS=()
SEED=1
SERVER_EXTRA=()

while (($#)); do
  case "$1" in
    --database-url) DATABASE_URL="$2"; shift ;;
    --database-url=*) DATABASE_URL="${1#*=}" ;;
    --grpc-address) GRPC_ADDRESS="$2"; shift ;;
    --grpc-address=*) GRPC_ADDRESS="${1#*=}" ;;
    --http-address) HTTP_ADDRESS="$2"; shift ;;
    --http-address=*) HTTP_ADDRESS="${1#*=}" ;;
    --pool-size) POOL_SIZE="$2"; shift ;;
    --pool-size=*) POOL_SIZE="${1#*=}" ;;
    --no-build) SETUP_ARGS+=(--no-build) ;;
    --no-seed) SEED=0 ;;
    -h | --help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    --) shift; SERVER_EXTRA=("$@"); break ;;
    *) echo "run.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done

./deploy/setup.sh --build-dir "${BUILD_DIR}" "${SETUP_ARGS[@]}"

[[ "${BUILD_DIR}" == /* ]] || BUILD_DIR="${ROOT}/${BUILD_DIR}"
SERVER_BIN="${BUILD_DIR}/services/profile/profile_server"
if [[ ! -x "${SERVER_BIN}" ]]; then
  echo "run.sh: ${SERVER_BIN} was not built" >&2
  exit 1
fi

# shellcheck source=deploy/postgres.sh
. "${ROOT}/deploy/postgres.sh"

PG_DIR=""
PG_STARTED=0
SERVER_PID=""
APP_PID=""

# shellcheck disable=SC2317  # invoked by trap
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [[ -n "${APP_PID}" ]] && kill -0 "${APP_PID}" 2>/dev/null; then
    echo "run.sh: closing the Qt app (pid ${APP_PID})"
    kill -TERM "${APP_PID}" 2>/dev/null || true
    wait "${APP_PID}" 2>/dev/null || true
  fi
  if [[ -n "${SERVER_PID}" ]] && kill -0 "${SERVER_PID}" 2>/dev/null; then
    echo "run.sh: stopping profile_server (pid ${SERVER_PID})"
    kill -TERM "${SERVER_PID}" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
      kill -0 "${SERVER_PID}" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "${SERVER_PID}" 2>/dev/null; then
      echo "run.sh: profile_server did not stop within 10 s; killing it" >&2
      kill -KILL "${SERVER_PID}" 2>/dev/null || true
    fi
    wait "${SERVER_PID}" 2>/dev/null || true
  fi
  if ((PG_STARTED)); then
    pg_cluster_stop "${PG_DIR}" || true
  fi
  exit "${rc}"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Secrets this script makes (the token key, the database password) live in STATE_DIR/auth (mode 700).
if [[ "$(id -u)" -eq 0 ]]; then
  STATE_DIR="${PROFILES_STATE_DIR:-/var/lib/profiles}"
else
  STATE_DIR="${PROFILES_STATE_DIR:-${XDG_DATA_HOME:-${HOME}/.local/share}/profiles}"
fi
mkdir -p "${STATE_DIR}/auth"
chmod 700 "${STATE_DIR}/auth"

if [[ -z "${DATABASE_URL}" ]]; then
  if [[ "$(id -u)" -eq 0 ]]; then
    PG_DIR="${PROFILES_DATA_DIR:-/var/lib/profiles/postgres}"
  else
    PG_DIR="${PROFILES_DATA_DIR:-${XDG_DATA_HOME:-${HOME}/.local/share}/profiles/postgres}"
  fi
  if pg_cluster_running "${PG_DIR}"; then
    echo "run.sh: reusing the PostgreSQL already running from ${PG_DIR}"
    # postgres.sh starts clusters with wal_level=logical (the change feed's replication slot), but the
    # level is read only at server start: one started before that keeps its old level until restarted.
    # A leftover nobody uses (no client connected) is restarted here, on the same port; one in use is
    # left alone, with the way to restart it.
    wal_level="$(pg_cluster_setting "${PG_DIR}" wal_level 2>/dev/null)" || wal_level="unknown"
    if [[ "${wal_level}" != logical ]]; then
      pg_port="$(pg_cluster_port "${PG_DIR}")"
      clients="$(pg_admin_psql "${PG_DIR}" -d postgres -tA -c "SELECT count(*) FROM pg_stat_activity
        WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()" 2>/dev/null)" || clients=""
      if [[ "${clients}" == 0 ]]; then
        echo "run.sh: that PostgreSQL runs with wal_level=${wal_level}, not logical, and nobody uses it:" \
          "restarting it on port ${pg_port} with wal_level=logical"
        pg_cluster_stop "${PG_DIR}"
        pg_cluster_start "${PG_DIR}" "${pg_port}"
        PG_STARTED=1
      else
        cat >&2 <<EOF
run.sh: WARNING: the PostgreSQL running from ${PG_DIR} has wal_level=${wal_level}, not logical.
  wal_level is read only when PostgreSQL starts, and ${clients:-some} client(s) are connected to it, so it
  is left running as it is. The change feed's logical replication slot needs wal_level=logical: stop it
  (Ctrl-C the run.sh that started it, or: . deploy/postgres.sh && pg_cluster_stop ${PG_DIR})
  and run ./deploy/run.sh again, which starts it with wal_level=logical.
EOF
      fi
    fi
  else
    mkdir -p "$(dirname "${PG_DIR}")"
    pg_cluster_start "${PG_DIR}" "$(pg_free_port "${PROFILES_PG_PORT:-55433}")"
    PG_STARTED=1
  fi
  # No trust: the service connects as `profiles`, which owns its database and is not a superuser, with a
  # password from a libpq password file (PGPASSFILE), so it is on no command line.
  pg_secure "${PG_DIR}"
  export PGPASSFILE="${STATE_DIR}/auth/db.pgpass"
  pg_ensure_owner_role "${PG_DIR}" profiles profiles "${PGPASSFILE}"
  DATABASE_URL="$(pg_url "${PG_DIR}" profiles profiles)"
fi

# Sign-in: the service's token key, made once for this machine and kept with its data, never in the
# repository or on a command line. Tokens are minted from it with profilectl: an admin one for the
# seeding below, and one for the demo user Ada, which the app and the examples use.
KEY_FILE="${PROFILES_AUTH_KEY_FILE:-${STATE_DIR}/auth/profiles.key}"
TOKEN_DIR="$(dirname "${KEY_FILE}")"
CTL_BIN="${BUILD_DIR}/services/profile/cli/profilectl"
DEMO_USER=6f1c1d8e-3b0a-4c55-9a43-2f6d2c1e0a01
if [[ ! -s "${KEY_FILE}" ]]; then
  mkdir -p "${TOKEN_DIR}"
  (umask 077 && openssl rand -base64 48 >"${KEY_FILE}")
  echo "run.sh: made this machine's token key ${KEY_FILE}"
fi
USER_TOKEN_FILE="${TOKEN_DIR}/demo-user.token"
ADMIN_HEADER_FILE="${TOKEN_DIR}/admin.header"
(
  umask 077
  "${CTL_BIN}" token --user "${DEMO_USER}" --ttl 720h --key-file "${KEY_FILE}" >"${USER_TOKEN_FILE}"
  printf 'Authorization: Bearer %s\n' \
    "$("${CTL_BIN}" token --user 00000000-0000-4000-8000-000000000000 --admin --ttl 1h \
      --key-file "${KEY_FILE}")" >"${ADMIN_HEADER_FILE}"
)

# Shown without a password or query parameters.
shown_url="$(sed -E 's#^([a-z]+://[^:/@]+):[^@]*@#\1:***@#; s#\?.*##' <<<"${DATABASE_URL}")"
echo "run.sh: starting profile_server (database ${shown_url})"
# Logs for a person at a terminal, JSON lines for a collector otherwise; PROFILES_LOG_FORMAT wins.
if [[ -z "${PROFILES_LOG_FORMAT:-}" && -t 2 ]]; then
  export PROFILES_LOG_FORMAT=text
fi
DATABASE_URL="${DATABASE_URL}" "${SERVER_BIN}" \
  --grpc-address="${GRPC_ADDRESS}" --http-address="${HTTP_ADDRESS}" --pool-size="${POOL_SIZE}" \
  --grpc-reflection --auth-key-file="${KEY_FILE}" "${SERVER_EXTRA[@]}" &
SERVER_PID=$!

BASE="http://${HTTP_ADDRESS}"
deadline=$((SECONDS + 60))
until curl -fsS -o /dev/null --max-time 2 "${BASE}/readyz" 2>/dev/null; do
  if ! kill -0 "${SERVER_PID}" 2>/dev/null; then
    set +e
    wait "${SERVER_PID}"
    rc=$?
    set -e
    SERVER_PID=""
    echo "run.sh: profile_server exited with code ${rc} before it became ready" >&2
    exit 1
  fi
  if ((SECONDS >= deadline)); then
    echo "run.sh: profile_server not ready after 60 s (GET ${BASE}/readyz)" >&2
    exit 1
  fi
  sleep 0.2
done

# Demo profiles: fixed ids, created once. An existing one answers 428 (no base version) or 409; both fine.
# The 1x1 PNG gives the first one an avatar.
PNG_1X1="iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
seed() {
  local id="$1" body="$2" code
  code="$(curl -sS -o /dev/null -w '%{http_code}' --max-time 10 -X PUT "${BASE}/user/${id}" \
    -H "@${ADMIN_HEADER_FILE}" -H 'Content-Type: application/json' --data "${body}")" ||
    code="curl failed"
  case "${code}" in
    200 | 201) echo "run.sh: demo profile ${id} created" ;;
    409 | 428) ;; # already there
    *) echo "run.sh: warning: seeding ${id} answered ${code}" >&2 ;;
  esac
}
if ((SEED)); then
  seed 6f1c1d8e-3b0a-4c55-9a43-2f6d2c1e0a01 \
    "{\"name\":\"Ada Lovelace\",\"email\":\"ada@example.com\",\"avatar\":\"${PNG_1X1}\"}"
  seed 6f1c1d8e-3b0a-4c55-9a43-2f6d2c1e0a02 '{"name":"Alan Turing","email":"alan@example.com"}'
  seed 6f1c1d8e-3b0a-4c55-9a43-2f6d2c1e0a03 '{"name":"Grace Hopper","email":"grace@example.com"}'
fi

cat <<EOF

Profiles is running.
  gRPC  ${GRPC_ADDRESS}   (profile.v1.ProfileService, health, reflection (on for local use); see proto/profile/v1/profile.proto)
  HTTP  ${BASE}

Sign-in is on: every call needs a bearer token. One for the demo user Ada (${DEMO_USER}),
valid 30 days, is in ${USER_TOKEN_FILE}; Ada may write her own profile and read every one.

Try:
  TOKEN=\$(cat ${USER_TOKEN_FILE})
  curl -i -H "Authorization: Bearer \$TOKEN" ${BASE}/user/${DEMO_USER}
  curl -s -H "Authorization: Bearer \$TOKEN" '${BASE}/user?page_size=10'
  curl -i -X PATCH ${BASE}/user/${DEMO_USER} -H "Authorization: Bearer \$TOKEN" \\
       -H 'If-Match: "1"' -H 'Content-Type: application/json' -d '{"name":"Ada King"}'
  curl -i ${BASE}/user/${DEMO_USER}          # no token: 401

Other tokens (--admin may write every profile):
  ${CTL_BIN#"${ROOT}/"} token --user ID [--admin] [--ttl 1h] --key-file ${KEY_FILE}
EOF

# The Qt app: opened against this server when there is a display, otherwise explained.
APP_BIN="${BUILD_DIR}/apps/qml-client/profiles_app"
if [[ -x "${APP_BIN}" ]]; then
  if [[ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]]; then
    "${APP_BIN}" --server "${GRPC_ADDRESS}" --token-file "${USER_TOKEN_FILE}" &
    APP_PID=$!
    echo
    echo "Qt app opened (pid ${APP_PID}); it talks gRPC to ${GRPC_ADDRESS}."
  else
    cat <<EOF

Qt app: no display here. On a desktop it opens by itself; to open it by hand:
  ${APP_BIN#"${ROOT}/"} --server ${GRPC_ADDRESS} --token-file ${USER_TOKEN_FILE}
  (headless: xvfb-run -a -s "-screen 0 1280x1024x24" ${APP_BIN#"${ROOT}/"} --server ${GRPC_ADDRESS} --token-file ${USER_TOKEN_FILE})
  Two devices side by side: add --data-dir DIR with a different DIR for each.
EOF
  fi
fi
echo
if ((PG_STARTED)); then
  echo "Ctrl-C stops the server and PostgreSQL (data kept in ${PG_DIR})."
else
  echo "Ctrl-C stops the server."
fi

set +e
wait "${SERVER_PID}"
rc=$?
set -e
SERVER_PID=""
echo "run.sh: profile_server exited with code ${rc}"
exit "${rc}"
