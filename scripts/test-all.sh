#!/usr/bin/env bash
# Managed in the Hearth repository. `make test`: every test, in the least wall time two cores allow.
#
# The molecule scenarios run one at a time (a lock serialises them) and keep about one core busy:
# the controller's ansible-playbook and the test host take turns. Lint and the Python tests run
# beside them, in one process, on the other core; their output is kept in a log and printed when
# they finish. A failure on either side stops the other and fails the run.
set -uo pipefail
cd "$(dirname "$0")/.."
logs=.cache/test-logs
mkdir -p "$logs"
static_log="$logs/lint-and-unit.log"

static() {
  yamllint -s . && ansible-lint --profile production --offline -q && pytest -m "not molecule"
}

static >"$static_log" 2>&1 &
static_pid=$!
pytest -m molecule &
molecule_pid=$!

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
  pkill -TERM -P "$other_pid" 2>/dev/null; kill -TERM "$other_pid" 2>/dev/null
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
