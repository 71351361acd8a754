# shellcheck shell=bash
# deploy/postgres.sh — a small library for project-owned PostgreSQL 15 clusters.
# Source it (`. deploy/postgres.sh`); it defines functions and changes no shell options.
#
#   pg_free_port [FROM]                 print a free TCP port on 127.0.0.1 (scans upward from FROM, default 55432)
#   pg_cluster_init DIR                 initdb in DIR/data unless it already holds a cluster
#   pg_cluster_start DIR PORT [EXTRA]   start it (no-op when its postmaster is already running); listens on
#                                       127.0.0.1:PORT, socket in DIR, with PG_LOGICAL_OPTIONS (below);
#                                       EXTRA = more postgres options, e.g. "-c fsync=off" (they come last,
#                                       so they win over PG_LOGICAL_OPTIONS)
#   pg_cluster_setting DIR NAME         SHOW NAME on the running cluster of DIR (superuser through the socket)
#   pg_cluster_running DIR              true when DIR's postmaster is alive
#   pg_cluster_port DIR                 port of the running postmaster of DIR
#   pg_cluster_pid DIR                  PID of the running postmaster of DIR
#   pg_cluster_stop DIR                 pg_ctl stop -m fast; SIGQUIT/SIGKILL by PID as a fallback
#   pg_url DIR [DB] [USER]              postgresql://USER@127.0.0.1:PORT/DB (defaults: postgres, postgres)
#   pg_psql DIR [psql args...]          psql as user postgres over TCP to the cluster (trusting clusters)
#   pg_ensure_database DIR NAME         CREATE DATABASE NAME unless it exists (trusting clusters)
#   pg_secure DIR                       no more trust: passwords (scram-sha-256) over TCP, and the superuser
#                                       only through DIR's socket as the cluster's owner (peer); reloads it
#   pg_admin_psql DIR [psql args...]    psql as the superuser through the socket, as the cluster's owner
#   pg_ensure_owner_role DIR DB ROLE PASSFILE
#                                       a LOGIN role ROLE that is not a superuser (but has REPLICATION, for
#                                       the change feed's logical slot) and owns database DB and
#                                       everything in its public schema; its password is made once into
#                                       PASSFILE, a libpq password file (mode 600) for PGPASSFILE
#   pg_throwaway_start                  mktemp -d + init + start on a free port with fsync off;
#                                       sets PG_THROWAWAY_DIR and PG_THROWAWAY_PORT
#   pg_throwaway_stop                   stop it and remove the directory
#
# When running as root the cluster belongs to the `postgres` system user (initdb refuses root) and every
# server-side command runs through runuser; otherwise it belongs to the invoking user. The directory must be
# traversable by that user: use /var/lib/... or `mktemp -d`, not a folder under a 0700 home when root.

PG_BIN="${PG_BIN:-/usr/lib/postgresql/15/bin}"

# What every cluster started here runs with, for the change feed from the WAL
# (services/profile/storage/wal_sequencer.h: a logical replication slot per database, read with wal2json).
# Passed with -c at every start rather than written into the data directory, so a cluster initialised
# before these lines (run.sh keeps its data across runs) gets them at its next start, and the command
# line wins over postgresql.conf and postgresql.auto.conf.
#   wal_level=logical         logical decoding; read only at server start (a running cluster keeps its
#                             old level until restarted: run.sh checks).
#   max_replication_slots=64  one slot per database whose server runs. Tests: every test database with a
#   max_wal_senders=64        running server has its own. A full ctest -j2 (526 tests) on one cluster
#                             peaked at 3 test databases at once (sampled every 0.25 s), so at most 3
#                             slots; the default 10 would do for that, but not for a larger
#                             PROFILES_TEST_JOBS, nor with the slots of test processes that crashed
#                             before dropping their database (they stay until the cluster goes).
#                             max_wal_senders bounds walsender connections (streaming a slot rather
#                             than reading it through SQL functions, as the sequencer does); they do
#                             not count against max_connections. Both cost little shared memory.
#   max_slot_wal_keep_size=1GB a slot whose consumer stopped (a server killed and never restarted, a
#                             test cluster whose tests left) would otherwise keep WAL forever and fill
#                             the disk; past 1 GB of WAL behind, PostgreSQL invalidates the slot
#                             ("lost") and frees the WAL; the sequencer then starts a new epoch and
#                             clients resync (never a silent gap). 1 GB = the default max_wal_size:
#                             more than a restarting consumer has to catch up on, and small next to
#                             the disk of a dev machine or CI. Same for throwaway clusters (tests,
#                             bench/run.sh), whose slots die with them.
PG_LOGICAL_OPTIONS="${PG_LOGICAL_OPTIONS:--c wal_level=logical -c max_replication_slots=64 -c max_wal_senders=64 -c max_slot_wal_keep_size=1GB}"

