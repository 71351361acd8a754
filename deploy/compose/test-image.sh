#!/usr/bin/env bash
# deploy/compose/test-image.sh: build the images of deploy/Dockerfile and test them, on a machine
# whose container engine can build and pull (docker with its daemon and the compose plugin, or
# podman with a compose provider). Not run by CI: the CI machine has no container engine.
#
#   deploy/compose/test-image.sh [--engine docker|podman] [--no-e2e] [--no-compose]
#
#   1. builds the runtime and nginx targets (localhost/profiles:test, localhost/profiles-nginx:test);
#   2. checks the image: it runs as uid 10001, holds no compiler, and profile_server starts in it
#      (every library it loads is there);
#   3. the end-to-end tests (tests/e2e) of a build tree, build-image/, whose profile_server is a
#      wrapper that runs the image's instead (--network host, the same arguments, environment and
#      exit code; as the calling user, so that it can read the key files the tests make);
#   4. deploy/compose.yaml: up --wait, a token from the stack, REST and gRPC through nginx, one
#      replica stopped while requests keep being served, down -v.
# Exit code 0 when every step passed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "${ROOT}"

ENGINE="${PROFILES_CONTAINER_ENGINE:-}"
E2E=1
COMPOSE=1
while (($#)); do
  case "$1" in
    --engine) ENGINE="$2"; shift ;;
    --no-e2e) E2E=0 ;;
    --no-compose) COMPOSE=0 ;;
    -h | --help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "test-image.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done
if [[ -z "${ENGINE}" ]]; then
  if command -v docker >/dev/null && docker info >/dev/null 2>&1; then
    ENGINE=docker
  elif command -v podman >/dev/null; then
    ENGINE=podman
  else
    echo "test-image.sh: no container engine that works here (docker with a daemon, or podman)" >&2
    exit 1
  fi
fi
IMAGE=localhost/profiles:test
NGINX_IMAGE=localhost/profiles-nginx:test
step() { echo "test-image.sh: $*"; }

# 1. The images.
step "building ${IMAGE} and ${NGINX_IMAGE} with ${ENGINE}"
"${ENGINE}" build -f deploy/Dockerfile --target runtime -t "${IMAGE}" .
"${ENGINE}" build -f deploy/Dockerfile --target nginx -t "${NGINX_IMAGE}" .

# 2. The image itself.
uid="$("${ENGINE}" run --rm --entrypoint id "${IMAGE}" -u)"
[[ "${uid}" == 10001 ]] || { echo "test-image.sh: the image runs as uid ${uid}, not 10001" >&2; exit 1; }
if "${ENGINE}" run --rm --entrypoint /bin/sh "${IMAGE}" -c \
    'command -v cc || command -v gcc || command -v c++ || command -v g++ || command -v clang'; then
  echo "test-image.sh: the runtime image holds a compiler" >&2
  exit 1
fi
"${ENGINE}" run --rm "${IMAGE}" --help >/dev/null
step "the image runs as uid 10001, has no compiler, and profile_server starts in it"

# 3. The end-to-end tests against the image's profile_server.
if ((E2E)); then
  BUILD=build-image
  PROFILES_BUILD_DIR="${BUILD}" ./deploy/setup.sh --build-dir "${BUILD}"
  server="${BUILD}/services/profile/profile_server"
  mv -f "${server}" "${server}.host"
  user_args=(--user "$(id -u):$(id -g)")
  if [[ "${ENGINE}" == podman && "$(id -u)" != 0 ]]; then
    user_args+=(--userns=keep-id)
  fi
  tmp="${TMPDIR:-/tmp}"
  {
    echo '#!/usr/bin/env bash'
    echo '# profile_server from the image (deploy/compose/test-image.sh); the real one is beside it.'
    echo 'set -u'
    printf 'ENGINE=%q IMAGE=%q\n' "${ENGINE}" "${IMAGE}"
    # shellcheck disable=SC2016  # ${PWD} is expanded by the wrapper, when it runs
    printf 'run_args=(--network host --label profiles-image-test=1 -v %q:%q -v %q:%q -w "${PWD}"' \
      "${tmp}" "${tmp}" "${ROOT}" "${ROOT}"
    printf ' %q' "${user_args[@]}"
    echo ')'
    cat <<'EOF'
while IFS='=' read -r name _; do
  case "${name}" in PROFILES_* | DATABASE_URL | PG* | TMPDIR) run_args+=(-e "${name}") ;; esac
