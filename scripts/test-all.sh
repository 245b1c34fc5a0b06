#!/usr/bin/env bash
# Managed in the Hearth repository. `make test`: every test, in the least wall time two cores allow.
#
# The work is CPU-bound on a small machine, so it is spread where a core is idle, and a failure
# anywhere stops everything still running and fails the run:
# - lint (yamllint, ansible-lint) from the start: it needs only the venv and fails fastest.
# - molecule: the base image, then every scenario one at a time (a lock serialises them; each keeps
#   about one core busy). Only the platform scenario uses the artifacts built from source (MinIO,
#   Caddy, Ollama, the test model, the reference app's images), so they are built from the start,
#   beside the base image and the other scenarios, and the platform scenario goes last, after they
#   are ready. On a machine with them cached the build is a few seconds of checks.
# - the Python tests beside the platform scenario: its converge and verify leave about half of
#   the second core idle (waits on services, rolling deploys, alerts), while before it the
#   scenarios and the builds already keep both cores busy.
# Each side's output is kept in a log under .cache/test-logs and printed when it ends.
set -uo pipefail
cd "$(dirname "$0")/.."
logs=.cache/test-logs
mkdir -p "$logs"
lint_log="$logs/lint.log"
unit_log="$logs/unit.log"
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

# race NAME_A PID_A NAME_B PID_B: wait for two running sides. The first to fail stops the other;
# otherwise both finish. Returns the failing side's rc, or 0.
race() {
  local name_a=$1 pid_a=$2 name_b=$3 pid_b=$4 rc first other other_pid
  wait -n "$pid_a" "$pid_b"
  rc=$?
  if kill -0 "$pid_a" 2>/dev/null; then
    first=$name_b; other=$name_a; other_pid=$pid_a
  else
    first=$name_a; other=$name_b; other_pid=$pid_b
  fi
  if [ "$rc" -ne 0 ]; then
    echo "test-all: $first failed (rc $rc); stopping $other" >&2
    kill_tree "$other_pid"
    wait "$other_pid" 2>/dev/null
    return "$rc"
  fi
  wait "$other_pid"
  rc=$?
  [ "$rc" -eq 0 ] || echo "test-all: $other failed (rc $rc)" >&2
  return "$rc"
}

# logged TITLE LOG COMMAND...: run a side with its output in LOG, printed under TITLE when it ends.
logged() {
  local title=$1 log=$2 rc
  shift 2
  "$@" >"$log" 2>&1
  rc=$?
  echo "--- $title ($log)"
  cat "$log"
  return "$rc"
}

lint() { yamllint -s . && ansible-lint --profile production --offline -q; }

molecule_side() {
  make --no-print-directory artifacts >"$artifacts_log" 2>&1 &
  local artifacts_pid=$!
  make --no-print-directory image || {
    local rc=$?
    kill_tree "$artifacts_pid"
    return "$rc"
  }
  pytest -m molecule --deselect "$platform" tests/molecule || {
    local rc=$?
    kill_tree "$artifacts_pid"
    return "$rc"
  }
  logged "Python tests" "$unit_log" pytest -m "not molecule" &
  local unit_pid=$!
  wait "$artifacts_pid" || {
    local rc=$?
    echo "test-all: make artifacts failed (rc $rc); its log, $artifacts_log:" >&2
    tail -n 60 "$artifacts_log" >&2
    kill_tree "$unit_pid"
    return "$rc"
  }
  pytest "$platform" &
  race "the Python tests" "$unit_pid" "the platform scenario" $!
}

logged lint "$lint_log" lint &
lint_pid=$!
molecule_side &
molecule_pid=$!
trap 'kill_tree "$lint_pid"; kill_tree "$molecule_pid"; exit 130' INT TERM
race lint "$lint_pid" "the molecule side" "$molecule_pid"
