#!/bin/sh
# Managed by Hearth. Checks a candidate postgresql.conf fragment before it is installed.
# Usage: hearth-pg-check-conf <conf-dir> <candidate-file>
# Builds a throwaway config that includes the running configuration and then the candidate,
# and asks the postgres binary to parse it (-C). Invalid names or values fail here, not at the
# next restart.
set -eu
conf_dir=$1
candidate=$2
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)
case "$conf_dir" in /etc/postgresql/*/main) bin="/usr/lib/postgresql/$(basename "$(dirname "$conf_dir")")/bin" ;; esac
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp "$candidate" "$tmp/candidate.conf"
{ cat "$conf_dir/postgresql.conf"; echo "include '$tmp/candidate.conf'"; } >"$tmp/postgresql.conf"
sed -i "s|^include_dir *= *'conf.d'|include_dir = '$conf_dir/conf.d'|" "$tmp/postgresql.conf"
chown -R postgres "$tmp"
cd "$tmp"
runuser -u postgres -- "$bin/postgres" -D "$tmp" -C shared_buffers >/dev/null
