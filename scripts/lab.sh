#!/usr/bin/env bash
# The lab: systemd containers that stand in for rented machines.
#   scripts/lab.sh up        create the hosts in inventories/lab and converge site.yml on them
#   scripts/lab.sh hosts     create and prepare the hosts only
#   scripts/lab.sh converge  run site.yml once and report whether anything changed
#   scripts/lab.sh status    print what runs where
#   scripts/lab.sh down      remove the hosts and everything the lab generated
# HEARTH_LAB_INVENTORY picks another lab inventory (tests/apps/multihost adds a second apps host).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
INVENTORY=${HEARTH_LAB_INVENTORY:-inventories/lab}
IMAGE=${HEARTH_LAB_IMAGE:-hearth/debian-systemd:13}
CACHE=${HEARTH_CACHE:-$HOME/.cache/hearth}
VENV=${VENV:-.venv}
export PATH="$ROOT/$VENV/bin:$PATH" ANSIBLE_FORCE_COLOR=${ANSIBLE_FORCE_COLOR:-0}
# Ports the first lab host publishes, on 127.0.0.1 only: host port -> container port.
PORTS=${HEARTH_LAB_PORTS:-"8443:443 8080:80 15432:5432 16379:6379"}

log() { printf '\033[1m[lab]\033[0m %s\n' "$*" >&2; }

lab_hosts() {
  ansible-inventory -i "$INVENTORY" --list 2>/dev/null \
    | python3 -c 'import json,sys; d=json.load(sys.stdin); print("\n".join(sorted(d["_meta"]["hostvars"])))'
}

create_hosts() {
  mkdir -p "$CACHE/apt-archives/partial" "$CACHE/artifacts"
  local first=1 name publish archives
  for name in $(lab_hosts); do
    if [ "$(docker inspect -f '{{.State.Running}}' "$name" 2>/dev/null)" = "true" ]; then
      first=0; continue
    fi
    docker rm -f "$name" >/dev/null 2>&1 || true
    publish=()
    # apt locks its archive directory, and hosts cannot see each other's lock holder: hosts
    # converged side by side would fail on the lock. The first host uses the shared cache; the
    # others get their own, seeded from it by hard links.
    archives="$CACHE/apt-archives"
    if [ "$first" = 1 ]; then
      for p in $PORTS; do publish+=(-p "127.0.0.1:${p%%:*}:${p##*:}"); done
      # The first host is the front door: its backups reach MinIO's S3 site by its public name.
      publish+=(--add-host "s3.lab.hearth.test:127.0.0.1")
    else
      archives="$CACHE/apt-archives-$name"
      mkdir -p "$archives/partial"
      find "$CACHE/apt-archives" -maxdepth 1 -name '*.deb' -exec ln -f -t "$archives" {} + 2>/dev/null || true
    fi
    log "starting $name"
    docker run -d --name "$name" --hostname "$name" --label hearth.lab=1 \
      --stop-signal SIGRTMIN+3 --cap-add SYS_ADMIN --cap-add NET_ADMIN --cap-add SYS_PTRACE --cgroupns=host \
      --security-opt seccomp=unconfined --tmpfs /run --tmpfs /run/lock --tmpfs /tmp --tmpfs /var/lib/docker:exec,size=6g \
      -v /sys/fs/cgroup:/sys/fs/cgroup:rw \
      -v "$archives:/var/cache/apt/archives:rw" \
      -v "$CACHE/artifacts:/var/cache/hearth-artifacts:ro" \
      "${publish[@]}" "$IMAGE" /sbin/init >/dev/null
    first=0
  done
}

prepare_hosts() {
  ansible-playbook -i "$INVENTORY" molecule/shared/prepare.yml tests/apps/registry.yml >"$CACHE/lab-prepare.log" 2>&1 \
    || { tail -n 30 "$CACHE/lab-prepare.log" >&2; exit 1; }
}

converge() {
  local log_file="$CACHE/lab-converge.log" summary="$CACHE/lab-converge.json" changed
  log "converging site.yml (log: $log_file)"
  # ansible-runner drives ansible-playbook; the change count comes from its events, not the recap.
  python3 scripts/converge.py --inventory "$INVENTORY" --playbook site.yml --summary "$summary" -- "$@" 2>&1 | tee "$log_file"
  [ "${PIPESTATUS[0]}" -eq 0 ] || exit 1
  changed=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["changed"])' "$summary")
  if [ "$changed" -eq 0 ]; then
    log "converge finished with no changes: the lab already matched site.yml"
  else
    log "converge finished with $changed changes (a second 'make lab' should report none)"
  fi
}

status() {
  local secrets="$ROOT/$INVENTORY/.secrets"
  cat <<INFO

Hearth lab ($(lab_hosts | tr '\n' ' '))
  Postgres  127.0.0.1:15432  database app, user app, password in $secrets/postgres_app
  Redis     127.0.0.1:16379  user app (db 0 cache, 1 Celery broker, 2 results), password in $secrets/redis_app
            admin user admin, password in $secrets/redis_admin
  HTTPS     https://127.0.0.1:8443 (Caddy; HTTP on :8080), names under lab.hearth.test:
            s3. (MinIO S3, user app), minio. (console), api./llm/v1 (OpenAI API, model hearth-tiny)
            bearer key in $secrets/caddy_api_key; lab CA in .cache/lab-ca/
  MinIO     user app, secret in $secrets/minio_app; root hearth-root, $secrets/minio_root
  Metrics   https://metrics.lab.hearth.test:8443 (Prometheus), https://alerts.lab.hearth.test:8443
            (Alertmanager): user admin, password in $secrets/monitoring_web
  Shell     docker exec -it $(lab_hosts | head -n1) bash
  Secrets   $secrets/ (generated on first run, kept until 'make lab-down')
INFO
}

smoke() {
  log "smoke checks with real clients"
  local hosts=() name
  for name in $(lab_hosts); do hosts+=(--container "$name"); done
  PYTHONPATH="$ROOT/collections${PYTHONPATH:+:$PYTHONPATH}" python3 scripts/smoke.py --secrets "$INVENTORY/.secrets" "${hosts[@]}"
}

down() {
  local name
  for name in $(docker ps -aq --filter label=hearth.lab=1); do docker rm -f "$name" >/dev/null; done
  # Through a link to the lab's secrets (tests/apps/multihost), remove what it points to, not it.
  rm -rf "$(realpath -m "$INVENTORY/.secrets")" .cache/facts .cache/lab-ca
  log "lab removed (containers, generated secrets, exported lab CA)"
}

case "${1:-up}" in
  up) scripts/docker-up.sh; scripts/lab-image.sh; create_hosts; prepare_hosts; shift || true; converge "$@"; status; smoke ;;
  hosts) scripts/docker-up.sh; scripts/lab-image.sh; create_hosts; prepare_hosts ;;
  converge) shift; converge "$@" ;;
  status) status ;;
  smoke) smoke ;;
  down) down ;;
  *) echo "usage: $0 up|hosts|converge|status|smoke|down" >&2; exit 2 ;;
esac
