#!/bin/sh
# Managed by Hearth. Checks a candidate Redis config or ACL file before it is installed.
# Usage: hearth-redis-check-conf conf|acl <file>
# Starts a throwaway redis-server on a private unix socket (no TCP, no persistence) with the
# candidate; a bad directive or ACL rule makes it exit at once with Redis's own message, a good
# one keeps it running until the timeout stops it.
set -u
kind=$1
file=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
case "$kind" in
  conf) conf=$file ;;
  acl) printf 'aclfile %s\n' "$file" >"$tmp/acl.conf"; conf=$tmp/acl.conf ;;
  *) echo "usage: $0 conf|acl FILE" >&2; exit 2 ;;
esac
timeout 2 redis-server "$conf" --port 0 --unixsocket "$tmp/redis.sock" --daemonize no \
  --supervised no --dir "$tmp" --appendonly no --save '' --logfile '' --pidfile "$tmp/pid" \
  --bind 127.0.0.1 >"$tmp/out" 2>&1
rc=$?
if [ "$rc" -eq 124 ]; then
  exit 0
fi
grep -v '^\s*$' "$tmp/out" | tail -n 8 >&2
exit 1