done < <(env)
cid="$("${ENGINE}" run -d "${run_args[@]}" "${IMAGE}" "$@")" || exit 125
# A SIGKILLed wrapper leaves its container running: a watcher in a session of its own removes it.
setsid bash -c "while kill -0 $$ 2>/dev/null; do sleep 0.2; done; ${ENGINE} rm -f ${cid}" \
  </dev/null >/dev/null 2>&1 &
trap '"${ENGINE}" kill --signal TERM "${cid}" >/dev/null 2>&1' TERM
trap '"${ENGINE}" kill --signal INT "${cid}" >/dev/null 2>&1' INT
"${ENGINE}" logs -f "${cid}" &
logs=$!
status_file="$(mktemp)"
"${ENGINE}" wait "${cid}" >"${status_file}" &
waiter=$!
# `wait` returns early when a trapped signal arrives; wait again until the container has exited.
while kill -0 "${waiter}" 2>/dev/null; do wait "${waiter}"; done
wait "${logs}" 2>/dev/null
code="$(tr -dc '0-9' <"${status_file}")"
rm -f "${status_file}"
exit "${code:-125}"
EOF
  } >"${server}"
  chmod 755 "${server}"
  restore() {
    mv -f "${server}.host" "${server}"
    ids="$("${ENGINE}" ps -aq --filter label=profiles-image-test=1)"
    # shellcheck disable=SC2086  # one word per container id
    [[ -z "${ids}" ]] || "${ENGINE}" rm -f ${ids} >/dev/null
  }
  trap restore EXIT
  suites="$(grep -hoE '^TEST(_F|_P)?\([A-Za-z0-9_]+,' tests/e2e/*.cc |
    sed -E 's/^TEST(_F|_P)?\(//; s/,$//' | sort -u | paste -sd'|')"
  step "end-to-end tests against the image: ${suites//|/ }"
  PROFILES_BUILD_DIR="${BUILD}" ./deploy/test.sh --quick --no-build -- -R "^(${suites})\\."
  restore
  trap - EXIT
fi

# 4. The compose stack.
if ((COMPOSE)); then
  export PROFILES_IMAGE="${IMAGE}" PROFILES_NGINX_IMAGE="${NGINX_IMAGE}"
  export PROFILES_COMPOSE_GRPC_PORT="${PROFILES_COMPOSE_GRPC_PORT:-55051}"
  export PROFILES_COMPOSE_REST_PORT="${PROFILES_COMPOSE_REST_PORT:-58080}"
  compose=("${ENGINE}" compose -f deploy/compose.yaml -p profiles-image-test)
  down() { "${compose[@]}" down -v --remove-orphans >/dev/null 2>&1 || true; }
  trap down EXIT
  step "compose up"
  "${compose[@]}" up -d --no-build --wait
  base="http://127.0.0.1:${PROFILES_COMPOSE_REST_PORT}"
  id="$(cat /proc/sys/kernel/random/uuid)"
  token="$("${compose[@]}" run --rm -T token --user "${id}" --admin | tr -d '\r\n')"
  api() { curl -sS -o /dev/null -w '%{http_code}' -H "Authorization: Bearer ${token}" "$@"; }
  expect() {
    local want="$1" got
    shift
    got="$(api "$@")"
    [[ "${got}" == "${want}" ]] || { echo "test-image.sh: $* answered ${got}, not ${want}" >&2; exit 1; }
  }
  expect 200 "${base}/readyz"
  expect 201 -X PUT "${base}/user/${id}" -H 'Content-Type: application/json' \
    -d '{"name":"Compose Test","email":"compose@example.com"}'
  expect 200 -X PATCH "${base}/user/${id}" -H 'Content-Type: application/json' -H 'If-Match: "1"' \
    -d '{"name":"Compose Test 2"}'
  expect 412 -X PATCH "${base}/user/${id}" -H 'Content-Type: application/json' -H 'If-Match: "1"' \
    -d '{"name":"Stale"}'
  # gRPC through nginx: without a token a replica answers UNAUTHENTICATED (nginx alone could only
  # say UNAVAILABLE).
  node tests/grpc-js/stale_write.js "127.0.0.1:${PROFILES_COMPOSE_GRPC_PORT}" "${id}" proto |
    grep -q '^code=UNAUTHENTICATED' ||
    { echo "test-image.sh: gRPC through nginx did not reach a replica" >&2; exit 1; }
  step "one replica stopped: requests keep being served by the other"
  "${compose[@]}" stop profile-1
  for _ in 1 2 3 4 5 6; do
    expect 200 "${base}/user/${id}"
  done
  "${compose[@]}" start profile-1
  step "compose stack passed"
fi
step "all passed"