# Runs a command as the cluster owner.
_pg_as_owner() {
  if [[ "$(id -u)" -eq 0 ]]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

_pg_log() { printf '%s\n' "postgres.sh: $*" >&2; }

pg_free_port() {
  local port="${1:-55432}"
  while ((port < 65535)); do
    # A port is free when nothing accepts on it; bash's /dev/tcp needs no extra tools.
    if ! (exec 3<>"/dev/tcp/127.0.0.1/${port}") 2>/dev/null; then
      # Also skip ports that have a stale socket lock of another cluster in /tmp or /var/run.
      if [[ ! -e "/tmp/.s.PGSQL.${port}.lock" && ! -e "/var/run/postgresql/.s.PGSQL.${port}.lock" ]]; then
        printf '%s\n' "${port}"
        return 0
      fi
    fi
    port=$((port + 1))
  done
  _pg_log "no free port found"
  return 1
}

pg_cluster_init() {
  local dir="$1"
  if [[ -f "${dir}/data/PG_VERSION" ]]; then
    return 0
  fi
  mkdir -p "${dir}"
  if [[ "$(id -u)" -eq 0 ]]; then
    if ! id postgres >/dev/null 2>&1; then
      _pg_log "user 'postgres' does not exist (is the postgresql-15 package installed?)"
      return 1
    fi
    chown postgres:postgres "${dir}"
  fi
  chmod 0700 "${dir}"
  _pg_log "creating cluster in ${dir}/data"
  _pg_as_owner "${PG_BIN}/initdb" -D "${dir}/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 \
    --no-sync >"${dir}/initdb.log" 2>&1 || {
    cat "${dir}/initdb.log" >&2
    return 1
  }
}

pg_cluster_pid() {
  local dir="$1" pid
  [[ -r "${dir}/data/postmaster.pid" ]] || return 1
  pid="$(head -n 1 "${dir}/data/postmaster.pid" 2>/dev/null)" || return 1
  [[ "${pid}" =~ ^[0-9]+$ ]] || return 1
  printf '%s\n' "${pid}"
}

pg_cluster_running() {
  local dir="$1" pid
  pid="$(pg_cluster_pid "${dir}")" || return 1
  kill -0 "${pid}" 2>/dev/null || return 1
  # Make sure the PID really is this cluster's postmaster and not a recycled PID.
  [[ "$(readlink "/proc/${pid}/exe" 2>/dev/null)" == */postgres ]]
}

pg_cluster_port() {
  local dir="$1"
  pg_cluster_running "${dir}" || return 1
  sed -n '4p' "${dir}/data/postmaster.pid"
}

pg_cluster_start() {
  local dir="$1" port="$2" extra="${3:-}"
  pg_cluster_init "${dir}" || return 1
  if pg_cluster_running "${dir}"; then
    _pg_log "cluster in ${dir} already running (port $(pg_cluster_port "${dir}"))"
    return 0
  fi
  # setsid: the postmaster gets its own session, so a Ctrl-C in the terminal reaches only the script,
  # which then stops the server first and PostgreSQL after it.
  local as_owner=()
  if [[ "$(id -u)" -eq 0 ]]; then
    as_owner=(runuser -u postgres --)
  fi
  setsid -w "${as_owner[@]}" "${PG_BIN}/pg_ctl" -D "${dir}/data" -l "${dir}/postgres.log" -w -t 60 \
    -o "-k ${dir} -c listen_addresses=127.0.0.1 -p ${port} ${PG_LOGICAL_OPTIONS} ${extra}" start >/dev/null || {
    _pg_log "pg_ctl start failed; last lines of ${dir}/postgres.log:"
    tail -n 20 "${dir}/postgres.log" >&2
    return 1
  }
  _pg_log "PostgreSQL running on 127.0.0.1:${port} (pid $(pg_cluster_pid "${dir}"), data ${dir}/data)"
}

pg_cluster_stop() {
  local dir="$1" pid i
  pid="$(pg_cluster_pid "${dir}")" || return 0
  kill -0 "${pid}" 2>/dev/null || return 0
  _pg_as_owner "${PG_BIN}/pg_ctl" -D "${dir}/data" -m fast -w -t 30 stop >/dev/null 2>&1 || true
  # Fallback: the postmaster by PID (SIGQUIT = immediate shutdown, then SIGKILL).
  if kill -0 "${pid}" 2>/dev/null; then
    kill -QUIT "${pid}" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
      kill -0 "${pid}" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "${pid}" 2>/dev/null || true
  fi
  _pg_log "PostgreSQL in ${dir} stopped (pid ${pid})"
}

pg_cluster_setting() {
  local dir="$1" name="$2"
  if [[ ! "${name}" =~ ^[a-z_]+$ ]]; then
    _pg_log "refusing odd setting name '${name}'"
    return 1
  fi
  pg_admin_psql "${dir}" -d postgres -tA -c "SHOW ${name}"
}

pg_url() {
  local dir="$1" db="${2:-postgres}" user="${3:-postgres}" port
  port="$(pg_cluster_port "${dir}")" || return 1
  printf 'postgresql://%s@127.0.0.1:%s/%s\n' "${user}" "${port}" "${db}"
}

