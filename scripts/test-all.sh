#!/usr/bin/env bash
# Managed in the Hearth repository. `make test`: every test, in the least wall time two cores allow.
#
# Two sides run at once and a failure on either stops the other and fails the run:
# - static: yamllint, ansible-lint and the Python tests, in one process, from the start (they need
#   only the venv). Their output is kept in a log and printed when they finish.
# - molecule: the base image, then every scenario one at a time (a lock serialises them; each keeps
#   about one core busy). Only the platform scenario uses the artifacts built from source (MinIO,
#   Caddy, Ollama, the test model, the reference app's images), so they are built while the other
#   scenarios run and the platform scenario goes last, after they are ready. On a machine with
#   them cached the build is a few seconds of checks.
set -uo pipefail
cd "$(dirname "$0")/.."
logs=.cache/test-logs
mkdir -p "$logs"
static_log="$logs/lint-and-unit.log"
artifacts_log="$logs/artifacts.log"
# The scenarios that need `make artifacts`; every other scenario runs while they are built.
platform=tests/molecule/test_scenarios.py::test_scenario[platform]

# Stop a process and everything it started: the parent first, so it starts nothing new.
kill_tree() {
  local children child
  children=$(pgrep -P "$1")
  kill -TERM "$1" 2>/dev/null
  for child in $children; do kill_tree "$child"; done
}

static() {
  yamllint -s . && ansible-lint --profile production --offline -q && pytest -m "not molecule"
}

molecule_side() {
  make --no-print-directory image || return
  make --no-print-directory artifacts >"$artifacts_log" 2>&1 &
  local artifacts_pid=$!
  pytest -m molecule --deselect "$platform" tests/molecule || {
    local rc=$?
    kill_tree "$artifacts_pid"
    return "$rc"
  }
  wait "$artifacts_pid" || {
    local rc=$?
    echo "test-all: make artifacts failed (rc $rc); its log, $artifacts_log:" >&2
    tail -n 60 "$artifacts_log" >&2
    return "$rc"
  }
  pytest "$platform"
}

static >"$static_log" 2>&1 &
static_pid=$!
molecule_side &
molecule_pid=$!
stop_all() { kill_tree "$static_pid"; kill_tree "$molecule_pid"; }
trap 'stop_all; exit 130' INT TERM

# Whichever finishes first decides whether the other may go on.
wait -n "$static_pid" "$molecule_pid"
first_rc=$?
if kill -0 "$static_pid" 2>/dev/null; then
  first=molecule; other_pid=$static_pid
else
  first=static; other_pid=$molecule_pid
fi
if [ "$first_rc" -ne 0 ]; then
  echo "test-all: the $first side failed (rc $first_rc); stopping the other" >&2
  kill_tree "$other_pid"
  wait "$other_pid" 2>/dev/null
  [ "$first" = static ] && { echo "--- lint and unit tests ($static_log)"; cat "$static_log"; }
  exit "$first_rc"
fi
wait "$other_pid"
other_rc=$?
echo "--- lint and unit tests ($static_log)"
cat "$static_log"
[ "$other_rc" -eq 0 ] || echo "test-all: the $([ "$first" = static ] && echo molecule || echo static) side failed (rc $other_rc)" >&2
exit "$other_rc"