pg_psql() {
  local dir="$1" port
  shift
  port="$(pg_cluster_port "${dir}")" || return 1
  "${PG_BIN}/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "${port}" -U postgres "$@"
}

pg_ensure_database() {
  local dir="$1" name="$2"
  if [[ ! "${name}" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]]; then
    _pg_log "refusing odd database name '${name}'"
    return 1
  fi
  if [[ "$(pg_psql "${dir}" -d postgres -tA -c "SELECT 1 FROM pg_database WHERE datname = '${name}'")" != 1 ]]; then
    pg_psql "${dir}" -d postgres -c "CREATE DATABASE ${name}"
    _pg_log "created database ${name}"
  fi
}

pg_secure() {
  local dir="$1" owner f
  owner="$(stat -c %U "${dir}/data")"
  # peer maps the operating system's cluster owner to the superuser, and nobody else to it.
  cat >"${dir}/data/pg_hba.conf.new" <<EOF
# Written by deploy/postgres.sh (pg_secure). No trust: the superuser only through the socket, as the
# cluster's owner; every other connection with a password.
local all postgres                peer map=owner
host  all all      127.0.0.1/32   scram-sha-256
host  all all      ::1/128        scram-sha-256
EOF
  printf '# Written by deploy/postgres.sh (pg_secure).\nowner %s postgres\n' "${owner}" \
    >"${dir}/data/pg_ident.conf.new"
  for f in pg_hba.conf pg_ident.conf; do
    chown "${owner}" "${dir}/data/${f}.new"
    chmod 600 "${dir}/data/${f}.new"
    mv "${dir}/data/${f}.new" "${dir}/data/${f}"
  done
  if pg_cluster_running "${dir}"; then
    _pg_as_owner "${PG_BIN}/pg_ctl" -D "${dir}/data" reload >/dev/null
  fi
}

pg_admin_psql() {
  local dir="$1" port
  shift
  port="$(pg_cluster_port "${dir}")" || return 1
  _pg_as_owner "${PG_BIN}/psql" -X -q -v ON_ERROR_STOP=1 -h "${dir}" -p "${port}" -U postgres "$@"
}

pg_ensure_owner_role() {
  local dir="$1" db="$2" role="$3" passfile="$4" password name
  for name in "${db}" "${role}"; do
    if [[ ! "${name}" =~ ^[a-z_][a-z0-9_]*$ ]]; then
      _pg_log "refusing odd name '${name}'"
      return 1
    fi
  done
  if [[ ! -s "${passfile}" ]]; then
    (umask 077 && printf '127.0.0.1:*:%s:%s:%s\n' "${db}" "${role}" "$(openssl rand -hex 24)" >"${passfile}")
  fi
  password="$(cut -d: -f5 "${passfile}")"
  # The password goes in on stdin, never on a command line (ps would show it).
  pg_admin_psql "${dir}" -d postgres <<EOF
\\set role ${role}
\\set db ${db}
\\set password ${password}
SELECT format('CREATE ROLE %I', :'role') WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'role') \\gexec
SELECT format('ALTER ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE REPLICATION PASSWORD %L', :'role', :'password') \\gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'role') WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db') \\gexec
SELECT format('ALTER DATABASE %I OWNER TO %I', :'db', :'role') \\gexec
EOF
  # A database the superuser created and migrated before (run.sh until 2026-11-30): its tables,
  # sequences and functions change hands too.
  pg_admin_psql "${dir}" -d "${db}" <<EOF
\\set role ${role}
SELECT format('ALTER TABLE %s OWNER TO %I', c.oid::regclass, :'role')
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm')
   AND pg_get_userbyid(c.relowner) <> :'role' \\gexec
SELECT format('ALTER SEQUENCE %s OWNER TO %I', c.oid::regclass, :'role')
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'public' AND c.relkind = 'S' AND pg_get_userbyid(c.relowner) <> :'role'
   AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.objid = c.oid AND d.deptype IN ('a', 'i')) \\gexec
SELECT format('ALTER FUNCTION %s OWNER TO %I', p.oid::regprocedure, :'role')
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = 'public' AND pg_get_userbyid(p.proowner) <> :'role' \\gexec
EOF
}

pg_throwaway_start() {
  local port_from="${1:-55432}"
  PG_THROWAWAY_DIR="$(mktemp -d -t profiles-pg.XXXXXX)"
  PG_THROWAWAY_PORT="$(pg_free_port "${port_from}")" || return 1
  pg_cluster_start "${PG_THROWAWAY_DIR}" "${PG_THROWAWAY_PORT}" \
    "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
}

pg_throwaway_stop() {
  if [[ -n "${PG_THROWAWAY_DIR:-}" && -d "${PG_THROWAWAY_DIR}" ]]; then
    pg_cluster_stop "${PG_THROWAWAY_DIR}"
    rm -rf "${PG_THROWAWAY_DIR}"
    PG_THROWAWAY_DIR=""
  fi
}
